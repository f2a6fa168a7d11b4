package sse

import "time"

// Event is one server-sent event.
//
// When encoding, an empty ID writes no id field (so the client's last event
// id is left unchanged), an empty Type writes no event field (the client
// then uses "message"), and a zero Retry writes no retry field. Data is
// always written, so an event with empty Data still dispatches.
//
// When decoding, ID holds the stream's last event id at dispatch time (as
// EventSource's lastEventId does), Type is "message" unless the stream named
// another, and Retry is the reconnection time the stream set, if any, since
// the previous dispatched event (Decoder.HasRetry tells a stream that set
// 0 from one that set nothing). Comment is never set by the decoder.
type Event struct {
	ID    string
	Type  string
	Data  string
	Retry time.Duration
	// Comment, when encoding, is written as comment lines before the
	// fields. Clients ignore it; it is useful for heartbeats and debugging.
	Comment string
}
