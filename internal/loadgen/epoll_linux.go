package loadgen

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/heraldhub/herald/internal/uring"
)

// defaultReader is the reader Run uses unless told otherwise.
const defaultReader = ReaderUring

// epollReader reads many subscribers' streams with a few goroutines, each
// owning an epoll set of raw sockets: no goroutine, reader or buffer per
// connection, only a parser's state and whatever partial line a read left.
type epollReader struct {
	workers []*epollWorker
	conns   []atomic.Pointer[epollConn] // by subscriber number
	hist    *histogram
	total   *atomic.Int64
	ready   chan<- struct{}
	fail    func(error)
	stop    atomic.Bool
	wg      sync.WaitGroup
	closing sync.Once
	// coalesce is how long a worker waits after a wait that found less
	// than a full set of events.
	coalesce time.Duration
}

// epollWorker is one goroutine's epoll set and read buffer; with
// io_uring, also its ring and, per socket a wait found readable, a slice
// of buf and the socket the slice's read is for.
type epollWorker struct {
	r         *epollReader
	epfd      int
	buf       []byte
	now       time.Time
	delivered int64

	ring     *uring.Ring
	batch    []*epollConn
	complete func(userData uint64, res int32) // w.completed, bound once
}

// The epoll reader's wait finds up to waitEvents sockets readable; with
// io_uring each of them is read into a slice of uringSlice bytes. A
// socket holding more stays readable, and the next wait reads on.
const (
	waitEvents = 256
	uringSlice = 16 << 10
)

// epollConn is one subscriber's socket and parse state.
type epollConn struct {
	w      *epollWorker
	fd     int
	s      *sub
	p      streamParser
	ready  bool
	closed bool
}

// newEpollReader starts workers goroutines reading up to n subscribers;
// after a wait that found few sockets readable, a worker sleeps coalesce.
// Each delivery is tallied in its sub, hist and total; ready receives once
// per subscriber whose response headers arrived with a 200, fail is called
// for each that failed before.
//
// With useRing, each worker reads the sockets a wait found readable with
// one io_uring submission instead of a read(2) each; where io_uring is
// unavailable it reads with read(2), and usesRing reports false.
func newEpollReader(workers, n int, useRing bool, coalesce time.Duration, hist *histogram, total *atomic.Int64, ready chan<- struct{}, fail func(error)) (*epollReader, error) {
	r := &epollReader{conns: make([]atomic.Pointer[epollConn], n), hist: hist, total: total, ready: ready, fail: fail, coalesce: coalesce}
	for range max(1, workers) {
		fd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
		if err != nil {
			r.close()
			return nil, fmt.Errorf("epoll: %w", err)
		}
		w := &epollWorker{r: r, epfd: fd, buf: make([]byte, 64<<10)}
		r.workers = append(r.workers, w)
	}
	if useRing {
		r.setupRings()
	}
	for _, w := range r.workers {
		r.wg.Add(1)
		go func() { defer r.wg.Done(); w.run() }()
	}
	return r, nil
}

// newRing sets up an io_uring instance (a variable, so that tests can
// make io_uring unavailable).
var newRing = uring.New

// setupRings gives every worker a ring, or none of them one.
func (r *epollReader) setupRings() {
	for _, w := range r.workers {
		ring, err := newRing(waitEvents)
		if err != nil {
			for _, w := range r.workers {
				if w.ring != nil {
					w.ring.Close()
					w.ring = nil
				}
			}
			return
		}
		w.ring, w.buf, w.batch = ring, make([]byte, waitEvents*uringSlice), make([]*epollConn, 0, waitEvents)
		w.complete = w.completed
	}
}

// usesRing reports whether the workers read with io_uring (until a ring
// fails).
func (r *epollReader) usesRing() bool { return r.workers[0].ring != nil }

// open dials subscriber i's stream from src, sends the request and hands
// the socket to a worker.
func (r *epollReader) open(ctx context.Context, i int, u *url.URL, src string, s *sub) error {
	conn, err := dialStream(ctx, u, src, "")
	if err != nil {
		return err
	}
	defer conn.Close()
	raw, err := conn.(syscall.Conn).SyscallConn()
	if err != nil {
		return err
	}
	fd, opErr := -1, error(nil)
	// A duplicate of the socket outlives conn; the runtime's poller forgets
	// the original when conn closes.
	if err := raw.Control(func(f uintptr) { fd, opErr = unix.FcntlInt(f, unix.F_DUPFD_CLOEXEC, 0) }); err != nil {
		return err
	}
	if opErr != nil {
		return opErr
	}
	w := r.workers[i%len(r.workers)]
	c := &epollConn{w: w, fd: fd, s: s}
	r.conns[i].Store(c)
	ev := unix.EpollEvent{Events: unix.EPOLLIN | unix.EPOLLRDHUP, Fd: int32(i)}
	if err := unix.EpollCtl(w.epfd, unix.EPOLL_CTL_ADD, fd, &ev); err != nil {
		r.conns[i].Store(nil)
		unix.Close(fd)
		return err
	}
	return nil
}

