package hub

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/heraldhub/herald/eventlog"
	"github.com/heraldhub/herald/sse"
)

// Subscription is what one subscriber asked for and what it may read.
type Subscription struct {
	// Topics select the updates the subscriber receives. Required.
	Topics Selectors
	// Allowed select the topics whose private updates the subscriber may
	// receive (from its token); nil allows public updates only.
	Allowed Selectors
	// LastEventID resumes the stream after that update: "" starts with live
	// updates only, eventlog.Earliest replays every retained update first.
	// An id the log does not hold (never seen, or dropped by retention) also
	// replays every retained update, and the response's Last-Event-ID
	// header then says "earliest", so the client can tell.
	LastEventID string
}

// Reasons a stream ends, returned by Stream.
var (
	// ErrSlowSubscriber: the subscriber's queue overflowed; it should
	// reconnect with its last event id and catch up from the log.
	ErrSlowSubscriber = errors.New("subscriber too slow: its queue overflowed")
	// ErrClientGone: the client closed the connection or stopped reading.
	ErrClientGone = errors.New("client gone")
)

// replayBatch bounds how many updates (and bytes) a replay reads from the
// log before writing them out, so no log lock is held across network I/O.
const (
	maxIdleBuf       = 16 << 10
	replayBatch      = 256
	replayBatchBytes = 256 << 10
)

// Stream serves sub over w as text/event-stream: it writes the response
// headers, the snapshots for a new subscriber, the replay requested by
// sub.LastEventID, and then live updates, until the client leaves, the hub
// closes or the subscriber falls too far behind. The switch from replay to
// live has no gap and no duplicate: the subscriber is registered for live
// updates before the replay reads the log, and live frames already covered
// by the replay are skipped. Stream returns why it ended; ErrClosed before
// anything was written if the hub is closing.
func (h *Hub) Stream(w http.ResponseWriter, r *http.Request, sub Subscription) error {
	select {
	case <-h.closing:
		return ErrClosed
	default:
	}
	if len(sub.Topics) == 0 {
		return ErrNoTopic
	}
	ctx := r.Context()
	s := newSubscriber(sub.Topics, sub.Allowed, h.cfg.QueueLen, h.cfg.QueueBytes)
	h.mu.Lock()
	h.index.add(s)
	h.mu.Unlock()
	h.subscribers.Add(1)
	defer func() {
		h.mu.Lock()
		h.index.remove(s)
		h.mu.Unlock()
		h.subscribers.Add(-1)
	}()

	st := &stream{h: h, s: s, w: w, rc: http.NewResponseController(w)}
	hdr := w.Header()
	hdr.Set("Content-Type", "text/event-stream")
	hdr.Set("Cache-Control", "private, no-cache, no-store")
	hdr.Set("X-Accel-Buffering", "no")

	var floor uint64
	if sub.LastEventID == "" {
		st.writeHeader()
		st.buf = h.appendSnapshots(st.buf[:0], s)
	} else {
		var err error
		if floor, err = st.replay(ctx, sub.LastEventID); err != nil {
			return err
		}
	}
	if err := st.flush(); err != nil {
		return err
	}
	return st.live(ctx, floor)
}

// stream is the writing side of one subscriber's connection.
type stream struct {
	h      *Hub
	s      *subscriber
	w      http.ResponseWriter
	rc     *http.ResponseController
	buf    []byte
	headed bool
}

func (st *stream) writeHeader() {
	if !st.headed {
		st.w.WriteHeader(http.StatusOK)
		st.headed = true
	}
}

// flush writes buf (if any) and flushes the connection, within the write
// timeout.
func (st *stream) flush() error {
	st.writeHeader()
	_ = st.rc.SetWriteDeadline(time.Now().Add(st.h.cfg.WriteTimeout))
	if len(st.buf) > 0 {
		if _, err := st.w.Write(st.buf); err != nil {
			return fmt.Errorf("%w: %v", ErrClientGone, err)
		}
		st.buf = st.buf[:0]
	}
	if err := st.rc.Flush(); err != nil {
		return fmt.Errorf("%w: %v", ErrClientGone, err)
	}
	return nil
}

