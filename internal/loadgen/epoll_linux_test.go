package loadgen

import (
	"bufio"
	"context"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/heraldhub/herald/internal/uring"
)

// tricklingServer answers event-stream requests, half of them with chunked
// transfer coding, and writes every frame one byte per write (and, chunked,
// one byte per chunk), so that a reader sees it split at every boundary.
type tricklingServer struct {
	ln    net.Listener
	mu    sync.Mutex
	conns []tricklingConn
	wg    sync.WaitGroup
}

type tricklingConn struct {
	c       net.Conn
	chunked bool
}

func newTricklingServer(t *testing.T) *tricklingServer {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &tricklingServer{ln: ln}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		for n := 0; ; n++ {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			if _, err := http.ReadRequest(bufio.NewReader(c)); err != nil {
				c.Close()
				continue
			}
			tc := tricklingConn{c: c, chunked: n%2 == 0}
			head := "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
			if tc.chunked {
				head += "Transfer-Encoding: chunked\r\n"
			}
			s.trickle(tc, head+"\r\n", false)
			s.mu.Lock()
			s.conns = append(s.conns, tc)
			s.mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		s.wg.Wait()
		s.mu.Lock()
		defer s.mu.Unlock()
		for _, tc := range s.conns {
			tc.c.Close()
		}
	})
	return s
}

// trickle writes text one byte per write, each byte a chunk of its own if
// body and the connection is chunked.
func (s *tricklingServer) trickle(tc tricklingConn, text string, body bool) {
	for i := range len(text) {
		b := text[i : i+1]
		if body && tc.chunked {
			b = "1\r\n" + b + "\r\n"
		}
		tc.c.Write([]byte(b))
	}
}

// publish writes one event to every stream, each in a goroutine of its own.
func (s *tricklingServer) publish(data string) {
	s.mu.Lock()
	conns := append([]tricklingConn(nil), s.conns...)
	s.mu.Unlock()
	frame := "id: x\ndata: " + data + "\r\n\n"
	var wg sync.WaitGroup
	for _, tc := range conns {
		wg.Go(func() { s.trickle(tc, frame, true) })
	}
	wg.Wait()
}

// uringOrSkip skips a test of the uring reader where io_uring is
// unavailable (it would read with read(2), as the epoll reader does).
func uringOrSkip(t *testing.T, reader string) {
	t.Helper()
	if reader != ReaderUring {
		return
	}
	r, err := uring.New(2)
	if err != nil {
		t.Skipf("io_uring unavailable here: %v", err)
	}
	r.Close()
}

func TestEpollReaderCountsFramesSplitAtEveryByteOnce(t *testing.T) {
	for _, reader := range []string{ReaderEpoll, ReaderUring} {
		t.Run(reader, func(t *testing.T) {
			uringOrSkip(t, reader)
			s := newTricklingServer(t)
			const subs, updates = 40, 30
			rep, err := Run(context.Background(), Config{
				SubscribeURL: "http://" + s.ln.Addr().String() + "/events", Subscribers: subs, Updates: updates, Rate: 500,
				Reader: reader, ReaderWorkers: 3, Drain: time.Minute, MaxDuration: 2 * time.Minute, // the drain ends once everything arrived
				Publish: func(_ context.Context, data string) error { s.publish(data); return nil },
			})
			if err != nil {
				t.Fatal(err)
			}
			if rep.Reader != reader || rep.Connected != subs || rep.Deliveries != subs*updates || rep.Lost != 0 || rep.Duplicated != 0 {
				t.Fatalf("reader %s: %d connected, %d deliveries, %d lost, %d duplicated; want %d connected, %d deliveries, none lost or duplicated",
					rep.Reader, rep.Connected, rep.Deliveries, rep.Lost, rep.Duplicated, subs, subs*updates)
			}
			if rep.GeneratorCPUSeconds <= 0 || rep.GeneratorCPUPerDeliver <= 0 {
				t.Fatalf("generator CPU %v s, %v µs per delivery: not measured", rep.GeneratorCPUSeconds, rep.GeneratorCPUPerDeliver)
			}
		})
	}
}

// A frame larger than the uring reader's slice of its buffer is read in
// several waits, and counted once.
func TestUringReaderReadsFramesLargerThanItsSlice(t *testing.T) {
	uringOrSkip(t, ReaderUring)
	b := &broadcaster{subs: map[chan string]struct{}{}}
	rep := runSized(t, b, 4, 20, ReaderUring, 3*uringSlice)
	if rep.Reader != ReaderUring || rep.Connected != 4 || rep.Deliveries != 80 || rep.Lost != 0 || rep.Duplicated != 0 {
		t.Fatalf("reader %s: %d connected, %d deliveries, %d lost, %d duplicated; want 4, 80, none lost or duplicated",
			rep.Reader, rep.Connected, rep.Deliveries, rep.Lost, rep.Duplicated)
	}
}

// Where io_uring is unavailable, the default reader reads with read(2)
// and the report names the epoll reader.
func TestUringReaderFallsBackToEpollWithoutIOURing(t *testing.T) {
	newRing = func(uint32) (*uring.Ring, error) { return nil, uring.ErrUnsupported }
	defer func() { newRing = uring.New }()
	b := &broadcaster{subs: map[chan string]struct{}{}}
	rep := runWith(t, b, 3, 10, "")
	if rep.Reader != ReaderEpoll || rep.Connected != 3 || rep.Deliveries != 30 || rep.Lost != 0 {
		t.Fatalf("reader %s: %d connected, %d deliveries, %d lost; want the epoll reader, 3, 30, 0", rep.Reader, rep.Connected, rep.Deliveries, rep.Lost)
	}
}

func TestEpollReaderReportsRefusalsLikeTheGoroutineReader(t *testing.T) {
	for _, reader := range []string{ReaderEpoll, ReaderUring, ReaderGoroutines} {
		uringOrSkip(t, reader)
		b := &broadcaster{subs: map[chan string]struct{}{}, refuseStreams: 2}
		rep := runWith(t, b, 5, 10, reader)
		if rep.Reader != reader || rep.Connected != 3 || rep.ConnectFailed != 2 || rep.ConnectError != "subscribe: 503 Service Unavailable" || rep.Deliveries != 30 || rep.Lost != 0 {
			t.Fatalf("%s: reader %s, %d connected, %d failed (%q), %d deliveries, %d lost; want 3, 2 with the 503, 30, 0",
				reader, rep.Reader, rep.Connected, rep.ConnectFailed, rep.ConnectError, rep.Deliveries, rep.Lost)
		}
	}
	if _, err := Run(context.Background(), Config{SubscribeURL: "http://127.0.0.1:1/", Reader: "threads"}); err == nil || !strings.Contains(err.Error(), `unknown reader "threads"`) {
		t.Fatalf("error %v, want the unknown reader named", err)
	}
}
