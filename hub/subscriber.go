package hub

import (
	"sync"

	"github.com/heraldhub/herald/hub/detach"
)

// subscriber is one connected client: its selectors, what it may read, and
// its bounded queue of frames. The tail goroutine fills the queue; the
// goroutine serving the client's request drains it.
type subscriber struct {
	topics  Selectors
	allowed Selectors

	// mark is the last update this subscriber was visited for; only the
	// tail goroutine touches it.
	mark uint64

	// live is the queue as the detached stream takes it: kept beside
	// the queue's lock and slice, which each of its takes reads.
	live liveQueue

	mu       sync.Mutex
	queue    []*frame
	spare    []*frame
	bytes    int
	overflow bool
	maxLen   int
	maxBytes int

	wake   chan struct{}  // capacity 1: "the queue is not empty"
	onWake func()         // replaces wake once the stream is detached
	det    *detach.Stream // the detached stream, which a flusher writes
}

func newSubscriber(topics, allowed Selectors, maxLen, maxBytes int) *subscriber {
	return &subscriber{
		topics:   topics,
		allowed:  allowed,
		maxLen:   maxLen,
		maxBytes: maxBytes,
		wake:     make(chan struct{}, 1),
	}
}

// push adds f to the queue without ever blocking. A subscriber that has
// too much waiting is marked as overflowed; its writer then ends the
// stream. For a detached subscriber it returns the stream, for the caller
// to mark for a flusher; otherwise it signals the writer itself.
func (s *subscriber) push(f *frame) *detach.Stream {
	s.mu.Lock()
	if s.overflow {
		s.mu.Unlock()
		return nil
	}
	if len(s.queue) >= s.maxLen || s.bytes+len(f.b) > s.maxBytes {
		s.mu.Unlock()
		s.kick()
		return nil
	}
	s.queue = append(s.queue, f)
	s.bytes += len(f.b)
	d := s.det
	s.mu.Unlock()
	if d == nil {
		s.signal()
	}
	return d
}

// signal tells the subscriber's writer that there is something to do.
func (s *subscriber) signal() {
	s.mu.Lock()
	onWake := s.onWake
	s.mu.Unlock()
	if onWake != nil {
		onWake()
		return
	}
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// detach makes fn, instead of the wake channel, the writer's signal, and
// d the stream the fan-out marks for a flusher.
func (s *subscriber) detach(fn func(), d *detach.Stream) {
	s.mu.Lock()
	s.onWake, s.det = fn, d
	s.mu.Unlock()
}

// take returns everything queued and whether the queue overflowed. The
// caller hands the slice back with release once written.
func (s *subscriber) take() (frames []*frame, overflow bool) {
	s.mu.Lock()
	frames, overflow = s.queue, s.overflow
	s.queue, s.spare = s.spare, nil
	s.bytes = 0
	s.mu.Unlock()
	return frames, overflow
}

// swap returns everything queued and whether the queue overflowed, and
// queues from now on in spare, an empty slice (nil for none): one lock
// where take and release take two. A detached stream, which is written
// by one goroutine at a time, keeps its own spare.
func (s *subscriber) swap(spare []*frame) (frames []*frame, overflow bool) {
	s.mu.Lock()
	frames, overflow = s.queue, s.overflow
	s.queue = spare
	s.bytes = 0
	s.mu.Unlock()
	return frames, overflow
}

// keep reports whether frames, once emptied, is worth keeping as a spare.
func (s *subscriber) keep(frames []*frame) bool { return cap(frames) <= 2*s.maxLen }

// pending reports whether frames are queued, or the queue overflowed:
// there is more to do than a heartbeat.
func (s *subscriber) pending() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.queue) > 0 || s.overflow
}

// overflowed reports whether the queue overflowed (or the stream was
// kicked): the stream must end.
func (s *subscriber) overflowed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.overflow
}

// release gives back a slice returned by take for reuse.
func (s *subscriber) release(frames []*frame) {
	clear(frames)
	s.mu.Lock()
	if s.spare == nil && s.keep(frames) {
		s.spare = frames[:0]
	}
	s.mu.Unlock()
}

// kick ends the subscriber's stream as if it had overflowed: its client
// reconnects and resumes from the log.
func (s *subscriber) kick() {
	s.mu.Lock()
	s.overflow = true
	s.queue, s.bytes = nil, 0
	s.mu.Unlock()
	s.signal()
}
