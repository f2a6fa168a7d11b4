package main

import (
	"encoding/pem"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/heraldhub/herald/internal/loadgen"
	"github.com/heraldhub/herald/node"
)

// herald bench over TLS, HTTP/1.1 and HTTP/2 with streams sharing
// connections: every update counted once, over as many connections as
// asked.
func TestBenchReadsANodeOverTLSAndHTTP2(t *testing.T) {
	srv, plain := testNode(t, node.Config{PublisherKey: benchKey, MaxConnsPerIP: -1})
	plain.Close()
	ts := httptest.NewUnstartedServer(srv.Handler())
	var conns atomic.Int64
	ts.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	ts.EnableHTTP2 = true
	ts.StartTLS()
	t.Cleanup(ts.Close)
	ca := filepath.Join(t.TempDir(), "ca.pem")
	os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ts.Certificate().Raw}), 0o600)
	tok := benchToken(t)

	for _, tc := range []struct {
		name      string
		args      []string
		wantConns int64
	}{
		{"HTTP/1.1", nil, 30},
		{"HTTP/2", []string{"--http2", "--streams-per-conn", "10"}, 3},
	} {
		before := conns.Load()
		rep := benchReport(t, append([]string{"--hub", ts.URL, "--ca-cert", ca, "--token", tok, "--subscribers", "30", "--updates", "20",
			"--rate", "200"}, tc.args...)...)
		if rep.Reader != loadgen.ReaderHTTP || rep.Connected != 30 || rep.Deliveries != 30*20 || rep.Lost != 0 || rep.Duplicated != 0 {
			t.Fatalf("%s: report %+v, want 600 deliveries by the http reader, none lost or duplicated", tc.name, rep)
		}
		// The subscribers' connections, and the publisher's one or two.
		if got := conns.Load() - before; got < tc.wantConns || got > tc.wantConns+3 {
			t.Fatalf("%s: %d connections for 30 streams, want %d and the publisher's", tc.name, got, tc.wantConns)
		}
	}
	if code, _, errOut := runCmd(t, "bench", "--hub", ts.URL, "--http2", "--reader", "epoll"); code == 0 || !strings.Contains(errOut, "--http2") {
		t.Fatalf("exit %d, %q; want --http2 with the epoll reader refused", code, errOut)
	}
}
