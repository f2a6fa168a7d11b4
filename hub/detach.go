package hub

import (
	"errors"
	"fmt"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/heraldhub/herald/sse"
)

// A detached stream is served without a goroutine of its own: its
// connection was hijacked from net/http, a poller notices when the client
// leaves and when a full socket has room again, flushers write the streams
// the fan-out marked (non-blocking writes, in rounds), a small pool of
// writers writes the streams whose sockets have room again (and
// heartbeats), and one sweeper sends heartbeats and enforces deadlines.
// No write ever waits for a client: what a socket does not take stays
// pending until the poller reports room, and meanwhile the stream's updates
// wait in its own queue, whose limits disconnect it if it falls too far
// behind. An idle detached subscriber costs its connection and a few
// hundred bytes, instead of a goroutine stack and net/http's buffers.

// maxKeptOut is the most buffers a detached stream keeps room for between
// writes; a burst's longer list is dropped once written.
const maxKeptOut = 64

// crlf ends a chunk; heartbeatChunk is a chunk holding one SSE comment.
var (
	crlf           = []byte("\r\n")
	heartbeatChunk = []byte("2\r\n:\n\r\n")
)

// errPollUnsupported reports a connection the poller cannot watch.
var errPollUnsupported = errors.New("connection cannot be polled")

// poller tells the detacher when a detached client has gone, and when the
// socket of one whose last write was refused has room again.
type poller interface {
	add(d *detached) error
	remove(d *detached)
	close()
}

// detached is one detached stream.
type detached struct {
	st    *stream
	floor uint64
	until time.Time
	onEnd func(error)
	token uint64

	scheduled atomic.Bool
	dirty     atomic.Bool // marked for a flusher
	ended     atomic.Bool
	heartbeat atomic.Bool

	// full is set from before a write that may find the socket full until
	// the poller reports room: meanwhile updates wait in the queue.
	full atomic.Bool

	raw syscall.RawConn // for non-blocking writes
	mu  sync.Mutex      // held by whoever writes to it
	// out is the chunk the client has yet to take, out[next:] with the
	// first sent bytes of out[next] taken: its header (in hdr), the
	// frames (shared with every subscriber, never copied) and its end.
	out          [][]byte
	next, sent   int
	hdr          [20]byte
	pendingSince time.Time
	lastWrite    atomic.Int64 // unix nanoseconds
}

// pending reports whether the client has bytes yet to take.
func (d *detached) pending() bool { return d.next < len(d.out) }

// detacher serves every detached stream of a hub.
type detacher struct {
	h        *Hub
	flushers []*flusher
	ready    chan *detached
	poll     poller
	mu       sync.Mutex
	byTok    map[uint64]*detached
	nextTk   uint64

	wg   sync.WaitGroup
	stop chan struct{}
}

// maxDetached bounds the detached streams (the ready queue holds each at
// most once); beyond it, streams are served by goroutines.
const maxDetached = 1 << 17

func newDetacher(h *Hub, writers, flushers int) (*detacher, error) {
	dt := &detacher{
		h:     h,
		ready: make(chan *detached, maxDetached),
		byTok: make(map[uint64]*detached),
		stop:  make(chan struct{}),
	}
	p, err := newPoller(dt.gone, dt.writable)
	if err != nil {
		return nil, err
	}
	dt.poll = p
	for range writers {
		dt.wg.Add(1)
		go dt.writer()
	}
	for range max(flushers, 1) {
		f := &flusher{sig: make(chan struct{}, 1)}
		dt.flushers = append(dt.flushers, f)
		dt.wg.Add(1)
		go dt.flush(f)
	}
	dt.wg.Add(1)
	go dt.sweeper()
	return dt, nil
}

