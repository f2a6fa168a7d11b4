package detach

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// maxKeptOut is the most buffers a stream keeps room for between writes;
// a burst's longer list is dropped once written.
const maxKeptOut = 64

// crlf ends a chunk; heartbeatChunk is a chunk holding one SSE comment.
var (
	crlf           = []byte("\r\n")
	heartbeatChunk = []byte("2\r\n:\n\r\n")
)

// ErrUnsupported reports an engine, or a connection, that cannot be
// served without a goroutine (no poller on this platform, or a connection
// that is not plain TCP): the caller keeps serving it itself.
var ErrUnsupported = errors.New("connection cannot be detached")

// Queue is what a stream writes: its subscriber's queue.
type Queue interface {
	// Take appends to bufs what was queued since the last Take, as slices
	// that stay unchanged until written (frames shared with other
	// streams are never copied), and reports whether the queue
	// overflowed: the stream then ends as too slow.
	Take(bufs [][]byte) ([][]byte, bool)
	// Overflowed reports whether the queue overflowed, taking nothing.
	Overflowed() bool
}

// Config configures an Engine.
type Config struct {
	Policy
	// Farewell, if set, returns what is written to a stream, as its last
	// chunk, when the engine closes: a reconnection hint. It is called
	// once per stream (so each may be told a different delay), and what
	// it returns is written only if the socket takes it at once.
	Farewell func() []byte
	// Writers and Flushers are how many goroutines write streams whose
	// sockets have room again, and streams the fan-out marked. At least 1.
	Writers, Flushers int
	// Writer is how flushers make their writes: WriterIOURing (the
	// default, also for "") submits a round's writes in batches through
	// io_uring, one system call per batch, and falls back to WriterEpoll
	// where io_uring is unavailable (Engine.Writer tells which is in use
	// and why); WriterEpoll makes one writev(2) per stream.
	Writer string
}

// The values of Config.Writer.
const (
	WriterEpoll   = "epoll"
	WriterIOURing = "io_uring"
)

// Stats counts an engine's writes.
type Stats struct {
	// Writes is how many writes of frames or heartbeats were made.
	Writes uint64
	// Deferred is how often a socket did not take its bytes at once,
	// leaving them pending until it had room.
	Deferred uint64
}

// poller tells the engine when a client has gone, and when the socket of
// one whose last write was refused has room again.
type poller interface {
	add(d *Stream) error
	remove(d *Stream)
	close()
}

// Stream is one stream an Engine serves.
type Stream struct {
	q     Queue
	conn  net.Conn
	until time.Time
	end   func(error)
	token uint64

	scheduled atomic.Bool
	dirty     atomic.Bool // marked for a flusher
	ended     atomic.Bool
	heartbeat atomic.Bool

	// full is set from before a write that may find the socket full until
	// the poller reports room: meanwhile updates wait in the queue.
	full atomic.Bool

	raw syscall.RawConn // for non-blocking writes
	tls *tls.Conn       // under TLS: seals what is written to raw
	mu  sync.Mutex      // held by whoever writes to it
	// out is the chunk the client has yet to take, out[next:] with the
	// first sent bytes of out[next] taken: its header (in hdr), the
	// frames (shared with every subscriber, never copied) and its end.
	out          [][]byte
	next, sent   int
	hdr          [20]byte
	pendingSince time.Time
	lastWrite    atomic.Int64 // unix nanoseconds

	e *Engine
}

// pending reports whether the client has bytes yet to take.
func (d *Stream) pending() bool { return d.next < len(d.out) }

// Engine serves detached streams.
type Engine struct {
	cfg      Config
	flushers []*flusher
	ready    chan *Stream
	poll     poller
	mu       sync.Mutex
	byTok    map[uint64]*Stream
	closed   bool // set by close, under mu
	nextTk   uint64
	writes   atomic.Uint64
	deferred atomic.Uint64

	uringErr error // why io_uring is not used although asked for

	wg        sync.WaitGroup
	stop      chan struct{}
	closeOnce sync.Once
}

