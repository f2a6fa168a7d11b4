package uring

import (
	"fmt"
	"sync/atomic"
	"syscall"
	"unsafe"
)

// Iovec is one buffer of a writev.
type Iovec = syscall.Iovec

// The kernel's ABI (include/uapi/linux/io_uring.h).
const (
	sysSetup = 425
	sysEnter = 426

	opWritev = 2
	opRecv   = 27

	// msgDontwait (MSG_DONTWAIT) does for a recv what rwfNowait does for
	// a write: an empty socket completes it with -EAGAIN instead of
	// parking it until data arrives.
	msgDontwait = 0x40

	// rwfNowait (RWF_NOWAIT) makes a write that cannot proceed at once
	// complete with -EAGAIN. A socket's O_NONBLOCK is not enough: without
	// the flag the kernel (6.18 here) parks a write to a full socket until
	// it has room, and Submit would wait for the slowest client.
	rwfNowait = 0x8

	enterGetEvents = 1 << 0

	setupSubmitAll = 1 << 7 // submit every SQE even if one fails early

	offSQRing = 0
	offCQRing = 0x8000000
	offSQEs   = 0x10000000
)

type sqringOffsets struct {
	head, tail, ringMask, ringEntries, flags, dropped, array, resv1 uint32
	userAddr                                                        uint64
}

type cqringOffsets struct {
	head, tail, ringMask, ringEntries, overflow, cqes, flags, resv1 uint32
	userAddr                                                        uint64
}

type params struct {
	sqEntries, cqEntries, flags, sqThreadCPU, sqThreadIdle, features, wqFd uint32
	resv                                                                   [3]uint32
	sqOff                                                                  sqringOffsets
	cqOff                                                                  cqringOffsets
}

// sqe is a submission queue entry, as the kernel reads it.
type sqe struct {
	opcode      uint8
	flags       uint8
	ioprio      uint16
	fd          int32
	off         uint64
	addr        uint64
	len         uint32
	rwFlags     uint32
	userData    uint64
	bufIndex    uint16
	personality uint16
	spliceFdIn  int32
	addr3       uint64
	pad         uint64
}

// cqe is a completion queue entry, as the kernel writes it.
type cqe struct {
	userData uint64
	res      int32
	flags    uint32
}

func init() {
	// The layout must match the kernel's to the byte.
	if unsafe.Sizeof(params{}) != 120 || unsafe.Sizeof(sqe{}) != 64 || unsafe.Sizeof(cqe{}) != 16 {
		panic("uring: struct layout does not match the kernel's")
	}
}

// Ring is one io_uring instance: a submission queue the caller fills
// with PrepWritev and PrepRecv, and Submit, which hands it to the kernel and reports
// every completion. A Ring belongs to one goroutine at a time.
type Ring struct {
	fd     int
	sqMap  []byte
	cqMap  []byte
	sqeMap []byte

	sqHead, sqTail *uint32
	sqMask         uint32
	sqEntries      uint32
	sqes           []sqe

	cqHead, cqTail *uint32
	cqMask         uint32
	cqes           []cqe

	queued uint32 // SQEs prepared since the last Submit
}

// New sets up a ring with room for entries submissions at once (a power of
// two the kernel may round up). It fails where io_uring is unavailable:
// ENOSYS on old kernels, EPERM when it is disabled
// (/proc/sys/kernel/io_uring_disabled) or filtered by seccomp.
func New(entries uint32) (*Ring, error) {
	var p params
	p.flags = setupSubmitAll
	fd, _, errno := syscall.Syscall(sysSetup, uintptr(entries), uintptr(unsafe.Pointer(&p)), 0)
	if errno == syscall.EINVAL {
		// Kernels before 5.18 know no IORING_SETUP_SUBMIT_ALL: without it
		// a submission that fails early ends the batch, which Submit
		// handles too.
		p = params{}
		fd, _, errno = syscall.Syscall(sysSetup, uintptr(entries), uintptr(unsafe.Pointer(&p)), 0)
	}
	if errno != 0 {
		return nil, fmt.Errorf("io_uring_setup: %w", errno)
	}
	r := &Ring{fd: int(fd)}
	if err := r.mmap(&p); err != nil {
		r.Close()
		return nil, err
	}
	if err := r.probe(); err != nil {
		r.Close()
		return nil, err
	}
	return r, nil
}

