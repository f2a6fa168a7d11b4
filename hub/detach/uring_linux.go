package detach

import (
	"runtime"
	"syscall"
	"time"

	"github.com/heraldhub/herald/internal/uring"
)

// batchSize is how many streams' writes a flusher submits to io_uring
// with one system call.
const batchSize = 256

// maxKeptIovecs is the most buffers a batch keeps room for between
// submissions: a few per stream, as a steady flow of updates needs.
const maxKeptIovecs = 8 * batchSize

// A batch is a flusher's io_uring ring and what one submission of writes
// needs: the streams, each locked until its write completes, and the
// buffers the kernel reads, which stay unchanged until then.
type batch struct {
	ring *uring.Ring
	ds   []*Stream
	w    []batchWrite // per stream of ds
	iov  []syscall.Iovec
	fns  []func(fd uintptr)        // per position in ds: see holdFn
	done func(i uint64, res int32) // records a write's result
}

// batchWrite is one stream's write in a batch.
type batchWrite struct {
	first, count int   // its buffers, in batch.iov
	size         int   // bytes they hold
	more         bool  // the stream has more pending than fits one write
	res          int32 // the write's result: bytes written or -errno
	err          error // not submitted: the connection is closing
	held         bool  // its descriptor was held and its write queued
	ringErr      error // while held: how queueing the later writes ended
}

// newRing sets up a flusher's ring; tests replace it to see an engine
// without io_uring.
var newRing = func() (*uring.Ring, error) { return uring.New(batchSize) }

func newBatch() (*batch, error) {
	r, err := newRing()
	if err != nil {
		return nil, err
	}
	b := &batch{ring: r}
	b.done = func(i uint64, res int32) { b.w[i].res = res }
	return b, nil
}

func (b *batch) close() { b.ring.Close() }

// writeBatches writes the streams of a round as the flusher's loop does,
// each with everything queued for it, but submits their writes in
// batches, one system call each. It clears round, and reports false if
// the engine is closing.
func (e *Engine) writeBatches(f *flusher, round []*Stream) bool {
	b := f.batch
	for len(round) > 0 {
		n := min(len(round), batchSize)
		err := e.writeBatch(b, round[:n])
		clear(round[:n])
		round = round[n:]
		if err != nil {
			// The ring failed: the flusher goes on with one writev per
			// stream.
			e.mu.Lock()
			e.uringErr = err
			e.mu.Unlock()
			b.close()
			f.batch = nil
			for _, d := range round {
				d.dirty.Store(false)
				e.wake(d)
			}
			clear(round)
			return true
		}
		runtime.Gosched() // as the flusher's loop does every yieldEvery streams
		select {
		case <-e.stop:
			return false // closing: Close writes what is pending
		default:
		}
	}
	return true
}

// writeBatch writes ds, at most batchSize streams, with one submission.
// A stream another goroutine is writing is left to a writer, as wake does.
func (e *Engine) writeBatch(b *batch, ds []*Stream) error {
	b.ds, b.w, b.iov = b.ds[:0], b.w[:0], b.iov[:0]
	// One clock read serves the whole batch: when its writes were
	// prepared, and made (heartbeats and stalls are judged in seconds).
	now := time.Now()
	for _, d := range ds {
		d.dirty.Store(false) // updates queued from now on mark it again
		if !d.mu.TryLock() {
			e.schedule(d)
			continue
		}
		if !e.prepare(d, now) {
			d.mu.Unlock()
			continue
		}
		// Marked full before the write, as send does.
		d.full.Store(true)
		// Until the ring reports otherwise, the write was not made.
		w := batchWrite{first: len(b.iov), res: -int32(syscall.ECANCELED)}
		b.iov, w.size, w.more = appendIovecs(b.iov, d.out[d.next:], d.sent)
		w.count = len(b.iov) - w.first
		b.ds, b.w = append(b.ds, d), append(b.w, w)
	}
	if len(b.ds) == 0 {
		return nil
	}
	ringErr := b.hold(0)
	// The connections are released: ending a stream may close its own.
	for i, d := range b.ds {
		e.completed(d, &b.w[i], now)
		d.mu.Unlock()
		b.ds[i] = nil
	}
	clear(b.iov) // the frames are not kept alive by the batch
	if cap(b.iov) > maxKeptIovecs {
		b.iov = nil // a burst's long chunks: not kept for every batch after
	}
	return ringErr
}

// hold queues the writes of b.ds[i:], each while holding a reference to
// its connection's descriptor (so that closing the connection cannot
// release the descriptor, and its number be reused by another, before the
// kernel takes the write), and submits them once all are held. A
// connection that is closed is not written. The streams' locks keep any
// other write out meanwhile.
func (b *batch) hold(i int) error {
	for ; i < len(b.ds); i++ {
		w := &b.w[i]
		cerr := b.ds[i].raw.Control(b.holdFn(i))
		if w.held {
			return w.ringErr
		}
		w.err = cerr
	}
	return b.ring.Submit(b.done)
}

// holdFn returns what holds the descriptor of b.ds[i] to queue its
// write: made once per position and kept, so that a round allocates
// nothing per stream.
func (b *batch) holdFn(i int) func(fd uintptr) {
	for len(b.fns) <= i {
		j := len(b.fns)
		b.fns = append(b.fns, func(fd uintptr) {
			w := &b.w[j]
			w.held = true
			b.ring.PrepWritev(int(fd), b.iov[w.first:w.first+w.count], uint64(j))
			w.ringErr = b.hold(j + 1)
		})
	}
	return b.fns[i]
}

// completed records the outcome of d's write in a batch, as send does for
// its own write; d.mu is held.
func (e *Engine) completed(d *Stream, w *batchWrite, at time.Time) {
	var n int
	var err error
	switch {
	case w.err != nil:
		err = w.err
	case w.res >= 0:
		n = int(w.res)
	case syscall.Errno(-w.res) == syscall.EAGAIN:
	case syscall.Errno(-w.res) == syscall.ECANCELED:
		// Not written (the ring failed or was full): written here
		// instead.
		e.send(d)
		return
	default:
		err = syscall.Errno(-w.res)
	}
	if err == nil && n == w.size && w.more {
		// The socket took all it was given, but that was not all: it
		// may have room for the rest, which no poller event would
		// announce.
		d.advance(n, at)
		e.send(d)
		return
	}
	e.sent(d, n, err, at)
}
