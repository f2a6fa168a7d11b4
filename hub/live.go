package hub

import (
	"context"
	"sync"
	"sync/atomic"
	"time"
)

// Streams that are not detached (HTTP/2 streams, which net/http never
// lets go, and HTTP/1.x streams with Config.NoDetach or that could not be
// detached) are each served by the goroutine of their request. That
// goroutine is net/http's to keep; what Herald keeps beside it is held to
// the least: no timer per stream, and no buffer while the stream is idle.
// One sweeper per hub sends the heartbeats, ends the streams whose
// subscription expires and cuts off the clients that stop reading, for
// every such stream, from the times their writes record. On HTTP/2, setting a write deadline is a message to the
// connection's goroutine and a timer of its own; the sweeper makes that
// unnecessary for each write, and, unlike a deadline left set after a
// write, it never resets a stream that is merely quiet.

// liveStreams is the set of streams served by their own goroutine.
type liveStreams struct {
	mu      sync.Mutex
	streams map[*stream]struct{}
	done    chan struct{} // closed when the sweeper stops
}

// watch adds st to the streams the sweeper looks after.
func (l *liveStreams) watch(st *stream) {
	l.mu.Lock()
	l.streams[st] = struct{}{}
	l.mu.Unlock()
}

// watch has the sweeper look after st, if it does not yet.
func (st *stream) watch() {
	if !st.watched {
		st.watched = true
		st.lastWrite.Store(time.Now().UnixNano())
		st.h.live.watch(st)
	}
}

// forget removes st once its writer has returned, and waits for the
// sweeper to be done with it.
func (l *liveStreams) forget(st *stream) {
	l.mu.Lock()
	delete(l.streams, st)
	l.mu.Unlock()
	st.cut.Lock()
	st.ended = true
	st.cut.Unlock()
}

func (l *liveStreams) snapshot(dst []*stream) []*stream {
	l.mu.Lock()
	for st := range l.streams {
		dst = append(dst, st)
	}
	l.mu.Unlock()
	return dst
}

// sweep ends the streams past their subscription's end, sends heartbeats
// to the idle ones and cuts off those whose write has lasted longer than
// the write timeout, until the hub closes
// (every stream then writes its farewell within hintWait).
func (h *Hub) sweep() {
	defer close(h.live.done)
	tick := time.Second
	if hb := h.cfg.Heartbeat; hb > 0 && hb/2 < tick {
		tick = max(hb/2, 5*time.Millisecond)
	}
	if wt := h.cfg.WriteTimeout; wt/4 < tick {
		tick = max(wt/4, 5*time.Millisecond)
	}
	t := time.NewTicker(tick)
	defer t.Stop()
	p := h.cfg.policy()
	var batch []*stream
	for {
		select {
		case <-h.closing:
			// Wake every stream: each then sees the hub closing.
			for _, st := range h.live.snapshot(batch[:0]) {
				st.wakeUp()
			}
			return
		case now := <-t.C:
			batch = h.live.snapshot(batch[:0])
			for _, st := range batch {
				if st.until != 0 && now.UnixNano() >= st.until {
					if !st.expired.Swap(true) {
						st.wakeUp()
					}
				} else if since := st.writing.Load(); since != 0 {
					if p.Stalled(time.Unix(0, since), now) {
						st.cutOff()
					}
				} else if !st.beat.Load() && p.HeartbeatDue(time.Unix(0, st.lastWrite.Load()), now) {
					st.beat.Store(true)
					st.wakeUp()
				}
			}
			clear(batch)
		}
	}
}

func (st *stream) wakeUp() {
	select {
	case st.s.wake <- struct{}{}:
	default:
	}
}

// cutOff ends a stream whose client took nothing for the write timeout:
// a deadline already past fails the write under way (on HTTP/2, it
// resets the stream). It does nothing once the stream's writer has
// returned, when the ResponseWriter may serve another request.
func (st *stream) cutOff() {
	st.cut.Lock()
	defer st.cut.Unlock()
	if st.ended || st.conn != nil {
		return
	}
	st.stalled.Store(true)
	_ = st.rc.SetWriteDeadline(time.Unix(0, 1))
}

