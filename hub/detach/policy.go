package detach

import (
	"errors"
	"strconv"
	"time"
)

// Policy is how streams are paced and when a client is too slow, the same
// for every serving mode.
type Policy struct {
	// BatchWindow is the longest an update may wait to share a write with
	// the updates after it: a stream is written at most once per window
	// while updates keep coming, at once after a quiet spell. Zero or
	// negative writes every update at once.
	BatchWindow time.Duration
	// Heartbeat is how long a stream may stay silent before it is sent a
	// comment; zero or negative sends none.
	Heartbeat time.Duration
	// WriteTimeout is how long a client may take none of the bytes
	// pending for it before it is disconnected as too slow.
	WriteTimeout time.Duration
}

// BatchWait returns how long a stream whose frames were last written at
// last waits before writing the next ones: the rest of the batch window.
func (p Policy) BatchWait(last time.Time) time.Duration {
	return max(p.BatchWindow-time.Since(last), 0)
}

// HeartbeatDue reports whether a stream last written at last must be sent
// a heartbeat at now.
func (p Policy) HeartbeatDue(last, now time.Time) bool {
	return p.Heartbeat > 0 && now.Sub(last) >= p.Heartbeat
}

// WriteDeadline returns the deadline of a write that starts at now.
func (p Policy) WriteDeadline(now time.Time) time.Time { return now.Add(p.WriteTimeout) }

// Stalled reports whether a client that has bytes pending and took none
// since last is too slow at now. Slow is not stalled: a client that keeps
// taking bytes stays, however long its backlog lasts (its queue's limits
// bound that).
func (p Policy) Stalled(last, now time.Time) bool { return now.Sub(last) > p.WriteTimeout }

// Reasons a detached stream ends, passed (possibly wrapped) to the
// function given to Adopt.
var (
	// ErrSlow: the stream's queue overflowed, or its client took none of
	// its pending bytes for the write timeout.
	ErrSlow = errors.New("stream too slow")
	// ErrGone: the client closed the connection, its write failed, or the
	// stream reached its end time.
	ErrGone = errors.New("client gone")
	// ErrClosed: the engine closed.
	ErrClosed = errors.New("engine closed")
)

// LastChunk ends a chunked HTTP/1.1 body.
const LastChunk = "0\r\n\r\n"

// AppendChunk appends p to dst in HTTP/1.1 chunked encoding; an empty p
// appends nothing (an empty chunk would end the body).
func AppendChunk(dst, p []byte) []byte {
	if len(p) == 0 {
		return dst
	}
	dst = strconv.AppendInt(dst, int64(len(p)), 16)
	dst = append(dst, "\r\n"...)
	dst = append(dst, p...)
	return append(dst, "\r\n"...)
}
