package hub

import (
	"errors"
	"fmt"

	"github.com/heraldhub/herald/hub/detach"
)

// detach hands st's connection, its replay written, to the hub's engine,
// which serves it from then on; on error the caller keeps serving it.
func (h *Hub) detach(st *stream, floor uint64, sub Subscription) error {
	s, onEnd := st.s, sub.OnEnd // all the stream keeps
	s.live = liveQueue{h: h, s: s, floor: floor}
	d, err := h.engine.Adopt(st.conn, &s.live, sub.Until, func(why error) {
		h.unregister(s)
		if onEnd != nil {
			onEnd(endReason(why))
		}
	})
	if err != nil {
		return err
	}
	// Drop everything net/http owned (the response, and through it the
	// connection's buffers): an idle detached stream keeps only its conn.
	st.buf, st.out, st.w, st.rc = nil, nil, nil, nil
	s.detach(d.Wake, d)
	d.Wake() // frames may have queued during the replay
	return nil
}

// liveQueue is a subscriber's queue as its detached stream takes it: the
// frames at or below floor were covered by the replay. The engine takes
// it with the stream's lock held, which guards spare.
type liveQueue struct {
	h     *Hub
	s     *subscriber
	floor uint64
	spare []*frame // the emptied slice of the last Take, queued in next
}

func (q *liveQueue) Take(bufs [][]byte) ([][]byte, bool) {
	frames, overflow := q.s.swap(q.spare)
	q.spare = nil
	for _, f := range frames {
		if f.seq > q.floor {
			bufs = append(bufs, f.b)
			q.h.taken(f)
		}
	}
	if frames != nil && q.s.keep(frames) {
		clear(frames)
		q.spare = frames[:0]
	}
	return bufs, overflow
}

func (q *liveQueue) Overflowed() bool { return q.s.overflowed() }

// endReason translates why the engine ended a stream into the hub's
// reasons.
func endReason(why error) error {
	switch {
	case errors.Is(why, detach.ErrSlow):
		return ErrSlowSubscriber
	case errors.Is(why, detach.ErrClosed):
		return ErrClosed
	case why == detach.ErrGone:
		return ErrClientGone
	default:
		return fmt.Errorf("%w: %v", ErrClientGone, why)
	}
}
