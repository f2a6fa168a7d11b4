package hub

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/heraldhub/herald/eventlog"
	"github.com/heraldhub/herald/hub/detach"
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
	// replays every retained update, preceded by a ResetType event, and the
	// response's Last-Event-ID header then says "earliest", so the client
	// can tell.
	LastEventID string
	// CursorHeader names the response header that tells where a resumed
	// stream starts (see LastEventID): "" means "Last-Event-ID" (Mercure
	// 0.x); Mercure 1.0 uses "Mercure-Last-Event-ID".
	CursorHeader string
	// Until, if set, ends the stream at that time (when the subscriber's
	// token expires), or within the second after: a sweep of every
	// stream, not a timer per stream, ends them.
	Until time.Time
	// OnEnd, if set, is called once with the reason when the stream ends.
	OnEnd func(error)
}

// Reasons a stream ends, returned by Stream.
var (
	// ErrSlowSubscriber: the subscriber's queue overflowed; it should
	// reconnect with its last event id and catch up from the log.
	ErrSlowSubscriber = errors.New("subscriber too slow: its queue overflowed")
	// ErrClientGone: the client closed the connection or stopped reading.
	ErrClientGone = errors.New("client gone")
	// ErrExpired, which wraps ErrClientGone, is the reason Config.OnStreamEnd
	// is given for a stream that reached Subscription.Until (its token
	// expired); Stream and Subscription.OnEnd see ErrClientGone.
	ErrExpired = fmt.Errorf("%w: the subscription expired with its token", ErrClientGone)
)

// hintWait bounds how long a stream served by its own goroutine waits to
// write its reconnection hint when the hub closes; the streams write their
// hints in parallel, so closing the hub takes about this long at most.
const hintWait = 100 * time.Millisecond

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
// by the replay are skipped.
//
// Over HTTP/1.1, on a plain TCP connection or under TLS over a listener
// wrapped by detach.TLSListener, unless Config.NoDetach, Stream takes the
// connection over from net/http once the replay is written and returns nil
// at once: the hub's own writers then serve the stream, with no goroutine
// or buffer held per idle subscriber. Otherwise Stream returns only when the stream
// ends, with the reason. Either way sub.OnEnd, if set, is called once with
// the reason when the stream ends. Stream returns ErrClosed, having written
// nothing, if the hub is closing.
func (h *Hub) Stream(w http.ResponseWriter, r *http.Request, sub Subscription) (err error) {
	select {
	case <-h.closing:
		if sub.OnEnd != nil {
			sub.OnEnd(ErrClosed)
		}
		return ErrClosed
	default:
	}
	if len(sub.Topics) == 0 {
		if sub.OnEnd != nil {
			sub.OnEnd(ErrNoTopic)
		}
		return ErrNoTopic
	}
	if h.cfg.OnStreamEnd != nil {
		sub.OnEnd = h.reportEnd(sub.OnEnd, sub.Until)
	}
	ctx := r.Context()
	s := newSubscriber(sub.Topics, sub.Allowed, h.cfg.QueueLen, h.cfg.QueueBytes)
	h.register(s)
	detached := false
	var st *stream
	defer func() {
		if !detached {
			if st != nil && st.conn != nil {
				st.conn.Close()
			}
			if st != nil && st.watched {
				h.live.forget(st)
			}
			h.unregister(s)
			if sub.OnEnd != nil {
				sub.OnEnd(err)
			}
		}
	}()

	st = &stream{h: h, s: s, w: w, rc: http.NewResponseController(w), cursor: sub.CursorHeader}
	if st.cursor == "" {
		st.cursor = "Last-Event-ID"
	}
	if !sub.Until.IsZero() {
		st.until = sub.Until.UnixNano() // the sweeper ends the stream then
	}
	hdr := w.Header()
	hdr.Set("Content-Type", "text/event-stream")
	hdr.Set("Cache-Control", "private, no-cache, no-store")
	hdr.Set("X-Accel-Buffering", "no")
	// RFC 10036: a proxy that knows the header forwards each chunk as it
	// comes, without configuration.
	hdr.Set("Incremental", "?1")
	if h.engine != nil && r.ProtoMajor == 1 && r.ProtoMinor == 1 {
		st.hijack()
	}

	var floor uint64
	if sub.LastEventID == "" {
		st.buf = h.appendSnapshots(st.buf[:0], s)
	} else if floor, err = st.replay(ctx, sub.LastEventID); err != nil {
		if !st.headed {
			st.refuse(err)
		}
		return err
	}
	if err := st.flush(); err != nil {
		return err
	}
	if st.conn != nil {
		if err := h.detach(st, floor, sub); err == nil {
			detached = true
			return nil
		}
		return st.liveConn(ctx, floor)
	}
	return st.live(ctx, floor, nil)
}