// maxStreams bounds the streams of an engine (the ready queue holds each
// at most once); beyond it, Adopt refuses.
const maxStreams = 1 << 17

// New starts an engine, or returns ErrUnsupported where streams cannot be
// served without a goroutine each. Close stops it.
func New(cfg Config) (*Engine, error) {
	switch cfg.Writer {
	case "":
		cfg.Writer = WriterIOURing
	case WriterEpoll, WriterIOURing:
	default:
		return nil, fmt.Errorf("detach: unknown writer %q: want %s or %s", cfg.Writer, WriterEpoll, WriterIOURing)
	}
	e := &Engine{
		cfg:   cfg,
		ready: make(chan *Stream, maxStreams),
		byTok: make(map[uint64]*Stream),
		stop:  make(chan struct{}),
	}
	p, err := newPoller(e.gone, e.writable)
	if err != nil {
		return nil, err
	}
	e.poll = p
	for range max(cfg.Writers, 1) {
		e.wg.Add(1)
		go e.writer()
	}
	for range max(cfg.Flushers, 1) {
		f := &flusher{sig: make(chan struct{}, 1)}
		if cfg.Writer == WriterIOURing && e.uringErr == nil {
			f.batch, e.uringErr = newBatch()
		}
		e.flushers = append(e.flushers, f)
	}
	for _, f := range e.flushers {
		if e.uringErr != nil && f.batch != nil { // all write alike
			f.batch.close()
			f.batch = nil
		}
		e.wg.Add(1)
		go e.flush(f)
	}
	e.wg.Add(1)
	go e.sweeper()
	return e, nil
}

// Writer returns how the flushers write (WriterEpoll or WriterIOURing)
// and, if io_uring was asked for but is not in use, why.
func (e *Engine) Writer() (string, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.cfg.Writer != WriterIOURing {
		return WriterEpoll, nil
	}
	if e.uringErr != nil {
		return WriterEpoll, e.uringErr
	}
	return WriterIOURing, nil
}

// Stats returns the engine's counters since New.
func (e *Engine) Stats() Stats {
	return Stats{Writes: e.writes.Load(), Deferred: e.deferred.Load()}
}

// Adopt serves q on conn, whose response headers are written, until the
// client leaves, the queue overflows, until (if not zero) passes or the
// engine closes; end is then called once with the reason (ErrGone,
// ErrSlow or ErrClosed, possibly wrapped), after conn is closed. Plain
// TCP connections are adopted, and TLS connections over one TLSListener
// accepted. On error the caller keeps serving conn.
func (e *Engine) Adopt(conn net.Conn, q Queue, until time.Time, end func(error)) (*Stream, error) {
	tc, sock, ok := adoptable(conn)
	if !ok {
		return nil, ErrUnsupported
	}
	sc, ok := sock.(syscall.Conn)
	if !ok {
		return nil, ErrUnsupported
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return nil, err
	}
	d := &Stream{q: q, conn: sock, until: until, end: end, raw: raw, tls: tc, e: e}
	d.lastWrite.Store(time.Now().UnixNano())
	// A write deadline set before would fail every later non-blocking
	// write once it passes: writes set their own from now on. Under TLS,
	// what TLS writes is kept for the engine to send from now on, before
	// a writer may find the stream.
	sock.SetWriteDeadline(time.Time{})
	d.capture(true)
	// Registered and polled under e.mu, which close takes before its
	// snapshot: a stream is either adopted in full, and ended by close
	// with the others, or refused once the engine is closing, and its
	// caller serves it (and ends it) itself.
	e.mu.Lock()
	defer e.mu.Unlock()
	switch {
	case e.closed:
		d.capture(false)
		return nil, ErrClosed
	case len(e.byTok) >= maxStreams:
		d.capture(false)
		return nil, fmt.Errorf("%w: %d streams already", ErrUnsupported, maxStreams)
	}
	e.nextTk++
	d.token = e.nextTk
	e.byTok[d.token] = d
	if err := e.poll.add(d); err != nil {
		delete(e.byTok, d.token)
		d.capture(false)
		return nil, err
	}
	return d, nil
}