// probe checks that the kernel takes a write that must not wait
// (RWF_NOWAIT) to a socket, and a recv from one: older kernels refuse
// the flag there, or know no recv, and every such request would then
// fail.
func (r *Ring) probe() error {
	fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM|syscall.SOCK_NONBLOCK|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("io_uring probe: %w", err)
	}
	defer syscall.Close(fds[0])
	defer syscall.Close(fds[1])
	b := []byte{0}
	iov := []Iovec{{Base: &b[0]}}
	iov[0].SetLen(1)
	r.PrepWritev(fds[0], iov, 0)
	var res int32
	if err := r.Submit(func(_ uint64, n int32) { res = n }); err != nil {
		return err
	}
	if res != 1 {
		return fmt.Errorf("io_uring cannot write to a socket without waiting on this kernel: %w", syscall.Errno(-res))
	}
	// The byte written is there to read: a kernel without IORING_OP_RECV
	// (before 5.6) fails this with -EINVAL.
	r.PrepRecv(fds[1], b, 0)
	if err := r.Submit(func(_ uint64, n int32) { res = n }); err != nil {
		return err
	}
	if res != 1 {
		return fmt.Errorf("io_uring cannot read from a socket on this kernel: %w", syscall.Errno(-res))
	}
	return nil
}

func (r *Ring) mmap(p *params) error {
	var err error
	sqSize := int(p.sqOff.array) + int(p.sqEntries)*4
	cqSize := int(p.cqOff.cqes) + int(p.cqEntries)*int(unsafe.Sizeof(cqe{}))
	const prot, flags = syscall.PROT_READ | syscall.PROT_WRITE, syscall.MAP_SHARED | syscall.MAP_POPULATE
	if r.sqMap, err = syscall.Mmap(r.fd, offSQRing, sqSize, prot, flags); err != nil {
		return fmt.Errorf("io_uring: map the submission ring: %w", err)
	}
	if r.cqMap, err = syscall.Mmap(r.fd, offCQRing, cqSize, prot, flags); err != nil {
		return fmt.Errorf("io_uring: map the completion ring: %w", err)
	}
	sqeSize := int(p.sqEntries) * int(unsafe.Sizeof(sqe{}))
	if r.sqeMap, err = syscall.Mmap(r.fd, offSQEs, sqeSize, prot, flags); err != nil {
		return fmt.Errorf("io_uring: map the submission entries: %w", err)
	}
	sq, cq := unsafe.Pointer(&r.sqMap[0]), unsafe.Pointer(&r.cqMap[0])
	r.sqHead = (*uint32)(unsafe.Add(sq, p.sqOff.head))
	r.sqTail = (*uint32)(unsafe.Add(sq, p.sqOff.tail))
	r.sqMask = *(*uint32)(unsafe.Add(sq, p.sqOff.ringMask))
	r.sqEntries = p.sqEntries
	r.sqes = unsafe.Slice((*sqe)(unsafe.Pointer(&r.sqeMap[0])), p.sqEntries)
	// Entry i of the submission ring always names SQE i: the ring's
	// index array is filled once.
	array := unsafe.Slice((*uint32)(unsafe.Add(sq, p.sqOff.array)), p.sqEntries)
	for i := range array {
		array[i] = uint32(i)
	}
	r.cqHead = (*uint32)(unsafe.Add(cq, p.cqOff.head))
	r.cqTail = (*uint32)(unsafe.Add(cq, p.cqOff.tail))
	r.cqMask = *(*uint32)(unsafe.Add(cq, p.cqOff.ringMask))
	r.cqes = unsafe.Slice((*cqe)(unsafe.Add(cq, p.cqOff.cqes)), p.cqEntries)
	return nil
}

// Close releases the ring. Nothing may be in flight.
func (r *Ring) Close() error {
	for _, m := range [][]byte{r.sqeMap, r.cqMap, r.sqMap} {
		if m != nil {
			syscall.Munmap(m)
		}
	}
	r.sqeMap, r.cqMap, r.sqMap = nil, nil, nil
	return syscall.Close(r.fd)
}

// Space returns how many more submissions fit before Submit.
func (r *Ring) Space() int { return int(r.sqEntries - r.queued) }

