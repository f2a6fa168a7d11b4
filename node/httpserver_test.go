package node

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
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

// A request body that stalls is cut off after readTimeout, over HTTP/1.1
// as over HTTP/2, though the server sets no ReadTimeout of its own.
func TestStalledRequestBodyIsCutOff(t *testing.T) {
	defer func(d time.Duration) { readTimeout = d }(readTimeout)
	readTimeout = 200 * time.Millisecond
	for _, h2 := range []bool{false, true} {
		read := make(chan error, 1)
		ts := httptest.NewUnstartedServer(boundBodies(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			_, err := io.ReadAll(r.Body)
			read <- err
		})))
		ts.EnableHTTP2 = h2
		ts.StartTLS()
		body, feed := io.Pipe()
		go func() {
			resp, err := ts.Client().Post(ts.URL, "text/plain", body)
			if err == nil {
				resp.Body.Close()
			}
		}()
		feed.Write([]byte("part of a body"))
		select {
		case err := <-read:
			if err == nil {
				t.Errorf("HTTP/2 %v: the stalled body was read to its end", h2)
			}
		case <-time.After(wait):
			t.Errorf("HTTP/2 %v: the stalled body was still being read after %v", h2, wait)
		}
		feed.Close()
		ts.Close()
	}
}