// reportEnd returns onEnd preceded by a report to Config.OnStreamEnd, which
// is told ErrExpired for a stream that ended as gone past until.
func (h *Hub) reportEnd(onEnd func(error), until time.Time) func(error) {
	return func(err error) {
		reason := err
		if errors.Is(err, ErrClientGone) && !until.IsZero() && !time.Now().Before(until) {
			reason = ErrExpired
		}
		h.cfg.OnStreamEnd(reason)
		if onEnd != nil {
			onEnd(err)
		}
	}
}

// liveConn serves a hijacked connection that could not be detached from a
// goroutine of its own, noticing the client's departure with a reader.
func (st *stream) liveConn(ctx context.Context, floor uint64) error {
	st.watch()
	gone := make(chan struct{})
	go func() {
		defer close(gone)
		io.Copy(io.Discard, st.conn)
	}()
	err := st.live(ctx, floor, gone)
	st.conn.SetWriteDeadline(time.Now().Add(hintWait))
	st.conn.Write([]byte(detach.LastChunk))
	st.conn.Close()
	<-gone
	return err
}

func (h *Hub) register(s *subscriber) {
	h.mu.Lock()
	h.index.add(s)
	h.mu.Unlock()
	h.subscribers.Add(1)
}

func (h *Hub) unregister(s *subscriber) {
	h.mu.Lock()
	h.index.remove(s)
	h.mu.Unlock()
	h.subscribers.Add(-1)
}

// stream is the writing side of one subscriber's connection: the
// ResponseWriter, or (once hijacked) the raw HTTP/1.1 connection, on which
// it writes the chunked encoding itself.
type stream struct {
	h      *Hub
	s      *subscriber
	w      http.ResponseWriter
	rc     *http.ResponseController
	cursor string // the header naming where a resumed stream starts
	conn   net.Conn
	buf    []byte
	out    []byte // chunk-framed bytes for conn
	headed bool
	liveState
}

// hijack takes the connection over from net/http, if it allows it.
func (st *stream) hijack() {
	conn, brw, err := st.rc.Hijack()
	if err != nil {
		return
	}
	if brw.Reader.Buffered() > 0 {
		// The client pipelined another request: it will not be served,
		// and the connection closes when the stream ends.
		st.h.cfg.Logger.Debug("pipelined request after a subscription ignored")
	}
	st.conn = conn
}

func (st *stream) writeHeader() {
	if st.headed {
		return
	}
	st.headed = true
	if st.conn == nil {
		st.w.WriteHeader(http.StatusOK)
		return
	}
	st.out = append(st.out[:0], "HTTP/1.1 200 OK\r\nDate: "...)
	st.out = time.Now().UTC().AppendFormat(st.out, http.TimeFormat)
	st.out = append(st.out, "\r\n"...)
	hb := bytes.NewBuffer(st.out)
	st.w.Header().Write(hb)
	st.out = append(hb.Bytes(), "Transfer-Encoding: chunked\r\n\r\n"...)
}

// flush writes buf (if any) and flushes the connection, within the write
// timeout, or within hintWait once the hub is closing. A hijacked
// connection has its write deadline; on a ResponseWriter, the sweeper
// (see liveStreams) enforces the timeout, so a write there costs no
// deadline of its own until the hub closes.
func (st *stream) flush() error {
	if st.conn == nil {
		st.watch()
	}
	st.writeHeader()
	now := time.Now()
	closing := false
	select {
	case <-st.h.closing:
		closing = true
	default:
	}
	defer func() { st.lastWrite.Store(time.Now().UnixNano()) }()
	if st.conn != nil {
		deadline := st.h.cfg.policy().WriteDeadline(now)
		if closing {
			deadline = now.Add(hintWait)
		}
		st.out = detach.AppendChunk(st.out, st.buf)
		st.buf = st.buf[:0]
		st.conn.SetWriteDeadline(deadline)
		_, err := st.conn.Write(st.out)
		st.out = st.out[:0]
		return writeError(err)
	}
	if closing {
		_ = st.rc.SetWriteDeadline(now.Add(hintWait))
	}
	st.writing.Store(now.UnixNano())
	err := st.writeBuf()
	st.writing.Store(0)
	if err != nil && st.stalled.Load() {
		err = os.ErrDeadlineExceeded // the sweeper cut the client off
	}
	return writeError(err)
}

// writeBuf writes buf (if any) to the ResponseWriter and flushes it.
func (st *stream) writeBuf() error {
	if len(st.buf) > 0 {
		if _, err := st.w.Write(st.buf); err != nil {
			return err
		}
		st.buf = st.buf[:0]
	}
	return st.rc.Flush()
}

// writeError classifies a failed write: a missed write deadline means the
// client is too slow, anything else that it is gone.
func writeError(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, os.ErrDeadlineExceeded):
		return fmt.Errorf("%w: it missed the write deadline", ErrSlowSubscriber)
	default:
		return fmt.Errorf("%w: %v", ErrClientGone, err)
	}
}

