// Package outboundtest is a callback receiver for tests of Herald's
// outbound deliveries: a loopback HTTP server that verifies each request's
// signature and keeps the bodies it acknowledged, in order.
package outboundtest
