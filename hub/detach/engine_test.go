//go:build linux

package detach

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http/httputil"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/heraldhub/herald/internal/uring"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// wait bounds every wait in these tests: a broken engine fails, never hangs.
const wait = 10 * time.Second

// queue is a Queue a test fills.
type queue struct {
	mu       sync.Mutex
	bufs     [][]byte
	overflow bool
}

func (q *queue) Take(bufs [][]byte) ([][]byte, bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	bufs = append(bufs, q.bufs...)
	q.bufs = nil
	return bufs, q.overflow
}

func (q *queue) Overflowed() bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.overflow
}

func (q *queue) push(b []byte) {
	q.mu.Lock()
	q.bufs = append(q.bufs, b)
	q.mu.Unlock()
}

func (q *queue) kick() {
	q.mu.Lock()
	q.overflow, q.bufs = true, nil
	q.mu.Unlock()
}

// served is one adopted stream: the client's end of the connection, the
// engine's Stream and why it ended.
type served struct {
	client net.Conn
	body   io.Reader // the chunked body, decoded
	q      *queue
	s      *Stream
	ended  chan error
}

// writer is the Config.Writer of the engines the tests start: the
// default (io_uring where available); TestEpollWriter sets it to run the
// engine tests with one writev per stream too.
var writer string

// newEngine starts an engine with cfg and the tests' writer, and checks
// that it writes as asked.
func newEngine(t *testing.T, cfg Config) *Engine {
	t.Helper()
	cfg.Writer = writer
	e, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.Close)
	if w, err := e.Writer(); writer != "" && w != writer {
		t.Fatalf("the engine writes with %s (%v), want %s", w, err, writer)
	}
	return e
}

// startEngine starts an engine that writes every update at once.
func startEngine(t *testing.T, farewell string) *Engine {
	t.Helper()
	return newEngine(t, Config{Policy: Policy{BatchWindow: -1, Heartbeat: -1, WriteTimeout: wait}, Farewell: func() []byte { return []byte(farewell) }, Writers: 2, Flushers: 1})
}

// adopt connects a client to a loopback listener, with a small receive
// buffer if stuck, and has e serve the server's end.
func adopt(t *testing.T, e *Engine, stuck bool) *served {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	d := net.Dialer{Control: func(_, _ string, c syscall.RawConn) error {
		if !stuck {
			return nil
		}
		var serr error
		err := c.Control(func(fd uintptr) {
			serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4<<10)
		})
		return errors.Join(err, serr)
	}}
	client, err := d.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { client.Close() })
	conn, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	if err := conn.(*net.TCPConn).SetWriteBuffer(16 << 10); err != nil {
		t.Fatal(err)
	}
	sv := &served{client: client, body: httputil.NewChunkedReader(bufio.NewReader(client)), q: &queue{}, ended: make(chan error, 1)}
	sv.s, err = e.Adopt(conn, sv.q, time.Time{}, func(why error) { sv.ended <- why })
	if err != nil {
		t.Fatal(err)
	}
	return sv
}

// send queues b for sv and has a flusher write it.
func (sv *served) send(e *Engine, b []byte) {
	sv.q.push(b)
	m := e.NewMarks()
	m.Add(sv.s)
	m.Hand()
}

// readBody reads want bytes of chunked body from sv's client.
func (sv *served) readBody(t *testing.T, want int) []byte {
	t.Helper()
	sv.client.SetReadDeadline(time.Now().Add(wait))
	got := make([]byte, want)
	if _, err := io.ReadFull(sv.body, got); err != nil {
		t.Fatalf("reading %d bytes of body: %v", want, err)
	}
	return got
}

func (sv *served) waitEnded(t *testing.T) error {
	t.Helper()
	select {
	case err := <-sv.ended:
		return err
	case <-time.After(wait):
		t.Fatal("the stream did not end in time")
	}
	return nil
}

// Queued bytes reach the client as one chunk; closing the engine sends the
// farewell and ends the body.
func TestQueuedBytesAreOneChunkAndCloseSaysFarewell(t *testing.T) {
	e := startEngine(t, "retry: 2000\n\n")
	sv := adopt(t, e, false)
	sv.q.push([]byte("data: a\n\n"))
	sv.send(e, []byte("data: bc\n\n"))
	sv.client.SetReadDeadline(time.Now().Add(wait))
	want := "13\r\ndata: a\n\ndata: bc\n\n\r\n"
	got := make([]byte, len(want))
	if _, err := io.ReadFull(sv.client, got); err != nil || string(got) != want {
		t.Fatalf("got %q (%v), want %q", got, err, want)
	}
	e.Close()
	rest, err := io.ReadAll(sv.client)
	if want := "d\r\nretry: 2000\n\n\r\n" + LastChunk; err != nil || string(rest) != want {
		t.Fatalf("after Close got %q (%v), want %q", rest, err, want)
	}
	if err := sv.waitEnded(t); !errors.Is(err, ErrClosed) {
		t.Fatalf("ended with %v, want ErrClosed", err)
	}
}

