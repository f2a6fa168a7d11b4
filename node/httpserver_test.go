package node

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/heraldhub/herald/sse"
)

// Shutdown ends the node's own HTTP server without waiting for what never
// goes idle: each stream ends with a reconnection hint, and a connection
// that has sent nothing yet is closed, well within the deadline.
func TestShutdownEndsStreamsAndSilentConnectionsBeforeItsDeadline(t *testing.T) {
	srv, err := New(context.Background(), Config{Log: "memory", PublisherKey: publisherKey, DataDir: t.TempDir(), ShutdownRetry: 3 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	base := "http://" + ln.Addr().String()

	resp, err := http.Get(base + "/.well-known/mercure?topic=t")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	ended := make(chan time.Duration, 1)
	go func() {
		dec := sse.NewDecoder(resp.Body)
		for {
			if _, err := dec.Next(); err != nil {
				ended <- dec.Retry()
				return
			}
		}
	}()
	silent, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()

	// net/http alone waits 5s for a silent connection, and forever for a
	// stream: either would outlast this deadline.
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Second)
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown: %v, want it done before its deadline", err)
	}
	if err := <-served; !errors.Is(err, http.ErrServerClosed) {
		t.Fatalf("Serve returned %v, want http.ErrServerClosed", err)
	}
	select {
	case retry := <-ended:
		if retry < 3*time.Second {
			t.Fatalf("stream ended with retry %v, want a hint of at least 3s", retry)
		}
	case <-time.After(wait):
		t.Fatal("stream still open after Shutdown")
	}
	silent.SetReadDeadline(time.Now().Add(wait))
	if _, err := silent.Read(make([]byte, 1)); !errors.Is(err, io.EOF) {
		t.Fatalf("silent connection read: %v, want EOF (closed by Shutdown)", err)
	}
}