// refuse undoes the stream's headers after a failure before anything was
// written, so the caller can answer with an error; on a hijacked
// connection, where the caller no longer can, it answers 503 itself.
func (st *stream) refuse(err error) {
	if st.conn == nil {
		for _, k := range []string{"Content-Type", "Cache-Control", "X-Accel-Buffering", "Incremental", st.cursor} {
			st.w.Header().Del(k)
		}
		return
	}
	msg := strings.ReplaceAll(err.Error(), "\n", " ")
	st.conn.SetWriteDeadline(time.Now().Add(time.Second))
	fmt.Fprintf(st.conn, "HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain; charset=utf-8\r\nRetry-After: 1\r\nConnection: close\r\nContent-Length: %d\r\n\r\n%s\n", len(msg)+1, msg)
}

// mayReceive reports whether s is sent u: it selects one of u's topics,
// and, if u is private, may read one of them.
func (s *subscriber) mayReceive(u *eventlog.Update) bool {
	return s.topics.MatchAny(u.Topics) && (!u.Private || s.allowed.MatchAny(u.Topics))
}

// replay writes the retained updates after id that the subscriber may
// read, and returns the Seq of the last update it considered, or of id's
// update if none followed it: live frames at or below it were already
// covered.
//
// An id the subscriber could not have received (an update of a topic it
// does not select, or private to others) is answered exactly as an id the
// log does not hold: the Last-Event-ID header says "earliest" and every
// retained update it may read is sent. So the answer never tells whether
// such an id exists. A reused id is judged by its first occurrence, the
// one the log resumes after.
//
// The replay reads the log in batches, each resuming after the last id of
// the one before. That id may be reused: it then resolves to an earlier
// occurrence, whose followers up to floor are skipped, or, if retention
// has dropped every occurrence up to the last one sent, to a later one,
// which would skip updates: that batch is forgotten and the replay goes
// on from Earliest, as for a dropped id.
func (st *stream) replay(ctx context.Context, id string) (floor uint64, err error) {
	h, s := st.h, st.s
	cursor, first := id, true
	mark := len(st.buf)
	for {
		var scanned, size int
		var lastID string
		batchMark, batchFloor := len(st.buf), floor
		from, err := h.log.Since(ctx, cursor, func(u eventlog.Update) bool {
			if u.Seq <= floor && floor > 0 {
				return true // seen before a restart from Earliest
			}
			scanned++
			lastID, floor = u.ID, u.Seq
			if s.mayReceive(&u) {
				if b, err := encodeUpdate(st.buf, u, true); err == nil {
					size += len(b) - len(st.buf)
					st.buf = b
				}
			}
			return scanned < replayBatch && size < replayBatchBytes
		})
		if err == nil && first && cursor != eventlog.Earliest && !s.mayReceive(&from) {
			// Nothing of this batch was written yet: forget it.
			st.buf, floor = st.buf[:mark], 0
			err = fmt.Errorf("%w: %q is not an id this subscriber could have received", eventlog.ErrUnknownID, id)
		}
		if err == nil && !first && cursor != eventlog.Earliest && from.Seq > batchFloor {
			st.buf, floor = st.buf[:batchMark], batchFloor
			err = fmt.Errorf("%w: reused id %q now resolves past what was sent", eventlog.ErrUnknownID, cursor)
		}
		if errors.Is(err, eventlog.ErrUnknownID) && cursor != eventlog.Earliest {
			// The id was never here, retention dropped it (possibly
			// during this replay), or it must look so: send everything
			// retained we have not sent, and say so in the header and
			// with a ResetType event before it if nothing was written yet.
			if first {
				st.w.Header().Set(st.cursor, eventlog.Earliest)
				st.buf = slices.Insert(st.buf, mark, appendReset(nil, id)...)
				first = false
				h.replayed(false)
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
		// The resume point itself bounds live delivery, also when nothing
		// followed it: this node's tail may not have read it yet.
		floor = max(floor, from.Seq)
		if first {
			st.w.Header().Set(st.cursor, id)
			first = false
			h.replayed(true)
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

// replayed reports a replay's start to Config.OnReplay.
func (h *Hub) replayed(known bool) {
	if h.cfg.OnReplay != nil {
		h.cfg.OnReplay(known)
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

// appendQueued appends to st.buf the frames queued for the stream above
// floor, and reports whether its queue overflowed (nothing is appended
// then).
func (st *stream) appendQueued(floor uint64) (overflow bool) {
	frames, overflow := st.s.take()
	if overflow {
		return true
	}
	for _, f := range frames {
		if f.seq > floor {
			st.buf = append(st.buf, f.b...)
			st.h.taken(f)
		}
	}
	st.s.release(frames)
	return false
}
