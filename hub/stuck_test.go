//go:build linux

package hub

import (
	"errors"
	"net"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/heraldhub/herald/eventlog"
)

// smallSendBuffers gives every connection ln accepts a send buffer of a
// size a real network gives (over loopback, whose 64 KiB segments make the
// kernel grant megabytes, a client that never reads would otherwise take
// seconds of CPU to fill up).
type smallSendBuffers struct{ net.Listener }

func (l smallSendBuffers) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	if tc, ok := c.(*net.TCPConn); ok {
		if err := tc.SetWriteBuffer(16 << 10); err != nil {
			c.Close()
			return nil, err
		}
	}
	return c, nil
}

// stuckClients opens n connections that subscribe to topic and then never
// read, each with a small receive buffer, so that their sockets fill after
// a few kilobytes. They are closed when the test ends.
func stuckClients(t *testing.T, addr, topic string, n int) []net.Conn {
	t.Helper()
	d := net.Dialer{Control: func(_, _ string, c syscall.RawConn) error {
		var serr error
		err := c.Control(func(fd uintptr) {
			serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4<<10)
		})
		return errors.Join(err, serr)
	}}
	req := "GET /?topic=" + topic + " HTTP/1.1\r\nHost: hub\r\n\r\n"
	conns := make([]net.Conn, 0, n)
	t.Cleanup(func() {
		for _, c := range conns {
			c.Close()
		}
	})
	for range n {
		c, err := d.Dial("tcp", addr)
		if err != nil {
			t.Fatalf("stuck client %d: %v", len(conns), err)
		}
		conns = append(conns, c)
		if _, err := c.Write([]byte(req)); err != nil {
			t.Fatal(err)
		}
	}
	return conns
}

// waitSubscribers waits until the hub counts want subscribers.
func (th *testHub) waitSubscribers(t *testing.T, want int) {
	t.Helper()
	deadline := time.Now().Add(wait)
	for th.h.Subscribers() != want {
		if time.Now().After(deadline) {
			t.Fatalf("%d subscribers, want %d", th.h.Subscribers(), want)
		}
		time.Sleep(5 * time.Millisecond) // polling: the count has no signal
	}
}

// Clients that subscribe and never read are disconnected by their own
// backlog, and meanwhile every client that reads receives every update, in
// order: no stuck socket holds up the writes of the others.
func TestStuckSubscribersDoNotGetHealthyOnesDisconnected(t *testing.T) {
	const (
		stuck   = 300
		healthy = 3
		updates = 300
		size    = 8 << 10
		every   = 4 * time.Millisecond // 250 updates a second
	)
	th := startHubOn(t, Config{QueueBytes: 1 << 20}, func(ln net.Listener) net.Listener { return smallSendBuffers{ln} })
	stuckClients(t, th.srv.Listener.Addr().String(), "t", stuck)
	subs := make([]*testSub, healthy)
	for i := range subs {
		subs[i] = th.subscribe(t, "", "topic=t")
	}
	th.waitSubscribers(t, stuck+healthy)

	data := strings.Repeat("x", size)
	tick := time.NewTicker(every)
	defer tick.Stop()
	for i := range updates {
		th.publish(t, eventlog.Update{ID: "u" + strconv.Itoa(i), Topics: []string{"t"}, Data: data})
		<-tick.C
	}
	for n, s := range subs {
		for i := range updates {
			select {
			case ev, ok := <-s.events:
				if !ok {
					t.Logf("ended: %v %v %v %+v", <-th.ended, <-th.ended, th.h.Subscribers(), th.h.Stats())
					t.Fatalf("healthy subscriber %d was disconnected after %d of %d updates", n, i, updates)
				}
				if want := "u" + strconv.Itoa(i); ev.ID != want {
					t.Fatalf("healthy subscriber %d got %q, want %q", n, ev.ID, want)
				}
			case <-time.After(wait):
				t.Fatalf("healthy subscriber %d received %d of %d updates", n, i, updates)
			}
		}
	}
	// Only the stuck clients went, each for its own backlog.
	th.waitSubscribers(t, healthy)
	for i := range stuck {
		if err := th.waitEnded(t); !errors.Is(err, ErrSlowSubscriber) {
			t.Fatalf("stream %d ended with %v, want ErrSlowSubscriber", i, err)
		}
	}
}

// Closing the hub does not wait for clients that do not read: each gets
// its reconnection hint if its socket takes it at once, and is disconnected
// either way, so a thousand stuck clients close as fast as none.
func TestCloseDoesNotWaitForStuckSubscribers(t *testing.T) {
	const (
		stuck  = 1000
		budget = 2 * time.Second
	)
	th := startHubOn(t, Config{}, func(ln net.Listener) net.Listener { return smallSendBuffers{ln} })
	stuckClients(t, th.srv.Listener.Addr().String(), "t", stuck)
	th.waitSubscribers(t, stuck)
	// A few large updates fill every stuck client's socket (and stay
	// within its queue's limits, so no stream ends before Close).
	data := strings.Repeat("x", 64<<10)
	for range 3 {
		th.publish(t, eventlog.Update{Topics: []string{"t"}, Data: data})
	}
	deadline := time.Now().Add(wait)
	for th.h.Stats().Deferred < stuck {
		if time.Now().After(deadline) {
			t.Fatalf("%d stuck sockets refused bytes, want %d", th.h.Stats().Deferred, stuck)
		}
		time.Sleep(5 * time.Millisecond) // polling: the counter has no signal
	}

	start := time.Now()
	closed := make(chan struct{})
	go func() {
		defer close(closed)
		th.h.Close()
	}()
	select {
	case <-closed:
	case <-time.After(budget):
		t.Fatalf("Close with %d stuck subscribers still running after %v", stuck, budget)
	}
	t.Logf("Close with %d stuck subscribers took %v", stuck, time.Since(start))
	if n := th.h.Subscribers(); n != 0 {
		t.Fatalf("%d subscribers after Close, want 0", n)
	}
	for i := range stuck {
		if err := th.waitEnded(t); !errors.Is(err, ErrClosed) {
			t.Fatalf("stream %d ended with %v, want ErrClosed", i, err)
		}
	}
}