// run waits for readable sockets and parses what they hold, until close.
func (w *epollWorker) run() {
	events := make([]unix.EpollEvent, waitEvents)
	for !w.r.stop.Load() {
		n, err := unix.EpollWait(w.epfd, events, 50)
		if err != nil {
			if errors.Is(err, unix.EINTR) {
				continue
			}
			return
		}
		w.now = time.Now()
		if w.ring != nil {
			w.readBatch(events[:n])
		} else {
			for _, ev := range events[:n] {
				if c := w.r.conns[ev.Fd].Load(); c != nil && !c.closed {
					w.read(c)
				}
			}
		}
		if w.delivered > 0 {
			w.r.total.Add(w.delivered)
			w.delivered = 0
		}
		if n < len(events) && w.r.coalesce > 0 {
			// Let more sockets become readable: one wait then finds them
			// all, instead of one wait and wake-up for each.
			time.Sleep(w.r.coalesce)
		}
	}
}

// read reads what one socket holds and parses it.
func (w *epollWorker) read(c *epollConn) {
	n, _, errno := unix.RawSyscall(unix.SYS_READ, uintptr(c.fd), uintptr(unsafe.Pointer(&w.buf[0])), uintptr(len(w.buf)))
	if errno != 0 {
		n = 0
	}
	w.parse(c, w.buf[:n], errno)
}

// readBatch reads the sockets of events, a slice of buf each, with one
// io_uring submission, and parses what each read. If the ring fails, the
// worker closes it and reads with read(2) from then on: the sockets whose
// reads the ring lost are still readable, and the next wait finds them.
func (w *epollWorker) readBatch(events []unix.EpollEvent) {
	w.batch = w.batch[:0]
	for _, ev := range events {
		if c := w.r.conns[ev.Fd].Load(); c != nil && !c.closed {
			i := len(w.batch)
			w.ring.PrepRecv(c.fd, w.buf[i*uringSlice:(i+1)*uringSlice], uint64(i))
			w.batch = append(w.batch, c)
		}
	}
	if err := w.ring.Submit(w.complete); err != nil {
		w.ring.Close()
		w.ring = nil
	}
}

// completed parses the result of the batch's read i.
func (w *epollWorker) completed(i uint64, res int32) {
	c := w.batch[i]
	if res == -int32(unix.ECANCELED) {
		return // not read: still readable
	}
	if res < 0 {
		w.parse(c, nil, unix.Errno(-res))
		return
	}
	w.parse(c, w.buf[int(i)*uringSlice:int(i)*uringSlice+int(res)], 0)
}

// parse feeds c's parser what a read returned: b, or the end of the
// stream if b is empty, or nothing if the read failed with EAGAIN.
func (w *epollWorker) parse(c *epollConn, b []byte, errno unix.Errno) {
	switch {
	case errno == unix.EAGAIN || errno == unix.EINTR:
		return
	case errno != 0:
		w.end(c, errno)
	case len(b) == 0:
		w.end(c, errors.New("connection closed"))
	default:
		if err := c.p.feed(b, c); err != nil {
			w.end(c, err)
		}
	}
}

// end closes c's socket; before its headers, c counts as failed.
func (w *epollWorker) end(c *epollConn, err error) {
	c.closed = true
	unix.EpollCtl(w.epfd, unix.EPOLL_CTL_DEL, c.fd, nil)
	unix.Close(c.fd)
	c.fd = -1
	if !c.ready && !w.r.stop.Load() {
		c.ready = true
		if errors.Is(err, errStreamEnded) || err.Error() == "connection closed" {
			err = errors.New("subscribe: connection closed before the response")
		}
		w.r.fail(err)
	}
}

func (c *epollConn) headers(code int, status string) error {
	if code != 200 {
		return fmt.Errorf("subscribe: %s", status)
	}
	c.ready = true
	c.w.r.ready <- struct{}{}
	return nil
}

func (c *epollConn) update(seq, sent int64) {
	c.s.tally(seq)
	c.w.delivered++
	c.w.r.hist.add(c.w.now.Sub(time.Unix(0, sent)))
}

// close stops the workers and closes every socket still open.
func (r *epollReader) close() { r.closing.Do(r.closeOnce) }

func (r *epollReader) closeOnce() {
	r.stop.Store(true)
	r.wg.Wait()
	for i := range r.conns {
		if c := r.conns[i].Load(); c != nil && !c.closed {
			unix.Close(c.fd)
			c.closed = true
		}
	}
	for _, w := range r.workers {
		unix.Close(w.epfd)
		if w.ring != nil {
			w.ring.Close()
		}
	}
}
