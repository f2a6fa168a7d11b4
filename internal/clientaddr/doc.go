// Package clientaddr tells which client a request comes from, for limits
// kept per client (concurrent subscriptions, publication rates).
//
// Without trusted proxies the client is the TCP peer. When the peer is a
// trusted proxy, the client is read from the X-Forwarded-For header, or from
// the Forwarded header (RFC 7239) when X-Forwarded-For is absent: walking
// the hops from the right, each hop that is itself a trusted proxy is
// skipped and the right-most untrusted hop is the client. Entries further
// left were written by the client itself and are never believed. A hop that
// cannot be read (obfuscated, "unknown", malformed) stops the walk at the
// last trusted proxy, whose address then stands for the client: a client
// can neither choose its address nor split its bucket by sending
// malformed headers.
//
// Bucket groups addresses the way a limit should count them: an IPv4
// address alone, an IPv6 address with the rest of its /64, since one
// subscriber line usually holds a whole /64.
//
// The package imports nothing from Herald, so any layer may use it.
package clientaddr
