// Package loadgen measures an SSE server under load: it opens many
// subscribers (spread over several loopback source addresses), publishes
// numbered, timestamped updates at a steady rate, parses every stream with
// the sse decoder, and reports deliveries per second, publish-to-receive
// latency percentiles, lost and duplicated updates, and, given the server's
// PID, its peak memory and CPU time. `herald bench` is its command line.
//
// It works with any SSE server: publication is a configurable HTTP request.
package loadgen
