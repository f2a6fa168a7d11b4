//go:build linux

package hub

import (
	"bufio"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"net/http"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/heraldhub/herald/eventlog"
	"github.com/heraldhub/herald/sse"
)

// TestTLSStreams runs the stream tests again over TLS (HTTP/1.1), whose
// streams the engine seals and writes as it writes plain ones.
func TestTLSStreams(t *testing.T) {
	overTLS = true
	defer func() { overTLS = false }()
	tests := streamTests()
	// An idle TLS stream is written at once long after its replay.
	tests["long-idle"] = TestDetachedStreamWritesAtOnceLongAfterItsReplay
	for name, test := range tests {
		t.Run(name, test)
	}
}

// tlsClient is a subscriber over TLS that holds no goroutine: it reads
// only when the test asks.
type tlsClient struct {
	conn *tls.Conn
	resp *http.Response
	dec  *sse.Decoder
}

// tlsSubscribe opens a stream for query over a TLS connection of its own,
// with a receive buffer of rcvBuf bytes if not zero, and TLS version at
// most maxVersion if not zero, and reads its response headers.
func (th *testHub) tlsSubscribe(t *testing.T, query string, rcvBuf int, maxVersion uint16) *tlsClient {
	t.Helper()
	pool := x509.NewCertPool()
	pool.AddCert(th.srv.Certificate())
	d := net.Dialer{Control: func(_, _ string, c syscall.RawConn) error {
		if rcvBuf == 0 {
			return nil
		}
		var serr error
		err := c.Control(func(fd uintptr) {
			serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, rcvBuf)
		})
		return errors.Join(err, serr)
	}}
	conn, err := tls.DialWithDialer(&d, "tcp", th.srv.Listener.Addr().String(), &tls.Config{RootCAs: pool, NextProtos: []string{"http/1.1"}, MaxVersion: maxVersion})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	conn.SetDeadline(time.Now().Add(wait))
	if _, err := io.WriteString(conn, "GET /?"+query+" HTTP/1.1\r\nHost: hub\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("subscribe %q: %s", query, resp.Status)
	}
	return &tlsClient{conn: conn, resp: resp, dec: sse.NewDecoder(resp.Body)}
}

// next reads the client's next event.
func (c *tlsClient) next(t *testing.T) sse.Event {
	t.Helper()
	c.conn.SetReadDeadline(time.Now().Add(wait))
	ev, err := c.dec.Next()
	if err != nil {
		t.Fatalf("reading the stream: %v", err)
	}
	return ev
}

// Idle TLS subscribers hold no goroutine: their streams are detached. They
// receive updates, their hang-ups are noticed, and when the hub closes
// they get the reconnection hint and the end of the body; over TLS 1.3 and
// 1.2 alike.
func TestTLSStreamsAreDetached(t *testing.T) {
	const n = 200
	overTLS = true
	defer func() { overTLS = false }()
	th := startHub(t, Config{ShutdownRetry: 1500 * time.Millisecond})
	before := runtime.NumGoroutine()
	clients := make([]*tlsClient, n)
	for i := range clients {
		clients[i] = th.tlsSubscribe(t, "topic=t", 0, []uint16{0, tls.VersionTLS12}[i%2])
	}
	th.waitSubscribers(t, n)
	deadline := time.Now().Add(wait)
	for runtime.NumGoroutine() > before+n/10 {
		if time.Now().After(deadline) {
			t.Fatalf("%d goroutines with %d idle TLS subscribers, %d before: want no goroutine per stream", runtime.NumGoroutine(), n, before)
		}
		time.Sleep(5 * time.Millisecond) // polling: goroutines ending have no signal
	}

	stored := th.publish(t, eventlog.Update{Topics: []string{"t"}, Data: "sealed"})
	for i, c := range clients {
		if ev := c.next(t); ev.Data != "sealed" || ev.ID != stored.ID {
			t.Fatalf("client %d got %+v, want the update", i, ev)
		}
	}

	// Half the clients hang up: the hub notices without reading.
	for _, c := range clients[n/2:] {
		c.conn.Close()
	}
	th.waitSubscribers(t, n/2)
	for range n / 2 {
		if err := th.waitEnded(t); !errors.Is(err, ErrClientGone) {
			t.Fatalf("a stream whose client hung up ended with %v, want ErrClientGone", err)
		}
	}

	th.h.Close()
	for i, c := range clients[:n/2] {
		c.conn.SetReadDeadline(time.Now().Add(wait))
		rest, err := io.ReadAll(c.resp.Body)
		if err != nil {
			t.Fatalf("client %d: the body did not end cleanly: %v (got %q)", i, err, rest)
		}
		if !strings.Contains(string(rest), "retry: 1500\n") {
			t.Fatalf("client %d: stream ended with %q, want the retry hint", i, rest)
		}
	}
}

// A TLS client that never reads is disconnected as too slow, as a plain
// one is: its socket refuses the sealed records, which stay pending until
// the write timeout.
func TestStuckTLSClientIsDisconnectedAsTooSlow(t *testing.T) {
	overTLS = true
	defer func() { overTLS = false }()
	th := startHubOn(t, Config{WriteTimeout: 500 * time.Millisecond, QueueBytes: 4 << 20}, func(ln net.Listener) net.Listener { return smallSendBuffers{ln} })
	th.tlsSubscribe(t, "topic=t", 4<<10, 0)
	th.waitSubscribers(t, 1)
	data := strings.Repeat("x", 64<<10)
	for range 3 {
		th.publish(t, eventlog.Update{Topics: []string{"t"}, Data: data})
	}
	if err := th.waitEnded(t); !errors.Is(err, ErrSlowSubscriber) {
		t.Fatalf("the stuck client's stream ended with %v, want ErrSlowSubscriber", err)
	}
	if th.h.Stats().Deferred == 0 {
		t.Fatal("no write was deferred: the stuck client's stream was not written by the engine")
	}
}