// Wake has the stream written soon by a writer: its queue has frames or
// overflowed. It never blocks.
func (d *Stream) Wake() { d.e.schedule(d) }

func (e *Engine) schedule(d *Stream) {
	if d.ended.Load() || !d.scheduled.CompareAndSwap(false, true) {
		return
	}
	select {
	case e.ready <- d:
	case <-e.stop:
	}
}

// gone is called by the poller when token's client hung up.
func (e *Engine) gone(token uint64) {
	e.mu.Lock()
	d := e.byTok[token]
	e.mu.Unlock()
	if d != nil {
		e.finish(d, ErrGone)
	}
}

// writable is called by the poller when token's socket, which refused
// bytes, has room again.
func (e *Engine) writable(token uint64) {
	e.mu.Lock()
	d := e.byTok[token]
	e.mu.Unlock()
	if d != nil {
		d.full.Store(false)
		e.schedule(d)
	}
}

// finish releases d once: it stops polling, closes the connection and
// reports why.
func (e *Engine) finish(d *Stream, why error) {
	if !d.ended.CompareAndSwap(false, true) {
		return
	}
	e.poll.remove(d)
	e.mu.Lock()
	delete(e.byTok, d.token)
	e.mu.Unlock()
	d.conn.Close()
	if d.end != nil {
		d.end(why)
	}
}

func (e *Engine) writer() {
	defer e.wg.Done()
	for {
		select {
		case d := <-e.ready:
			e.write(d)
		case <-e.stop:
			return
		}
	}
}

// write sends d's pending bytes and queued frames (or a heartbeat), as
// much as the socket takes at once.
func (e *Engine) write(d *Stream) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.scheduled.Store(false)
	e.writeLocked(d)
}

// Marks collects the streams that fan-out of one update gave frames, for
// the flushers to write. It belongs to one goroutine (the log's tail).
type Marks struct {
	e     *Engine
	lists [][]*Stream // per flusher
}

// NewMarks returns an empty Marks for e.
func (e *Engine) NewMarks() *Marks {
	return &Marks{e: e, lists: make([][]*Stream, len(e.flushers))}
}

// Add marks d, unless it is marked already and its flusher has not
// reached it yet.
func (m *Marks) Add(d *Stream) {
	if d.dirty.CompareAndSwap(false, true) {
		i := d.token % uint64(len(m.lists))
		m.lists[i] = append(m.lists[i], d)
	}
}

// Hand gives the marked streams to the flushers and empties m. It must be
// called with no lock held that ending a stream takes.
func (m *Marks) Hand() {
	for i, ds := range m.lists {
		if len(ds) > 0 {
			m.e.flushers[i].add(ds)
			clear(ds)
			m.lists[i] = ds[:0]
		}
	}
}

// A flusher writes, in rounds, the streams the fan-out marked, each with
// everything queued for it in one write. After a quiet spell a round
// starts as soon as an update arrives; while updates keep coming, rounds
// start at most once per batch window, so a write carries every update of
// its window instead of one write per update and subscriber. A round that
// takes longer than the window batches the same way: the streams it has
// not reached yet collect the next updates meanwhile.
type flusher struct {
	mu   sync.Mutex
	list []*Stream
	sig  chan struct{} // capacity 1: "the list is not empty"
	// batch, with Config.Writer WriterIOURing, submits the round's
	// writes through io_uring; nil: one writev per stream.
	batch *batch
}

// yieldEvery is how many streams a flusher writes before it lets other
// goroutines run: a round over thousands of streams would otherwise keep
// its P until the runtime preempts it (10 ms), and the log's tail and
// publishers' requests would wait that long for a turn.
const yieldEvery = 64

