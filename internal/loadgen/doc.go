// Package loadgen measures an SSE server under load: it opens many
// subscribers (spread over several loopback source addresses), publishes
// numbered, timestamped updates at a steady rate (or from concurrent
// publishers as fast as they are acknowledged), parses every stream, and
// reports deliveries per second, publish-to-receive
// latency percentiles, lost and duplicated updates, and, given the server's
// PID, its peak memory and CPU time, beside its own CPU time. `herald bench`
// is its command line.
//
// Streams are read, by default, the way a hub writes them: a few goroutines
// each own an epoll set of raw sockets, read the sockets each wait found
// readable with one io_uring submission (the uring reader; the epoll reader
// makes a read(2) each, and stands in where io_uring is unavailable) and
// parse the HTTP/1.1 response and its frames in place (chunked or not),
// keeping nothing per connection but the parser's state and a partial
// line. The goroutines reader (one per
// connection, with the sse decoder) and the http reader (net/http's
// client, for TLS and HTTP/2 streams sharing connections) are the others.
//
// It works with any SSE server: publication is a configurable HTTP request.
//
// RunSoak is the long-running counterpart for Herald nodes sharing a log:
// subscribers that drop and resume with Last-Event-ID at random, on the
// same node or another, a publisher that fails over between nodes, a check
// that each subscriber receives every update from its first one exactly
// once and in order, and the nodes' subscribers, open files and memory
// sampled over time. `herald bench --soak` and scripts/soak.sh run it.
package loadgen