// liveState is what a stream served by its own goroutine shares with the
// sweeper.
type liveState struct {
	watched   bool
	lastWrite atomic.Int64 // Unix nanoseconds of the last write's end
	writing   atomic.Int64 // Unix nanoseconds when the write under way began; 0 between writes
	beat      atomic.Bool  // a heartbeat is due
	until     int64        // Unix nanoseconds when the subscription expires; 0 for never
	expired   atomic.Bool  // the subscription expired: the stream ends
	stalled   atomic.Bool  // the sweeper cut the stream off
	cut       sync.Mutex   // held while cutting the stream off
	ended     bool         // the writer has returned; under cut
	pooled    *[]byte      // holds buf, taken from bufPool, while the stream writes
}

// bufPool holds the write buffers of streams served by their own
// goroutine, which take one only to write and give it back after, so an
// idle stream holds none.
var bufPool = sync.Pool{New: func() any { b := make([]byte, 0, 1024); return &b }}

// takeBuf gives the stream an empty write buffer, from the pool unless it
// holds one.
func (st *stream) takeBuf() {
	if st.buf == nil {
		st.pooled = bufPool.Get().(*[]byte)
		st.buf = *st.pooled
	}
	st.buf = st.buf[:0]
}

// releaseBuf gives the stream's write buffer back to the pool, unless it
// grew past maxIdleBuf for a burst: that one is left to the collector.
func (st *stream) releaseBuf() {
	if st.buf == nil {
		return
	}
	p := st.pooled
	if p == nil {
		p = new([]byte) // the buffer of the stream's replay or snapshots
	}
	if cap(st.buf) <= maxIdleBuf {
		*p = st.buf[:0]
		bufPool.Put(p)
	}
	st.buf, st.pooled = nil, nil
}

// live writes queued frames as they arrive, skipping those at or below
// floor, with a heartbeat when the sweeper finds the stream idle, until
// the stream must end. It holds no buffer between writes.
func (st *stream) live(ctx context.Context, floor uint64, gone <-chan struct{}) error {
	h, s := st.h, st.s
	var lastFrames time.Time // when frames were last written
	for {
		st.releaseBuf()
		// The hub's closing is not one of the select's cases: a channel
		// every stream waits on is one lock every stream takes at each
		// wake. The sweeper wakes each stream when the hub closes
		// instead, and the stream looks before it waits.
		if h.isClosing() {
			return st.farewell(floor)
		}
		select {
		case <-ctx.Done():
			return ErrClientGone
		case <-gone:
			return ErrClientGone
		case <-s.wake:
		}
		if st.expired.Load() {
			return ErrClientGone
		}
		st.takeBuf()
		if st.beat.Swap(false) && !s.pending() {
			st.buf = append(st.buf, ":\n"...)
		} else {
			// Within the batch window of the last write, wait out the
			// rest, so that the updates coming meanwhile share one
			// write. The wait is short: a client that leaves or a hub
			// that closes meanwhile is noticed after it.
			if wait := h.cfg.policy().BatchWait(lastFrames); wait > 0 {
				time.Sleep(wait)
			}
			lastFrames = time.Now()
			if st.appendQueued(floor) {
				return ErrSlowSubscriber
			}
		}
		if len(st.buf) > 0 {
			h.writes.Add(1)
			if err := st.flush(); err != nil {
				return err
			}
		}
	}
}

// farewell ends a stream as the hub closes: what is queued goes first,
// then the reconnection hint. Every stream writes at the same time, each
// for hintWait at most: a client that cannot take it then is simply
// disconnected.
func (st *stream) farewell(floor uint64) error {
	st.takeBuf()
	if st.appendQueued(floor) {
		return ErrSlowSubscriber
	}
	st.buf = st.h.cfg.appendFarewell(st.buf)
	_ = st.flush()
	return ErrClosed
}

func (h *Hub) isClosing() bool {
	select {
	case <-h.closing:
		return true
	default:
		return false
	}
}