// add hands the flusher streams the fan-out marked.
func (f *flusher) add(ds []*Stream) {
	f.mu.Lock()
	f.list = append(f.list, ds...)
	f.mu.Unlock()
	select {
	case f.sig <- struct{}{}:
	default:
	}
}

func (e *Engine) flush(f *flusher) {
	defer e.wg.Done()
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	var last time.Time
	var round []*Stream
	for {
		select {
		case <-f.sig:
		case <-e.stop:
			return
		}
		if wait := e.cfg.BatchWait(last); wait > 0 {
			timer.Reset(wait)
			select {
			case <-timer.C:
			case <-e.stop:
				return
			}
		}
		last = time.Now()
		f.mu.Lock()
		round, f.list = f.list, round[:0]
		f.mu.Unlock()
		if f.batch != nil {
			if !e.writeBatches(f, round) {
				return
			}
			continue
		}
		for i, d := range round {
			d.dirty.Store(false) // updates queued from now on mark it again
			e.wake(d)
			round[i] = nil
			if i%yieldEvery == yieldEvery-1 {
				runtime.Gosched()
				select {
				case <-e.stop:
					return // closing: Close writes what is pending
				default:
				}
			}
		}
	}
}

// wake writes d's queue at once from a flusher, unless another goroutine
// is writing it: then a writer writes it next.
func (e *Engine) wake(d *Stream) {
	if d.mu.TryLock() {
		e.writeLocked(d)
		d.mu.Unlock()
		return
	}
	e.schedule(d)
}

// writeLocked writes what is pending and queued for d, without ever
// waiting for the client; d.mu is held. While the socket is full, the
// queue keeps the updates (and its limits end a stream that falls too far
// behind), and the pending bytes wait for the poller to report room.
func (e *Engine) writeLocked(d *Stream) {
	if e.prepare(d, time.Now()) {
		e.send(d)
	}
}

// prepare readies d's next write, the chunk of what is queued for it (or
// a heartbeat) in d.out, and reports whether there is one; d.mu is held.
// Bytes still pending from an earlier write go first: prepare writes them
// itself if the socket has room for them. now is when the write is
// prepared: a flusher reads the clock once for a whole batch of streams.
func (e *Engine) prepare(d *Stream, now time.Time) bool {
	if d.ended.Load() {
		return false
	}
	if d.pending() {
		if d.full.Load() || !e.send(d) {
			if d.q.Overflowed() {
				e.finish(d, ErrSlow)
			}
			return false
		}
	}
	// The frames make one chunk, written from the shared frames: room for
	// its header first.
	d.out = append(d.out, nil)
	out, overflow := d.q.Take(d.out)
	d.out = out
	if overflow {
		clear(d.out)
		d.out = d.out[:0]
		e.finish(d, ErrSlow)
		return false
	}
	size := 0
	for _, b := range d.out[1:] {
		size += len(b)
	}
	switch {
	case size > 0:
		hdr := strconv.AppendInt(d.hdr[:0], int64(size), 16)
		d.out[0] = append(hdr, crlf...)
		d.out = append(d.out, crlf)
	case d.heartbeat.Swap(false):
		d.out[0] = heartbeatChunk
	default:
		d.out = d.out[:0]
		return false
	}
	if d.tls != nil {
		if err := d.seal(); err != nil {
			e.finish(d, fmt.Errorf("%w: %v", ErrGone, err))
			return false
		}
	}
	d.pendingSince = now
	e.writes.Add(1)
	return true
}

// send writes as much of d's pending bytes as the socket takes at once,
// and reports whether it took them all. Bytes it refuses stay pending: the
// poller reports when the socket has room again.
func (e *Engine) send(d *Stream) bool {
	// Marked full before the write: the poller's report of room, which may
	// come as soon as the write is refused, must find it marked.
	d.full.Store(true)
	n, err := d.writeNow(d.out[d.next:], d.sent)
	return e.sent(d, n, err, time.Time{})
}

