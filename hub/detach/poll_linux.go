package detach

import (
	"errors"
	"sync"
	"syscall"
	"unsafe"
)

// epoller watches detached connections with one epoll instance and one
// goroutine, and reports a connection whose client hung up (or sent
// anything, which a subscriber never does), and a connection whose socket
// has room again after refusing bytes. Connections are watched
// edge-triggered for both: the kernel reports room only on a socket a
// write found full, so a client that keeps up costs the poller nothing.
type epoller struct {
	fd       int
	wake     [2]int // a pipe whose read end is in the epoll set: close writes to it
	gone     func(token uint64)
	writable func(token uint64)
	wg       sync.WaitGroup
	stop     chan struct{}
}

func newPoller(gone, writable func(token uint64)) (poller, error) {
	fd, err := syscall.EpollCreate1(syscall.EPOLL_CLOEXEC)
	if err != nil {
		return nil, err
	}
	p := &epoller{fd: fd, gone: gone, writable: writable, stop: make(chan struct{})}
	if err := syscall.Pipe2(p.wake[:], syscall.O_NONBLOCK|syscall.O_CLOEXEC); err != nil {
		syscall.Close(fd)
		return nil, err
	}
	// Token 0 is never a stream's: it is the wake-up.
	ev := syscall.EpollEvent{Events: syscall.EPOLLIN}
	if err := syscall.EpollCtl(fd, syscall.EPOLL_CTL_ADD, p.wake[0], &ev); err != nil {
		syscall.Close(fd)
		syscall.Close(p.wake[0])
		syscall.Close(p.wake[1])
		return nil, err
	}
	p.wg.Add(1)
	go p.loop()
	return p, nil
}

func (p *epoller) ctl(d *Stream, op int) error {
	var opErr error
	err := d.raw.Control(func(fd uintptr) { // the socket, under TLS too
		ev := syscall.EpollEvent{
			Events: syscall.EPOLLIN | syscall.EPOLLRDHUP | syscall.EPOLLOUT | (syscall.EPOLLET & 0xffffffff),
			Fd:     int32(uint32(d.token)),
			Pad:    int32(uint32(d.token >> 32)),
		}
		opErr = syscall.EpollCtl(p.fd, op, int(fd), &ev)
	})
	return errors.Join(err, opErr)
}

func (p *epoller) add(d *Stream) error { return p.ctl(d, syscall.EPOLL_CTL_ADD) }

func (p *epoller) remove(d *Stream) { p.ctl(d, syscall.EPOLL_CTL_DEL) }

func (p *epoller) loop() {
	defer p.wg.Done()
	events := make([]syscall.EpollEvent, 256)
	for {
		select {
		case <-p.stop:
			return
		default:
		}
		n, err := syscall.EpollWait(p.fd, events, 200)
		if err != nil {
			if errors.Is(err, syscall.EINTR) {
				continue
			}
			return
		}
		for _, ev := range events[:n] {
			token := uint64(uint32(ev.Fd)) | uint64(uint32(ev.Pad))<<32
			switch {
			case token == 0: // woken by close: the loop checks stop
			case ev.Events&(syscall.EPOLLIN|syscall.EPOLLRDHUP|syscall.EPOLLHUP|syscall.EPOLLERR) != 0:
				p.gone(token)
			case ev.Events&syscall.EPOLLOUT != 0:
				p.writable(token)
			}
		}
	}
}

func (p *epoller) close() {
	close(p.stop)
	syscall.Write(p.wake[1], []byte{0}) // end the wait at once, not at its timeout
	p.wg.Wait()
	syscall.Close(p.fd)
	syscall.Close(p.wake[0])
	syscall.Close(p.wake[1])
}

// maxIovecs bounds the buffers one writevFD call passes to the kernel.
const maxIovecs = 128

// writevFD makes one writev(2) of bufs, the first off bytes of which are
// already written, to a non-blocking socket. It cannot block, so it is
// made as a raw system call: the goroutine keeps its P, and the scheduler
// neither hands the P to another thread nor wakes one for it, which on a
// busy hub made a context switch of every few writes.
func writevFD(fd uintptr, bufs [][]byte, off int) (int, error) {
	var iov [maxIovecs]syscall.Iovec
	v, _, _ := appendIovecs(iov[:0], bufs, off)
	if len(v) == 0 {
		return 0, nil
	}
	m, _, errno := syscall.RawSyscall(syscall.SYS_WRITEV, fd, uintptr(unsafe.Pointer(&v[0])), uintptr(len(v)))
	if errno != 0 {
		return 0, errno
	}
	return int(m), nil
}

// appendIovecs appends to iov the non-empty buffers of bufs, the first
// off bytes of which are already written, up to maxIovecs of them, and
// returns how many bytes they hold and whether bufs has more.
func appendIovecs(iov []syscall.Iovec, bufs [][]byte, off int) ([]syscall.Iovec, int, bool) {
	n, size := 0, 0
	for i, b := range bufs {
		if i == 0 {
			b = b[off:]
		}
		if len(b) == 0 {
			continue
		}
		if n == maxIovecs {
			return iov, size, true
		}
		iov = append(iov, syscall.Iovec{Base: &b[0]})
		iov[len(iov)-1].SetLen(len(b))
		n++
		size += len(b)
	}
	return iov, size, false
}
