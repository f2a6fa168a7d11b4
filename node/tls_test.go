//go:build linux

package node

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/http"
	"net/url"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/heraldhub/herald/internal/proctest"
	"github.com/heraldhub/herald/sse"
)

// Under ServeTLS, streams over HTTP/1.1 hold no goroutine (the hub's
// engine seals and writes them), streams over HTTP/2 are served as
// before, and Shutdown ends both with a reconnection hint.
func TestServeTLSDetachesHTTP1StreamsAndServesHTTP2(t *testing.T) {
	const n = 50
	srv, err := New(context.Background(), Config{Log: "memory", PublisherKey: publisherKey, DataDir: t.TempDir(), ShutdownRetry: 3 * time.Second, MaxConnsPerIP: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	certFile, keyFile, pool := proctest.Certificate(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- srv.ServeTLS(ln, certFile, keyFile) }()
	base := "https://" + ln.Addr().String()
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}, ForceAttemptHTTP2: true}}
	defer client.CloseIdleConnections()

	// The HTTP/2 subscriber's reader is the only goroutine the streams
	// add, beside the transport's own.
	h2, err := client.Get(base + "/.well-known/mercure?topic=t")
	if err != nil {
		t.Fatal(err)
	}
	defer h2.Body.Close()
	if h2.ProtoMajor != 2 {
		t.Fatalf("stream served over %s, want HTTP/2", h2.Proto)
	}
	before := runtime.NumGoroutine()
	type sub struct {
		conn *tls.Conn
		body io.Reader
		dec  *sse.Decoder
	}
	subs := make([]sub, n)
	for i := range subs {
		conn, err := tls.Dial("tcp", ln.Addr().String(), &tls.Config{RootCAs: pool, NextProtos: []string{"http/1.1"}})
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		conn.SetDeadline(time.Now().Add(wait))
		io.WriteString(conn, "GET /.well-known/mercure?topic=t HTTP/1.1\r\nHost: hub\r\n\r\n")
		resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
		if err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("HTTP/1.1 subscriber %d: %v, %v", i, resp, err)
		}
		subs[i] = sub{conn, resp.Body, sse.NewDecoder(resp.Body)}
	}
	deadline := time.Now().Add(wait)
	for runtime.NumGoroutine() > before+n/5 {
		if time.Now().After(deadline) {
			t.Fatalf("%d goroutines with %d HTTP/1.1 streams over TLS, %d before: want no goroutine per stream", runtime.NumGoroutine(), n, before)
		}
		time.Sleep(5 * time.Millisecond) // polling: goroutines ending have no signal
	}

	form := url.Values{"topic": {"t"}, "data": {"sealed"}}
	req, _ := http.NewRequest(http.MethodPost, base+"/.well-known/mercure", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Authorization", "Bearer "+token(t, publisherKey, []string{"*"}, nil))
	resp, err := client.Do(req)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("publish: %v, %v", resp, err)
	}
	resp.Body.Close()
	h2dec := sse.NewDecoder(h2.Body)
	if ev, err := h2dec.Next(); err != nil || ev.Data != "sealed" {
		t.Fatalf("HTTP/2 subscriber got %+v, %v; want the update", ev, err)
	}
	for i, s := range subs {
		if ev, err := s.dec.Next(); err != nil || ev.Data != "sealed" {
			t.Fatalf("HTTP/1.1 subscriber %d got %+v, %v; want the update", i, ev, err)
		}
	}

	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	if err := <-served; !errors.Is(err, http.ErrServerClosed) {
		t.Fatalf("ServeTLS returned %v, want http.ErrServerClosed", err)
	}
	for i, s := range subs {
		for {
			if _, err := s.dec.Next(); err != nil {
				break
			}
		}
		if s.dec.Retry() < 3*time.Second {
			t.Fatalf("HTTP/1.1 subscriber %d was told retry %v, want at least 3s", i, s.dec.Retry())
		}
		if rest, err := io.ReadAll(s.body); err != nil {
			t.Fatalf("HTTP/1.1 subscriber %d: the body did not end cleanly: %v (%q)", i, err, rest)
		}
	}
	for {
		if _, err := h2dec.Next(); err != nil {
			break
		}
	}
	if h2dec.Retry() < 3*time.Second {
		t.Fatalf("HTTP/2 subscriber was told retry %v, want at least 3s", h2dec.Retry())
	}
}