// Updates still queued when the engine closes are written before the
// farewell, and each stream gets a farewell of its own.
func TestCloseWritesWhatIsQueuedBeforeEachFarewell(t *testing.T) {
	n := 0
	e := newEngine(t, Config{
		Policy:   Policy{BatchWindow: -1, Heartbeat: -1, WriteTimeout: wait},
		Farewell: func() []byte { n++; return fmt.Appendf(nil, "retry: %d\n\n", 1000+n) },
		Writers:  2, Flushers: 1,
	})
	a, b := adopt(t, e, false), adopt(t, e, false)
	a.q.push([]byte("data: pending\n\n")) // queued, never marked for a flusher
	e.Close()
	var farewells []string
	for i, sv := range []*served{a, b} {
		sv.client.SetReadDeadline(time.Now().Add(wait))
		rest, err := io.ReadAll(sv.body)
		if err != nil {
			t.Fatalf("stream %d: %v", i, err)
		}
		got := string(rest)
		if i == 0 {
			if !strings.HasPrefix(got, "data: pending\n\n") {
				t.Fatalf("stream with a queued update got %q after Close, want the update before the farewell", got)
			}
			got = strings.TrimPrefix(got, "data: pending\n\n")
		}
		if !strings.HasPrefix(got, "retry: 100") {
			t.Fatalf("stream %d got %q after Close, want a farewell", i, got)
		}
		farewells = append(farewells, got)
	}
	if farewells[0] == farewells[1] {
		t.Fatalf("both streams got the farewell %q, want one each", farewells[0])
	}
}

// A client whose socket is full costs the others nothing: their bytes are
// written at once, and it ends by its own queue's overflow alone.
func TestAFullSocketDoesNotHoldUpTheOthers(t *testing.T) {
	e := startEngine(t, "")
	stuck := adopt(t, e, true)
	reader := adopt(t, e, false)
	big := bytes.Repeat([]byte("x"), 1<<20)
	stuck.send(e, big)
	for i := range 20 {
		stuck.send(e, big) // stays queued: the socket is full
		msg := bytes.Repeat([]byte{byte('a' + i)}, 64<<10)
		reader.send(e, msg)
		if got := reader.readBody(t, len(msg)); !bytes.Equal(got, msg) {
			t.Fatalf("update %d: the reader got other bytes", i)
		}
	}
	if d := e.Stats().Deferred; d == 0 {
		t.Fatal("no write was refused: the stuck client's socket never filled, the test proves nothing")
	}
	select {
	case err := <-stuck.ended:
		t.Fatalf("the stuck client ended (%v) before its queue overflowed", err)
	default:
	}
	stuck.q.kick()
	stuck.s.Wake()
	if err := stuck.waitEnded(t); !errors.Is(err, ErrSlow) {
		t.Fatalf("the stuck client ended with %v, want ErrSlow", err)
	}
}

// Closing does not wait for clients whose sockets are full.
func TestCloseDoesNotWaitForFullSockets(t *testing.T) {
	e := startEngine(t, "retry: 2000\n\n")
	var stuck []*served
	for range 20 {
		sv := adopt(t, e, true)
		sv.send(e, bytes.Repeat([]byte("x"), 1<<20))
		stuck = append(stuck, sv)
	}
	deadline := time.Now().Add(wait)
	for e.Stats().Deferred < uint64(len(stuck)) {
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d sockets refused bytes", e.Stats().Deferred, len(stuck))
		}
		time.Sleep(time.Millisecond) // polling: the counter has no signal
	}
	start := time.Now()
	e.Close()
	if took := time.Since(start); took > time.Second {
		t.Fatalf("Close with %d full sockets took %v", len(stuck), took)
	}
	for _, sv := range stuck {
		if err := sv.waitEnded(t); !errors.Is(err, ErrClosed) {
			t.Fatalf("ended with %v, want ErrClosed", err)
		}
	}
}

// A chunk of more frames than one write passes to the kernel reaches the
// client whole, without waiting for the socket to report room it never
// lacked.
func TestAChunkOfManyFramesIsWrittenWhole(t *testing.T) {
	e := startEngine(t, "")
	sv := adopt(t, e, false)
	var want []byte
	for i := range 3 * maxIovecs {
		frame := fmt.Appendf(nil, "data: %d\n\n", i)
		want = append(want, frame...)
		sv.q.push(frame)
	}
	sv.send(e, []byte("data: last\n\n"))
	want = append(want, "data: last\n\n"...)
	if got := sv.readBody(t, len(want)); !bytes.Equal(got, want) {
		t.Fatalf("the client got %q, want %q", got, want)
	}
}

