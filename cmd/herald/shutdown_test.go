package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// stopBudget is how long a SIGTERM may take to end a node in these tests:
// far less than the 10 s default --shutdown-timeout, and than what waiting
// on stuck clients or idle connections used to take.
const stopBudget = 3 * time.Second

// stopWithin sends SIGTERM to p and fails the test if it takes longer
// than budget to exit.
func stopWithin(t *testing.T, p *proc, budget time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	p.Stop()
	took := time.Since(start)
	if took > budget {
		t.Fatalf("herald took %v to exit after SIGTERM, want under %v", took, budget)
	}
	return took
}

// A connection that has not sent a request yet (browsers open them ahead
// of time) does not hold the exit.
func TestStopIsNotHeldByAConnectionThatSentNothing(t *testing.T) {
	p := startHerald(t)
	c, err := net.Dial("tcp", p.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	s := subscribe(t, p.URL()+"/.well-known/mercure?topic=t", nil)
	took := stopWithin(t, p, stopBudget)
	t.Logf("exit took %v", took)
	<-s.done
}

// metric returns the value of the sample name on the node's /metrics.
func metric(t *testing.T, base, name string) float64 {
	t.Helper()
	resp, err := procRequests.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), name+" "); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			return f
		}
	}
	t.Fatalf("no %s in /metrics", name)
	return 0
}

// SIGTERM with many subscribers that do not read ends the node within its
// budget: each stream's reconnection hint is written if its socket takes
// it at once, and the stream is closed either way.
func TestStopWithStuckSubscribersFitsTheBudget(t *testing.T) {
	const stuck = 200
	p := startHerald(t)
	// Small receive buffers, and segments of the size a real network
	// carries: over loopback's 64 KiB segments, the node's kernel would
	// grant each socket megabytes before it is full.
	d := net.Dialer{Control: func(_, _ string, c syscall.RawConn) error {
		var serr error
		err := c.Control(func(fd uintptr) {
			serr = errors.Join(
				syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4<<10),
				syscall.SetsockoptInt(int(fd), syscall.IPPROTO_TCP, syscall.TCP_MAXSEG, 1400))
		})
		return errors.Join(err, serr)
	}}
	for i := range stuck {
		c, err := d.Dial("tcp", p.addr)
		if err != nil {
			t.Fatalf("stuck client %d: %v", i, err)
		}
		defer c.Close()
		if _, err := c.Write([]byte("GET /.well-known/mercure?topic=t HTTP/1.1\r\nHost: hub\r\n\r\n")); err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(20 * time.Second)
	for metric(t, p.URL(), "herald_subscribers") < stuck {
		if time.Now().After(deadline) {
			t.Fatalf("%v subscribers, want %d", metric(t, p.URL(), "herald_subscribers"), stuck)
		}
		time.Sleep(10 * time.Millisecond) // polling: the node sends no signal
	}
	// Large updates fill every stuck client's socket.
	token := publisherToken(t, testPublisherKey)
	data := strings.Repeat("x", 512<<10)
	for sent := 0; metric(t, p.URL(), "herald_stream_deferred_writes_total") < stuck; sent++ {
		if sent == 6 {
			t.Fatalf("%v stuck sockets refused bytes after %d updates, want %d", metric(t, p.URL(), "herald_stream_deferred_writes_total"), sent, stuck)
		}
		if _, err := publish(context.Background(), p.URL(), token, url.Values{"topic": {"t"}, "data": {data}}); err != nil {
			t.Fatal(err)
		}
		time.Sleep(200 * time.Millisecond) // the writes take their turn; no signal to await
	}
	took := stopWithin(t, p, stopBudget)
	t.Logf("exit with %d stuck subscribers took %v", stuck, took)
}

// TestServeCapsConnectionsThatAreNotSubscriptions checks that `herald
// serve` applies --max-request-conns-per-ip beside its own hook for
// connections that have sent nothing: of cap+1 connections held open, at
// least one is closed without an answer (the test's earlier requests may
// hold idle connections that count too), and once they are closed a new
// one is served.
func TestServeCapsConnectionsThatAreNotSubscriptions(t *testing.T) {
	const limit = 3
	p := startHerald(t, "--max-request-conns-per-ip", strconv.Itoa(limit))
	get := func(c net.Conn) bool {
		t.Helper()
		c.SetDeadline(time.Now().Add(10 * time.Second))
		fmt.Fprintf(c, "GET /healthz HTTP/1.1\r\nHost: herald\r\n\r\n")
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if ne, ok := err.(net.Error); ok && ne.Timeout() {
			t.Fatal("a connection was neither served nor closed")
		}
		return err == nil && resp.StatusCode == http.StatusOK
	}
	var conns []net.Conn
	served := 0
	for range limit + 1 {
		c, err := net.Dial("tcp", p.addr)
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
		if get(c) {
			served++
		}
	}
	for _, c := range conns {
		c.Close()
	}
	if served > limit {
		t.Fatalf("%d of %d connections from one address were served, want at most --max-request-conns-per-ip %d", served, limit+1, limit)
	}
	// Closed connections leave the count: a new one is served in time.
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.Dial("tcp", p.addr)
		if err != nil {
			t.Fatal(err)
		}
		ok := get(c)
		c.Close()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("no connection was served after the others closed")
		}
		time.Sleep(20 * time.Millisecond) // the server notices the closes on its own
	}
}

// systemctl reload (the unit's ExecReload) sends SIGHUP: the node reloads
// its keys and keeps serving its streams.
func TestHangupKeepsTheNodeServing(t *testing.T) {
	p := startHerald(t)
	sub := subscribe(t, p.URL()+"/.well-known/mercure?topic=a", nil)
	defer sub.Close()
	if err := syscall.Kill(p.PID(), syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(healthTimeout)
	for !strings.Contains(p.Output(), "keys reloaded") {
		if time.Now().After(deadline) || !p.h.Running() {
			t.Fatalf("no SIGHUP answer in the output (running: %v)", p.h.Running())
		}
		time.Sleep(20 * time.Millisecond)
	}
	ctx, cancel := context.WithTimeout(context.Background(), healthTimeout)
	defer cancel()
	id, err := publish(ctx, p.URL(), publisherToken(t, testPublisherKey), url.Values{"topic": {"a"}, "data": {"after SIGHUP"}})
	if err != nil {
		t.Fatal(err)
	}
	sub.waitFor(t, "the update published after SIGHUP", healthTimeout, hasID(id))
	stopWithin(t, p, stopBudget)
}
