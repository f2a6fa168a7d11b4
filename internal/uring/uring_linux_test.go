package uring

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"syscall"
	"testing"
	"time"
)

// wait bounds every wait in these tests: a ring that parks a write fails
// the test instead of hanging it.
const wait = 10 * time.Second

func newRing(t *testing.T, entries uint32) *Ring {
	t.Helper()
	r, err := New(entries)
	if err != nil {
		t.Skipf("io_uring unavailable here: %v", err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

// pair returns both ends of a loopback TCP connection: the writer's end
// with a small send buffer, the reader's with a small receive buffer, so
// that the writer's socket fills after a few tens of kilobytes.
func pair(t *testing.T) (w *net.TCPConn, wfd int, rd *net.TCPConn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	s, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	w, rd = s.(*net.TCPConn), c.(*net.TCPConn)
	t.Cleanup(func() { w.Close(); rd.Close() })
	if err := w.SetWriteBuffer(8 << 10); err != nil {
		t.Fatal(err)
	}
	if err := rd.SetReadBuffer(8 << 10); err != nil {
		t.Fatal(err)
	}
	raw, err := w.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	raw.Control(func(fd uintptr) { wfd = int(fd) })
	return w, wfd, rd
}

func iovecs(bufs ...[]byte) []Iovec {
	iov := make([]Iovec, len(bufs))
	for i, b := range bufs {
		iov[i].Base = &b[0]
		iov[i].SetLen(len(b))
	}
	return iov
}

// submit submits what r holds and returns the results by userData. A
// Submit that does not return in time fails the test: it means the kernel
// parked a write instead of completing it.
func submit(t *testing.T, r *Ring, unpark func()) map[uint64]int32 {
	t.Helper()
	res := make(map[uint64]int32)
	errc := make(chan error, 1)
	go func() {
		errc <- r.Submit(func(ud uint64, n int32) {
			if _, dup := res[ud]; dup {
				n = -1 << 30 // reported twice: the caller's check fails
			}
			res[ud] = n
		})
	}()
	select {
	case err := <-errc:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(wait):
		unpark()
		<-errc
		t.Fatal("Submit waited: a request was parked until its socket was ready instead of completing with -EAGAIN")
	}
	return res
}

// One Submit writes to several sockets and reports each result under the
// user data its write was queued with.
func TestOneSubmitWritesEachSocketAndReportsByUserData(t *testing.T) {
	r := newRing(t, 8)
	var readers []*net.TCPConn
	var iovs [][]Iovec
	for i := range 5 {
		_, fd, rd := pair(t)
		readers = append(readers, rd)
		iov := iovecs([]byte(fmt.Sprintf("head %d|", i)), []byte(fmt.Sprintf("body %d", i)))
		iovs = append(iovs, iov) // kept reachable until Submit returns
		if !r.PrepWritev(fd, iov, uint64(100+i)) {
			t.Fatalf("no room for write %d in a ring of 8", i)
		}
	}
	if got := r.Space(); got != 3 {
		t.Fatalf("Space() = %d with 5 of 8 queued, want 3", got)
	}
	res := submit(t, r, func() {})
	for i, rd := range readers {
		want := fmt.Sprintf("head %d|body %d", i, i)
		if n := res[uint64(100+i)]; n != int32(len(want)) {
			t.Fatalf("write %d completed with %d, want %d (all results %v)", i, n, len(want), res)
		}
		rd.SetReadDeadline(time.Now().Add(wait))
		got := make([]byte, len(want))
		if _, err := io.ReadFull(rd, got); err != nil || string(got) != want {
			t.Fatalf("socket %d read %q (%v), want %q", i, got, err, want)
		}
	}
	if len(res) != 5 {
		t.Fatalf("%d completions reported, want 5: %v", len(res), res)
	}
	if got := r.Space(); got != 8 {
		t.Fatalf("Space() = %d after Submit, want 8", got)
	}
}

// A ring takes no more writes than it has entries for.
func TestPrepWritevRefusesBeyondTheRingSize(t *testing.T) {
	r := newRing(t, 2)
	_, fd, _ := pair(t)
	iov := iovecs([]byte("x"))
	for i := range r.Space() {
		if !r.PrepWritev(fd, iov, uint64(i)) {
			t.Fatalf("write %d refused with room left", i)
		}
	}
	if r.PrepWritev(fd, iov, 99) {
		t.Fatal("a write beyond the ring's entries was queued")
	}
	if res := submit(t, r, func() {}); len(res) != 2 {
		t.Fatalf("%d completions, want 2: %v", len(res), res)
	}
}

// A non-blocking socket's write completes as writev(2) returns: the bytes
// that fit when the buffer fills (a partial write), -EAGAIN while it is
// full, never parked until there is room; once the reader takes bytes,
// the next write goes on where the last stopped.
func TestFullSocketCompletesPartialThenEAGAIN(t *testing.T) {
	r := newRing(t, 4)
	_, fd, rd := pair(t)
	data := bytes.Repeat([]byte("0123456789abcdef"), 1<<16) // 1 MiB
	unpark := func() { go io.Copy(io.Discard, rd) }

	res := submit(t, r, func() {})
	if len(res) != 0 {
		t.Fatalf("an empty Submit reported %v", res)
	}
	iov := iovecs(data[:len(data)/2], data[len(data)/2:])
	r.PrepWritev(fd, iov, 1)
	n := submit(t, r, unpark)[1]
	if n <= 0 || int(n) >= len(data) {
		t.Fatalf("the first write completed with %d, want a partial write of 1..%d bytes", n, len(data)-1)
	}
	sent := int(n)
	// The kernel may still move bytes to the reader's side: write on
	// until the socket refuses, each write taking part of the rest.
	var rest []Iovec
	for i := 0; ; i++ {
		rest = iovecs(data[sent:])
		r.PrepWritev(fd, rest, 2)
		n := submit(t, r, unpark)[2]
		if n == -int32(syscall.EAGAIN) {
			break
		}
		if n <= 0 || sent+int(n) >= len(data) || i == 1000 {
			t.Fatalf("write %d to a socket nobody reads completed with %d after %d bytes, want a partial write or -EAGAIN", i, n, sent)
		}
		sent += int(n)
	}

	// The reader takes everything sent so far: the socket has room again.
	rd.SetReadDeadline(time.Now().Add(wait))
	got := make([]byte, sent)
	if _, err := io.ReadFull(rd, got); err != nil || !bytes.Equal(got, data[:sent]) {
		t.Fatalf("the reader got other bytes than the partial write's (%v)", err)
	}
	deadline := time.Now().Add(wait)
	for {
		r.PrepWritev(fd, rest, 3)
		n := submit(t, r, unpark)[3]
		if n > 0 {
			break
		}
		if n != -int32(syscall.EAGAIN) || time.Now().After(deadline) {
			t.Fatalf("after the reader emptied the socket a write completed with %d", n)
		}
		time.Sleep(time.Millisecond) // the kernel frees the buffer as ACKs come: no event to await
	}
}

// A write to a connection the peer reset completes with the error.
func TestWriteToAResetConnectionReportsTheError(t *testing.T) {
	r := newRing(t, 4)
	_, fd, rd := pair(t)
	rd.SetLinger(0) // close with a reset
	rd.Close()
	iov := iovecs([]byte("hello"))
	deadline := time.Now().Add(wait)
	for {
		r.PrepWritev(fd, iov, 7)
		n := submit(t, r, func() {})[7]
		if n < 0 {
			if e := syscall.Errno(-n); !errors.Is(e, syscall.ECONNRESET) && !errors.Is(e, syscall.EPIPE) {
				t.Fatalf("write completed with %v, want ECONNRESET or EPIPE", e)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("writes to a reset connection kept succeeding")
		}
		time.Sleep(time.Millisecond) // the reset arrives asynchronously
	}
}

// readerFD returns the raw descriptor of rd's socket.
func readerFD(t *testing.T, rd *net.TCPConn) int {
	t.Helper()
	raw, err := rd.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var fd int
	raw.Control(func(f uintptr) { fd = int(f) })
	return fd
}

// One Submit reads from several sockets, each into its own buffer, and
// reports each result under the user data its recv was queued with; a
// socket that holds nothing completes at once with -EAGAIN instead of
// holding the batch until data arrives.
func TestOneSubmitReadsEachSocketAndEAGAINForAnEmptyOne(t *testing.T) {
	r := newRing(t, 8)
	bufs := make([][]byte, 4)
	var writers []*net.TCPConn
	for i := range bufs {
		w, _, rd := pair(t)
		writers = append(writers, w)
		bufs[i] = make([]byte, 64)
		if i < 3 {
			msg := fmt.Sprintf("event %d", i)
			if _, err := w.Write([]byte(msg)); err != nil {
				t.Fatal(err)
			}
			awaitReadable(t, rd)
		}
		if !r.PrepRecv(readerFD(t, rd), bufs[i], uint64(200+i)) {
			t.Fatalf("no room for read %d in a ring of 8", i)
		}
	}
	res := submit(t, r, func() {
		for _, w := range writers {
			w.Write([]byte("x"))
		}
	})
	if len(res) != 4 {
		t.Fatalf("%d completions reported, want 4: %v", len(res), res)
	}
	for i := range 3 {
		want := fmt.Sprintf("event %d", i)
		if n := res[uint64(200+i)]; n != int32(len(want)) || string(bufs[i][:n]) != want {
			t.Fatalf("read %d completed with %d (%q), want %q (all results %v)", i, n, bufs[i][:max(n, 0)], want, res)
		}
	}
	if n := res[203]; n != -int32(syscall.EAGAIN) {
		t.Fatalf("a read from an empty socket completed with %d, want -EAGAIN", n)
	}
}

// awaitReadable waits until c holds bytes to read, leaving them there for
// the ring (a blocking MSG_PEEK through the runtime's poller).
func awaitReadable(t *testing.T, c *net.TCPConn) {
	t.Helper()
	raw, err := c.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	c.SetReadDeadline(time.Now().Add(wait))
	var opErr error
	err = raw.Read(func(fd uintptr) bool {
		_, _, opErr = syscall.Recvfrom(int(fd), make([]byte, 1), syscall.MSG_PEEK)
		return opErr != syscall.EAGAIN
	})
	if err != nil || opErr != nil {
		t.Fatalf("waiting for bytes to read: %v %v", err, opErr)
	}
}

// A read from a socket whose peer closed reports what was left, then 0:
// the end of the stream.
func TestReadAfterThePeerClosedReportsTheRestThenEOF(t *testing.T) {
	r := newRing(t, 4)
	w, _, rd := pair(t)
	if _, err := w.Write([]byte("last")); err != nil {
		t.Fatal(err)
	}
	w.Close()
	fd := readerFD(t, rd)
	buf := make([]byte, 64)
	var got []byte
	deadline := time.Now().Add(wait)
	for {
		r.PrepRecv(fd, buf, 9)
		n := submit(t, r, func() {})[9]
		switch {
		case n == 0:
			if string(got) != "last" {
				t.Fatalf("read %q before the end, want %q", got, "last")
			}
			return
		case n > 0:
			got = append(got, buf[:n]...)
		case n != -int32(syscall.EAGAIN):
			t.Fatalf("read completed with %v, want the bytes and then 0", syscall.Errno(-n))
		}
		if time.Now().After(deadline) {
			t.Fatalf("no end of stream after %q", got)
		}
		time.Sleep(time.Millisecond) // the bytes and the FIN arrive asynchronously
	}
}