// adopt takes over st's connection; on error the caller keeps serving it.
// Only plain TCP connections are adopted: under TLS a write cannot be
// made without waiting, so such a stream keeps its own goroutine.
func (dt *detacher) adopt(st *stream, floor uint64, sub Subscription) error {
	sc, ok := st.conn.(syscall.Conn)
	if !ok {
		return errPollUnsupported
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return err
	}
	d := &detached{st: st, floor: floor, until: sub.Until, onEnd: sub.OnEnd, raw: raw}
	d.lastWrite.Store(time.Now().UnixNano())
	dt.mu.Lock()
	if len(dt.byTok) >= maxDetached {
		dt.mu.Unlock()
		return fmt.Errorf("too many detached streams")
	}
	dt.nextTk++
	d.token = dt.nextTk
	dt.byTok[d.token] = d
	dt.mu.Unlock()
	if err := dt.poll.add(d); err != nil {
		dt.mu.Lock()
		delete(dt.byTok, d.token)
		dt.mu.Unlock()
		return err
	}
	// Drop everything net/http owned (the response, and through it the
	// connection's buffers): an idle detached stream keeps only its conn.
	st.buf, st.out, st.w, st.rc = nil, nil, nil, nil
	// The replay's write deadline would fail every later non-blocking
	// write once it passes: writes set their own from now on.
	st.conn.SetWriteDeadline(time.Time{})
	st.s.detach(func() { dt.schedule(d) }, d)
	dt.schedule(d) // frames may have queued during the replay
	return nil
}

func (dt *detacher) schedule(d *detached) {
	if d.ended.Load() || !d.scheduled.CompareAndSwap(false, true) {
		return
	}
	select {
	case dt.ready <- d:
	case <-dt.stop:
	}
}

// gone is called by the poller when token's client hung up.
func (dt *detacher) gone(token uint64) {
	dt.mu.Lock()
	d := dt.byTok[token]
	dt.mu.Unlock()
	if d != nil {
		dt.end(d, ErrClientGone)
	}
}

// writable is called by the poller when token's socket, which refused
// bytes, has room again.
func (dt *detacher) writable(token uint64) {
	dt.mu.Lock()
	d := dt.byTok[token]
	dt.mu.Unlock()
	if d != nil {
		d.full.Store(false)
		dt.schedule(d)
	}
}

// end releases d once: it stops polling, unregisters the subscriber,
// closes the connection and reports why.
func (dt *detacher) end(d *detached, why error) {
	if !d.ended.CompareAndSwap(false, true) {
		return
	}
	dt.poll.remove(d)
	dt.mu.Lock()
	delete(dt.byTok, d.token)
	dt.mu.Unlock()
	dt.h.unregister(d.st.s)
	d.st.conn.Close()
	if d.onEnd != nil {
		d.onEnd(why)
	}
}

func (dt *detacher) writer() {
	defer dt.wg.Done()
	for {
		select {
		case d := <-dt.ready:
			dt.write(d)
		case <-dt.stop:
			return
		}
	}
}

// write sends d's pending bytes and queued frames (or a heartbeat), as
// much as the socket takes at once.
func (dt *detacher) write(d *detached) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.scheduled.Store(false)
	dt.writeLocked(d)
}

// A flusher writes, in rounds, the detached streams the fan-out marked,
// each with everything queued for it in one write. After a quiet spell a
// round starts as soon as an update arrives; while updates keep coming,
// rounds start at most once per batch window, so a write carries every
// update of its window instead of one write per update and subscriber.
// A round that takes longer than the window batches the same way: the
// streams it has not reached yet collect the next updates meanwhile.
type flusher struct {
	mu   sync.Mutex
	list []*detached
	sig  chan struct{} // capacity 1: "the list is not empty"
}

// yieldEvery is how many streams a flusher writes before it lets other
// goroutines run: a round over thousands of streams would otherwise keep
// its P until the runtime preempts it (10 ms), and the log's tail and
// publishers' requests would wait that long for a turn.
const yieldEvery = 64

