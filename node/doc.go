// Package server assembles a complete Herald node from its configuration:
// the event log, the hub, the Mercure protocol handler, the jobs API, the
// demo pages, health checks and metrics, behind one http.Handler, and
// serves it: Serve and Shutdown run its HTTP server (timeouts, TLS, and the
// shutdown order that ends streams before waiting for requests).
//
// `herald serve` is a thin command-line wrapper around it; Go programs and
// tests can run the same node in-process.
package node
