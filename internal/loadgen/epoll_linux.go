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
)

// defaultReader is the reader Run uses unless told otherwise.
const defaultReader = ReaderEpoll

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

// epollWorker is one goroutine's epoll set and read buffer.
type epollWorker struct {
	r         *epollReader
	epfd      int
	buf       []byte
	now       time.Time
	delivered int64
}

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
func newEpollReader(workers, n int, coalesce time.Duration, hist *histogram, total *atomic.Int64, ready chan<- struct{}, fail func(error)) (*epollReader, error) {
	r := &epollReader{conns: make([]atomic.Pointer[epollConn], n), hist: hist, total: total, ready: ready, fail: fail, coalesce: coalesce}
	for range max(1, workers) {
		fd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
		if err != nil {
			r.close()
			return nil, fmt.Errorf("epoll: %w", err)
		}
		w := &epollWorker{r: r, epfd: fd, buf: make([]byte, 64<<10)}
		r.workers = append(r.workers, w)
		r.wg.Add(1)
		go func() { defer r.wg.Done(); w.run() }()
	}
	return r, nil
}

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
	events := make([]unix.EpollEvent, 256)
	for !w.r.stop.Load() {
		n, err := unix.EpollWait(w.epfd, events, 50)
		if err != nil {
			if errors.Is(err, unix.EINTR) {
				continue
			}
			return
		}
		w.now = time.Now()
		for _, ev := range events[:n] {
			if c := w.r.conns[ev.Fd].Load(); c != nil && !c.closed {
				w.read(c)
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
	switch {
	case errno == unix.EAGAIN || errno == unix.EINTR:
		return
	case errno != 0:
		w.end(c, errno)
	case n == 0:
		w.end(c, errors.New("connection closed"))
	default:
		if err := c.p.feed(w.buf[:n], c); err != nil {
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
	}
}
