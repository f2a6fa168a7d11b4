// Package tcpproxy is a loopback TCP proxy for tests that need to cut a
// connection to a real service (Redis, NATS) and restore it, without
// touching the service other tests use, and a small round-robin balancer
// in front of several servers.
package tcpproxy