// add hands the flusher streams the fan-out marked.
func (f *flusher) add(ds []*detached) {
	f.mu.Lock()
	f.list = append(f.list, ds...)
	f.mu.Unlock()
	select {
	case f.sig <- struct{}{}:
	default:
	}
}

func (dt *detacher) flush(f *flusher) {
	defer dt.wg.Done()
	window := dt.h.cfg.BatchWindow
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	var last time.Time
	var round []*detached
	for {
		select {
		case <-f.sig:
		case <-dt.stop:
			return
		}
		if wait := window - time.Since(last); wait > 0 {
			timer.Reset(wait)
			select {
			case <-timer.C:
			case <-dt.stop:
				return
			}
		}
		last = time.Now()
		f.mu.Lock()
		round, f.list = f.list, round[:0]
		f.mu.Unlock()
		for i, d := range round {
			d.dirty.Store(false) // updates queued from now on mark it again
			dt.wake(d)
			round[i] = nil
			if i%yieldEvery == yieldEvery-1 {
				runtime.Gosched()
				select {
				case <-dt.stop:
					return // closing: close writes what is pending
				default:
				}
			}
		}
	}
}

// wake writes d's queue at once from a flusher, unless another goroutine
// is writing it: then a writer writes it next. It must be called with no
// hub lock held.
func (dt *detacher) wake(d *detached) {
	if d.mu.TryLock() {
		dt.writeLocked(d)
		d.mu.Unlock()
		return
	}
	dt.schedule(d)
}

// writeLocked writes what is pending and queued for d, without ever
// waiting for the client; d.mu is held. While the socket is full, the
// queue keeps the updates (and its limits end a stream that falls too far
// behind), and the pending bytes wait for the poller to report room.
func (dt *detacher) writeLocked(d *detached) {
	if d.ended.Load() {
		return
	}
	s := d.st.s
	if d.pending() {
		if d.full.Load() || !dt.send(d) {
			if s.overflowed() {
				dt.end(d, ErrSlowSubscriber)
			}
			return
		}
	}
	frames, overflow := s.take()
	if overflow {
		s.release(frames)
		dt.end(d, ErrSlowSubscriber)
		return
	}
	// The frames make one chunk, written from the shared frames.
	size := 0
	for _, f := range frames {
		if f.seq > d.floor {
			size += len(f.b)
		}
	}
	if size == 0 && d.heartbeat.Swap(false) {
		d.out = append(d.out, heartbeatChunk)
	}
	if size > 0 {
		hdr := strconv.AppendInt(d.hdr[:0], int64(size), 16)
		d.out = append(d.out, append(hdr, crlf...))
		for _, f := range frames {
			if f.seq > d.floor {
				d.out = append(d.out, f.b)
			}
		}
		d.out = append(d.out, crlf)
	}
	s.release(frames)
	if !d.pending() {
		return
	}
	d.pendingSince = time.Now()
	dt.h.writes.Add(1)
	dt.send(d)
}

// send writes as much of d's pending bytes as the socket takes at once,
// and reports whether it took them all. Bytes it refuses stay pending: the
// poller reports when the socket has room again.
func (dt *detacher) send(d *detached) bool {
	// Marked full before the write: the poller's report of room, which may
	// come as soon as the write is refused, must find it marked.
	d.full.Store(true)
	n, err := d.writeNow(d.out[d.next:], d.sent)
	if n > 0 {
		d.lastWrite.Store(time.Now().UnixNano())
	}
	rest, sent := advance(d.out[d.next:], d.sent, n)
	d.next, d.sent = len(d.out)-len(rest), sent
	if err != nil {
		dt.end(d, fmt.Errorf("%w: %v", ErrClientGone, err))
		return false
	}
	if d.pending() {
		dt.h.deferred.Add(1)
		return false
	}
	d.full.Store(false)
	clear(d.out) // the frames are not kept alive by an idle stream
	d.out, d.next, d.sent = d.out[:0], 0, 0
	if cap(d.out) > maxKeptOut {
		d.out = nil
	}
	return true
}

