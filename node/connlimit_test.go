package node

import (
	"bufio"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"testing"
	"time"
)

func TestConnectionsThatAreNotSubscriptionsAreCappedPerAddress(t *testing.T) {
	n := startNode(t, Config{MaxRequestConnsPerIP: 2})
	addr := n.http.Listener.Addr().String()
	dial := func() net.Conn {
		t.Helper()
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	// get sends a request on c and reports whether it was answered 200.
	get := func(c net.Conn, path string) bool {
		t.Helper()
		c.SetDeadline(time.Now().Add(5 * time.Second))
		if _, err := io.WriteString(c, "GET "+path+" HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
			return false
		}
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("%s: neither answered nor closed within 5 s", path)
		}
		return err == nil && resp.StatusCode == http.StatusOK
	}
	first, second := dial(), dial()
	if !get(second, "/healthz") {
		t.Fatal("the second connection was not served")
	}
	// Two connections held (one idle): a third is closed at once.
	if get(dial(), "/healthz") {
		t.Fatal("a third connection was served, want it closed: the cap is 2")
	}
	// A subscription's connection is no longer counted once the hub has
	// it: room for another.
	if !get(first, "/.well-known/mercure?topic=a") {
		t.Fatal("the subscription was not answered")
	}
	if !get(dial(), "/healthz") {
		t.Fatal("a connection after one became a subscription was refused")
	}
}