// sent records a write of d's pending bytes that took n of them, or
// failed with err, as send reports it; d is marked full. at is when the
// write was made, or zero for now.
func (e *Engine) sent(d *Stream, n int, err error, at time.Time) bool {
	d.advance(n, at)
	if err != nil {
		e.finish(d, fmt.Errorf("%w: %v", ErrGone, err))
		return false
	}
	if d.pending() {
		e.deferred.Add(1)
		return false
	}
	d.full.Store(false)
	if d.tls != nil {
		putSealBuf(d.out[0])
	}
	clear(d.out) // the frames are not kept alive by an idle stream
	d.out, d.next, d.sent = d.out[:0], 0, 0
	if cap(d.out) > maxKeptOut {
		d.out = nil
	}
	return true
}

// advance records n more of d's pending bytes as written at at (zero:
// now).
func (d *Stream) advance(n int, at time.Time) {
	if n > 0 {
		if at.IsZero() {
			at = time.Now()
		}
		d.lastWrite.Store(at.UnixNano())
	}
	rest, sent := advance(d.out[d.next:], d.sent, n)
	d.next, d.sent = len(d.out)-len(rest), sent
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
func (d *Stream) writeNow(bufs [][]byte, off int) (int, error) {
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

// sweeper sends heartbeats to idle streams and ends those past their end
// time or stalled for longer than the write timeout.
func (e *Engine) sweeper() {
	defer e.wg.Done()
	tick := time.Second
	if hb := e.cfg.Heartbeat; hb > 0 && hb/2 < tick {
		tick = max(hb/2, 5*time.Millisecond)
	}
	t := time.NewTicker(tick)
	defer t.Stop()
	var batch []*Stream
	for {
		select {
		case <-e.stop:
			return
		case now := <-t.C:
			batch = e.snapshot(batch[:0])
			for _, d := range batch {
				switch {
				case !d.until.IsZero() && now.After(d.until):
					e.finish(d, ErrGone)
				case e.stalled(d, now):
					e.finish(d, ErrSlow)
				case e.cfg.HeartbeatDue(time.Unix(0, d.lastWrite.Load()), now):
					d.heartbeat.Store(true)
					e.schedule(d)
				}
			}
			clear(batch)
		}
	}
}

func (e *Engine) stalled(d *Stream, now time.Time) bool {
	if !d.mu.TryLock() {
		return false // being written right now
	}
	defer d.mu.Unlock()
	last := time.Unix(0, d.lastWrite.Load())
	if d.pendingSince.After(last) {
		last = d.pendingSince
	}
	return d.pending() && e.cfg.Stalled(last, now)
}

func (e *Engine) snapshot(dst []*Stream) []*Stream {
	e.mu.Lock()
	for _, d := range e.byTok {
		dst = append(dst, d)
	}
	e.mu.Unlock()
	return dst
}

// Close ends every stream with what its queue holds, the farewell chunk
// and the end of the chunked body, then stops the engine's goroutines.
// They are written without waiting: a client whose socket cannot take its farewell
// at once is simply disconnected, so closing takes no longer with many
// stuck clients than with none. Only the first call does anything.
func (e *Engine) Close() { e.closeOnce.Do(e.close) }

func (e *Engine) close() {
	e.mu.Lock()
	e.closed = true // Adopt refuses from now on
	e.mu.Unlock()
	close(e.stop)
	e.wg.Wait()
	for _, f := range e.flushers {
		if f.batch != nil {
			f.batch.close()
		}
	}
	var final []byte
	for _, d := range e.snapshot(nil) {
		d.mu.Lock()
		if !d.full.Load() {
			// What is queued goes first, then the farewell, each only as
			// far as the socket takes it at once.
			e.writeLocked(d)
		}
		if !d.ended.Load() && !d.full.Load() {
			final = final[:0]
			if e.cfg.Farewell != nil {
				final = AppendChunk(final, e.cfg.Farewell())
			}
			final = append(final, LastChunk...)
			d.writeLast(final)
		}
		d.mu.Unlock()
		e.finish(d, ErrClosed)
	}
	e.poll.close()
}