// replay writes the retained updates after id that the subscriber may
// read, and returns the Seq of the last update it considered: live frames
// at or below it were already covered.
func (st *stream) replay(ctx context.Context, id string) (floor uint64, err error) {
	h, s := st.h, st.s
	cursor, first := id, true
	for {
		var scanned, size int
		var lastID string
		err := h.log.Since(ctx, cursor, func(u eventlog.Update) bool {
			if u.Seq <= floor && floor > 0 {
				return true // seen before a restart from Earliest
			}
			scanned++
			lastID, floor = u.ID, u.Seq
			if s.topics.MatchAny(u.Topics) && (!u.Private || s.allowed.MatchAny(u.Topics)) {
				if b, err := encodeUpdate(st.buf, u, true); err == nil {
					size += len(b) - len(st.buf)
					st.buf = b
				}
			}
			return scanned < replayBatch && size < replayBatchBytes
		})
		if errors.Is(err, eventlog.ErrUnknownID) && cursor != eventlog.Earliest {
			// The id was never here or retention dropped it (possibly
			// during this replay): send everything retained we have not
			// sent, and say so in the header if nothing was written yet.
			if first {
				st.w.Header().Set("Last-Event-ID", eventlog.Earliest)
				first = false
			}
			cursor = eventlog.Earliest
			continue
		}
		if err != nil {
			if !st.headed {
				return 0, fmt.Errorf("replay after %q: %w", id, err)
			}
			return 0, fmt.Errorf("%w: replay interrupted: %v", ErrClientGone, err)
		}
		if first {
			st.w.Header().Set("Last-Event-ID", id)
			first = false
		}
		if scanned < replayBatch && size < replayBatchBytes {
			return floor, nil
		}
		if err := st.flush(); err != nil {
			return 0, err
		}
		cursor = lastID
	}
}

// appendSnapshots appends the configured snapshots the subscriber may read.
func (h *Hub) appendSnapshots(dst []byte, s *subscriber) []byte {
	if h.cfg.Snapshots == nil {
		return dst
	}
	for _, u := range h.cfg.Snapshots(s.topics.Match) {
		if u.Private && !s.allowed.MatchAny(u.Topics) {
			continue
		}
		if b, err := encodeUpdate(dst, u, false); err == nil {
			dst = b
		}
	}
	return dst
}

// live writes queued frames as they arrive, skipping those at or below
// floor, with a heartbeat when idle, until the stream must end.
func (st *stream) live(ctx context.Context, floor uint64) error {
	h, s := st.h, st.s
	var heartbeat <-chan time.Time
	var timer *time.Timer
	if h.cfg.Heartbeat > 0 {
		timer = time.NewTimer(h.cfg.Heartbeat)
		defer timer.Stop()
		heartbeat = timer.C
	}
	for {
		select {
		case <-ctx.Done():
			return ErrClientGone
		case <-h.closing:
			st.buf = sse.AppendRetry(st.buf[:0], h.cfg.ShutdownRetry)
			st.buf = append(st.buf, '\n')
			_ = st.flush()
			return ErrClosed
		case <-heartbeat:
			st.buf = append(st.buf[:0], ":\n"...)
		case <-s.wake:
			frames, overflow := s.take()
			if overflow {
				return ErrSlowSubscriber
			}
			st.buf = st.buf[:0]
			for _, f := range frames {
				if f.seq > floor {
					st.buf = append(st.buf, f.b...)
				}
			}
			s.release(frames)
		}
		if len(st.buf) > 0 {
			if err := st.flush(); err != nil {
				return err
			}
			if cap(st.buf) > maxIdleBuf {
				st.buf = nil // an idle subscriber keeps no burst-sized buffer
			}
		}
		if timer != nil {
			timer.Reset(h.cfg.Heartbeat)
		}
	}
}