// advance returns bufs, of which the first off bytes were already
// written, once n more bytes are written.
func advance(bufs [][]byte, off, n int) ([][]byte, int) {
	for n > 0 && len(bufs) > 0 {
		rest := len(bufs[0]) - off
		if n < rest {
			return bufs, off + n
		}
		n -= rest
		bufs, off = bufs[1:], 0
	}
	return bufs, off
}

// writeNow writes as much of bufs (the first off bytes of which are
// already written) as the socket takes at once.
func (d *detached) writeNow(bufs [][]byte, off int) (int, error) {
	var n int
	var werr error
	err := d.raw.Write(func(fd uintptr) bool {
		for len(bufs) > 0 {
			m, err := writevFD(fd, bufs, off)
			switch {
			case err == syscall.EINTR:
				continue
			case err == syscall.EAGAIN:
				return true // the socket is full: the rest stays pending
			case err != nil:
				werr = err
				return true
			}
			n += m
			bufs, off = advance(bufs, off, m)
		}
		return true
	})
	if werr == nil {
		werr = err
	}
	return n, werr
}

// sweeper sends heartbeats to idle streams and ends those past their
// deadline or stuck for longer than the write timeout.
func (dt *detacher) sweeper() {
	defer dt.wg.Done()
	cfg := dt.h.cfg
	tick := time.Second
	if cfg.Heartbeat > 0 && cfg.Heartbeat/2 < tick {
		tick = max(cfg.Heartbeat/2, 5*time.Millisecond)
	}
	t := time.NewTicker(tick)
	defer t.Stop()
	var batch []*detached
	for {
		select {
		case <-dt.stop:
			return
		case now := <-t.C:
			batch = dt.snapshot(batch[:0])
			for _, d := range batch {
				switch {
				case !d.until.IsZero() && now.After(d.until):
					dt.end(d, ErrClientGone)
				case dt.stuck(d, now):
					dt.end(d, ErrSlowSubscriber)
				case cfg.Heartbeat > 0 && now.UnixNano()-d.lastWrite.Load() >= int64(cfg.Heartbeat):
					d.heartbeat.Store(true)
					dt.schedule(d)
				}
			}
			clear(batch)
		}
	}
}

func (dt *detacher) stuck(d *detached, now time.Time) bool {
	if !d.mu.TryLock() {
		return false // being written right now
	}
	defer d.mu.Unlock()
	// Slow is not stuck: a client that keeps taking bytes stays, however
	// long its backlog lasts (the queue limits bound it); one that takes
	// nothing for the write timeout goes.
	last := time.Unix(0, d.lastWrite.Load())
	if d.pendingSince.After(last) {
		last = d.pendingSince
	}
	return d.pending() && now.Sub(last) > dt.h.cfg.WriteTimeout
}

func (dt *detacher) snapshot(dst []*detached) []*detached {
	dt.mu.Lock()
	for _, d := range dt.byTok {
		dst = append(dst, d)
	}
	dt.mu.Unlock()
	return dst
}

// close ends every detached stream with a reconnection hint and the end of
// the chunked body, then stops the writers, the sweeper and the poller.
// The hints are written without waiting: a client whose socket cannot take
// its hint at once is simply disconnected, so closing takes no longer
// with many stuck clients than with none.
func (dt *detacher) close() {
	close(dt.stop)
	dt.wg.Wait()
	var hint []byte
	hint = sse.AppendRetry(hint, dt.h.cfg.ShutdownRetry)
	hint = append(hint, '\n')
	final := appendChunk(nil, hint)
	final = append(final, "0\r\n\r\n"...)
	for _, d := range dt.snapshot(nil) {
		d.mu.Lock()
		if !d.full.Load() {
			d.writeNow(append(d.out[d.next:], final), d.sent)
		}
		d.mu.Unlock()
		dt.end(d, ErrClosed)
	}
	dt.poll.close()
}