// PrepWritev queues a writev of iov to fd, whose completion Submit reports
// with userData. The buffers, and iov itself, must stay unchanged and
// reachable until Submit returns. It reports false, queuing nothing, when
// the ring is full: Submit first.
func (r *Ring) PrepWritev(fd int, iov []Iovec, userData uint64) bool {
	var addr uint64
	if len(iov) > 0 {
		addr = uint64(uintptr(unsafe.Pointer(&iov[0])))
	}
	return r.prep(sqe{opcode: opWritev, fd: int32(fd), addr: addr, len: uint32(len(iov)), rwFlags: rwfNowait, userData: userData})
}

// PrepRecv queues a recv of up to len(buf) bytes from the socket fd into
// buf, whose completion Submit reports with userData: the bytes read, 0 at
// the end of the stream, -EAGAIN at once when the socket holds nothing
// (MSG_DONTWAIT), or another negated errno. Buf must stay reachable until
// Submit returns. It reports false, queuing nothing, when the ring is
// full: Submit first.
func (r *Ring) PrepRecv(fd int, buf []byte, userData uint64) bool {
	var addr uint64
	if len(buf) > 0 {
		addr = uint64(uintptr(unsafe.Pointer(&buf[0])))
	}
	return r.prep(sqe{opcode: opRecv, fd: int32(fd), addr: addr, len: uint32(len(buf)), rwFlags: msgDontwait, userData: userData})
}

// prep queues e, unless the ring is full.
func (r *Ring) prep(e sqe) bool {
	if r.queued == r.sqEntries {
		return false
	}
	tail := atomic.LoadUint32(r.sqTail) + r.queued
	r.sqes[tail&r.sqMask] = e
	r.queued++
	return true
}

// Submit hands the queued submissions to the kernel with one system call,
// waits until each has completed, and calls done for each completion with
// its userData and result: bytes written or read (0: the stream ended),
// or a negated errno (-EAGAIN for a socket that took or held nothing). Done is called once per queued submission,
// in completion order, also when Submit fails: the submissions the kernel
// did not take are then reported with -ECANCELED. An error means the ring
// itself failed and must be closed.
//
// The system call is made raw, as a write to a non-blocking socket is:
// writes and reads that must not wait complete within it, so the goroutine keeps
// its thread and P throughout, and the scheduler neither hands the P to
// another thread nor wakes one for it (which, per batch, cost more than
// the batch saved).
func (r *Ring) Submit(done func(userData uint64, res int32)) error {
	want := r.queued
	if want == 0 {
		return nil
	}
	// The SQEs written before this store are published with it.
	tail := atomic.LoadUint32(r.sqTail) + want
	atomic.StoreUint32(r.sqTail, tail)
	r.queued = 0
	pending, got := want, uint32(0)
	for got < want {
		n, _, errno := syscall.RawSyscall6(sysEnter, uintptr(r.fd), uintptr(pending), uintptr(want-got), enterGetEvents, 0, 0)
		switch errno {
		case 0:
			pending -= min(uint32(n), pending)
		case syscall.EINTR, syscall.EAGAIN, syscall.EBUSY:
			// Interrupted, or short of memory for a moment: try again.
		default:
			got += r.reap(done)
			return r.fail(done, want-got, fmt.Errorf("io_uring_enter: %w", errno))
		}
		got += r.reap(done)
	}
	return nil
}

// fail completes the submissions the kernel did not take with
// -ECANCELED, and waits, as far as the ring still answers, for the
// missing of those it took.
func (r *Ring) fail(done func(uint64, int32), missing uint32, err error) error {
	head := atomic.LoadUint32(r.sqHead)
	for i := head; i != atomic.LoadUint32(r.sqTail); i++ {
		done(r.sqes[i&r.sqMask].userData, -int32(syscall.ECANCELED))
		missing--
	}
	atomic.StoreUint32(r.sqTail, head)
	for missing > 0 {
		if _, _, errno := syscall.Syscall6(sysEnter, uintptr(r.fd), 0, uintptr(missing), enterGetEvents, 0, 0); errno != 0 && errno != syscall.EINTR {
			break
		}
		missing -= r.reap(done)
	}
	return err
}

// reap reports the completions the kernel has posted and frees their
// slots.
func (r *Ring) reap(done func(uint64, int32)) uint32 {
	head := atomic.LoadUint32(r.cqHead)
	tail := atomic.LoadUint32(r.cqTail)
	for i := head; i != tail; i++ {
		c := r.cqes[i&r.cqMask]
		done(c.userData, c.res)
	}
	atomic.StoreUint32(r.cqHead, tail)
	return tail - head
}
