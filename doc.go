// Package herald is the root of the Herald module: a hub and library for
// Server-Sent Events that speaks the Mercure protocol, never loses a
// message, and reports job progress first-class.
//
// The importable packages, in the direction data flows:
//
//   - sse: the text/event-stream wire format (encoder and decoder).
//   - client: a reconnecting SSE client for any URL.
//   - eventlog: the ordered, retained log every node appends to and
//     follows, with memory, bolt, Redis and NATS implementations.
//   - hub: topics, selectors, subscribers and fan-out from the log's tail.
//   - auth: JWT verification and minting.
//   - mercure: the Mercure protocol over HTTP.
//   - jobs and web: job progress with ETA, the browser helper and demo.
//   - server: a complete node assembled from a configuration.
//
// This package itself holds only tests that keep that layering honest.
package herald
