// Package webhook signs and verifies the requests Herald sends to callback
// URLs (push subscriptions and job completion webhooks), for receivers
// written in Go.
//
// Each request carries the header
//
//	Herald-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256>
//
// where the HMAC is computed with the shared secret over the timestamp, a
// dot and the raw body: "<t>.<body>". A receiver recomputes it, compares
// in constant time, and refuses a timestamp too far from its clock, which
// stops a captured request from being replayed later. Retries of one
// delivery are signed again, each with its own timestamp.
package webhook
