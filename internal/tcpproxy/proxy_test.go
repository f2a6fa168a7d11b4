package tcpproxy

import (
	"bufio"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// serve accepts connections on loopback and hands each to handle, on the
// accepting goroutine, until stop (or the test's end).
func serve(t *testing.T, handle func(net.Conn)) (addr string, stop func()) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			handle(c)
		}
	}()
	stop = sync.OnceFunc(func() { ln.Close(); <-done })
	t.Cleanup(stop)
	return ln.Addr().String(), stop
}

// echo serves a line echo on loopback until the test ends.
func echo(t *testing.T) string {
	t.Helper()
	addr, _ := serve(t, func(c net.Conn) {
		go func() {
			defer c.Close()
			r := bufio.NewReader(c)
			for {
				line, err := r.ReadString('\n')
				if err != nil {
					return
				}
				c.Write([]byte(line))
			}
		}()
	})
	return addr
}

func roundTrip(t *testing.T, addr string) (net.Conn, error) {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return nil, err
	}
	c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Write([]byte("hi\n")); err != nil {
		c.Close()
		return nil, err
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil || line != "hi\n" {
		c.Close()
		if err == nil {
			t.Fatalf("echo %q", line)
		}
		return nil, err
	}
	return c, nil
}

func TestCutClosesConnectionsAndRestoreForwardsAgain(t *testing.T) {
	p, err := Start(echo(t))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	c, err := roundTrip(t, p.Addr())
	if err != nil {
		t.Fatalf("through the proxy: %v", err)
	}
	defer c.Close()
	// Connections arriving while the proxy is cut must not keep Cut
	// waiting; Cut returns with every forwarded connection closed.
	stop := make(chan struct{})
	dialing := make(chan struct{})
	go func() {
		defer close(dialing)
		for {
			select {
			case <-stop:
				return
			default:
			}
			if d, err := net.DialTimeout("tcp", p.Addr(), time.Second); err == nil {
				d.Close()
			}
		}
	}()
	p.Cut()
	close(stop)
	<-dialing
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Read(make([]byte, 1)); err == nil {
		t.Fatal("a forwarded connection survived the cut")
	}
	if _, err := roundTrip(t, p.Addr()); err == nil {
		t.Fatal("the proxy forwarded while cut")
	}
	if err := p.Restore(); err != nil {
		t.Fatal(err)
	}
	c2, err := roundTrip(t, p.Addr())
	if err != nil {
		t.Fatalf("after Restore: %v", err)
	}
	c2.Close()
}

// greeter serves name, one line, to every connection until stopped.
func greeter(t *testing.T, name string) (addr string, stop func()) {
	t.Helper()
	return serve(t, func(c net.Conn) {
		c.Write([]byte(name + "\n"))
		c.Close()
	})
}

func TestRoundRobinTakesTurnsAndSkipsATargetThatRefuses(t *testing.T) {
	a, _ := greeter(t, "a")
	b, stopB := greeter(t, "b")
	c, _ := greeter(t, "c")
	p, err := StartRoundRobin(a, b, c)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	greet := func() string {
		t.Helper()
		conn, err := net.DialTimeout("tcp", p.Addr(), 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		conn.SetDeadline(time.Now().Add(5 * time.Second))
		line, err := bufio.NewReader(conn).ReadString('\n')
		if err != nil {
			t.Fatalf("through the proxy: %v", err)
		}
		return strings.TrimSpace(line)
	}
	var got []string
	for range 3 {
		got = append(got, greet())
	}
	stopB()
	for range 3 {
		got = append(got, greet())
	}
	if want := "a b c a c c"; strings.Join(got, " ") != want {
		t.Fatalf("connections went to %v, want %s: in turn, b's turns passed to c once it refuses", got, want)
	}
}