// One flusher round over more streams than one submission holds writes
// each stream its own bytes.
func TestARoundOverManyStreamsWritesEachItsOwn(t *testing.T) {
	e := startEngine(t, "")
	var all []*served
	for range 300 {
		all = append(all, adopt(t, e, false))
	}
	m := e.NewMarks()
	for i, sv := range all {
		sv.q.push(fmt.Appendf(nil, "data: stream %d\n\n", i))
		m.Add(sv.s)
	}
	m.Hand()
	for i, sv := range all {
		want := fmt.Sprintf("data: stream %d\n\n", i)
		if got := sv.readBody(t, len(want)); string(got) != want {
			t.Fatalf("stream %d got %q, want %q", i, got, want)
		}
	}
}

// Where io_uring is available, flushers submit their writes through it
// unless told otherwise: the tests above ran with it.
func TestIOURingIsTheDefaultWriter(t *testing.T) {
	e, err := New(Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	if w, why := e.Writer(); w != WriterIOURing {
		if why == nil {
			t.Fatalf("the default engine writes with %s, and says no reason", w)
		}
		t.Skipf("io_uring is unavailable here: %v", why)
	}
}

// TestEpollWriter runs the engine tests again with one writev per
// stream.
func TestEpollWriter(t *testing.T) {
	writer = WriterEpoll
	defer func() { writer = "" }()
	for name, test := range map[string]func(*testing.T){
		"one chunk":    TestQueuedBytesAreOneChunkAndCloseSaysFarewell,
		"close":        TestCloseWritesWhatIsQueuedBeforeEachFarewell,
		"full socket":  TestAFullSocketDoesNotHoldUpTheOthers,
		"close fast":   TestCloseDoesNotWaitForFullSockets,
		"many frames":  TestAChunkOfManyFramesIsWrittenWhole,
		"many streams": TestARoundOverManyStreamsWritesEachItsOwn,
	} {
		t.Run(name, test)
	}
}

// An unknown writer is refused.
func TestUnknownWriterIsRefused(t *testing.T) {
	if _, err := New(Config{Writer: "aio"}); err == nil || !strings.Contains(err.Error(), "aio") {
		t.Fatalf("New with writer aio returned %v, want an error naming it", err)
	}
}

// An engine asked for io_uring where it cannot be set up writes with
// writev, and says why.
func TestWithoutIOURingTheEngineWritesWithWritev(t *testing.T) {
	defer func(f func() (*uring.Ring, error)) { newRing = f }(newRing)
	calls := 0
	setup := newRing
	newRing = func() (*uring.Ring, error) { // the second flusher's ring fails
		if calls++; calls == 1 {
			return setup()
		}
		return nil, fmt.Errorf("io_uring_setup: %w", syscall.EPERM)
	}
	e, err := New(Config{Policy: Policy{BatchWindow: -1, Heartbeat: -1, WriteTimeout: wait}, Writers: 1, Flushers: 2, Writer: WriterIOURing})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.Close)
	if w, why := e.Writer(); w != WriterEpoll || !errors.Is(why, syscall.EPERM) {
		t.Fatalf("Writer() = %s, %v; want epoll and the reason io_uring failed", w, why)
	}
	sv := adopt(t, e, false)
	sv.send(e, []byte("data: a\n\n"))
	if got := sv.readBody(t, 9); string(got) != "data: a\n\n" {
		t.Fatalf("the client got %q", got)
	}
}

// same is a Queue that always has the same frame queued.
type same []byte

func (q same) Take(bufs [][]byte) ([][]byte, bool) { return append(bufs, q), false }
func (q same) Overflowed() bool                    { return false }

// A batch of writes allocates nothing per stream: a round over thousands
// of streams costs no garbage.
func TestABatchAllocatesNothingPerStream(t *testing.T) {
	e := startEngine(t, "")
	b, err := newBatch()
	if err != nil {
		t.Skipf("io_uring is unavailable here: %v", err)
	}
	defer b.close()
	var ds []*Stream
	for range 32 {
		sv := adopt(t, e, false)
		sv.s.mu.Lock()
		sv.s.q = same("data: x\n\n")
		sv.s.mu.Unlock()
		ds = append(ds, sv.s)
	}
	round := make([]*Stream, len(ds))
	allocs := testing.AllocsPerRun(50, func() {
		copy(round, ds)
		if err := e.writeBatch(b, round); err != nil {
			t.Fatal(err)
		}
	})
	if allocs >= 1 {
		t.Fatalf("a batch of %d writes allocates %.1f times, want none", len(ds), allocs)
	}
}

// A connection handed to an engine that is closing is refused, so that its
// caller ends it with the others: adopted then, it would be in no
// snapshot of close and stay open.
func TestAdoptAfterCloseIsRefused(t *testing.T) {
	e := startEngine(t, "bye")
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	client, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	conn, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	e.Close()
	if s, err := e.Adopt(conn, &queue{}, time.Time{}, nil); !errors.Is(err, ErrClosed) || s != nil {
		t.Fatalf("Adopt after Close: %v, %v; want ErrClosed", s, err)
	}
}
