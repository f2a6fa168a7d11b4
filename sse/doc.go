// Package sse reads and writes the text/event-stream format exactly as the
// WHATWG HTML standard ("Server-sent events") defines it.
//
// It depends on the standard library only, so it can be used on its own:
// the encoder appends spec-exact frames to a byte slice (so a server can
// encode an event once and send the same bytes to every client), and the
// decoder implements the standard's parsing algorithm, byte for byte, the
// way browsers do.
package sse
