// Package outbound delivers Herald's outbound HTTP requests: a JSON body
// POSTed to a callback URL, signed (package webhook), retried with
// exponential backoff and jitter until the receiver answers 2xx or a
// deadline passes, to hosts an allowlist names only. Push subscriptions
// and job completion webhooks both deliver through it.
//
// Each attempt has a timeout and reads at most a few KiB of the answer.
// Addresses that are loopback, private, link-local or unspecified are
// refused, when the URL names them and again when a host name resolves to
// them, unless the allowlist names that address exactly (tests allowlist
// 127.0.0.1).
package outbound
