package main

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/heraldhub/herald/node"
)

func TestDoctorExitsZeroOnHeraldServedDirectly(t *testing.T) {
	srv, err := node.New(context.Background(), node.Config{
		Log: "memory", DataDir: t.TempDir(), PublisherKey: testPublisherKey, NoDemo: true,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewUnstartedServer(srv.Handler())
	hs.Config.RegisterOnShutdown(srv.Drain)
	hs.Start()
	t.Cleanup(func() {
		srv.Drain()
		hs.Close()
		srv.Close()
	})
	code, out, errOut := runCmd(t, "doctor", "--idle", "500ms", "--token", publisherToken(t, testPublisherKey), hs.URL+"/.well-known/mercure")
	if code != 0 || !strings.HasSuffix(out, "all checks passed\n") {
		t.Fatalf("exit %d, stdout:\n%s\nstderr: %s", code, out, errOut)
	}
	for _, check := range []string{"PASS delivery", "PASS headers", "PASS idle", "WARN protocol", "SKIP cors", "PASS clock"} {
		if !strings.Contains(out, check) {
			t.Errorf("stdout lacks %q:\n%s", check, out)
		}
	}
}

// A server that answers the stream as plain text and never delivers: the
// doctor exits 1 and its last line names each failed check.
func TestDoctorNamesEachFailedCheckInItsLastLine(t *testing.T) {
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost {
			io.WriteString(w, "urn:uuid:1")
			return
		}
		w.Header().Set("Content-Type", "text/plain")
		w.Header().Set("Cache-Control", "no-cache")
		w.(http.Flusher).Flush()
		<-r.Context().Done()
	}))
	t.Cleanup(hs.Close)
	code, out, errOut := runCmd(t, "doctor", "--idle", "10ms", "--wait", "1s", "--token", publisherToken(t, testPublisherKey), hs.URL+"/.well-known/mercure")
	lines := strings.Split(strings.TrimSuffix(errOut, "\n"), "\n")
	last := lines[len(lines)-1]
	if code != 1 || !strings.HasPrefix(last, "herald doctor: ") ||
		!strings.Contains(last, "delivery: the stream is buffered") || !strings.Contains(last, "headers: the stream's headers are rewritten") {
		t.Fatalf("exit %d, last line %q; want exit 1 naming delivery and headers\nstdout:\n%s", code, last, out)
	}
	if !strings.Contains(out, "fix: nginx: proxy_buffering off;") {
		t.Errorf("stdout gives no fix for the buffering:\n%s", out)
	}
}

func TestDoctorWithoutTokenSaysHowToGiveOne(t *testing.T) {
	t.Setenv("HERALD_TOKEN", "")
	code, _, errOut := runCmd(t, "doctor", "http://127.0.0.1:1/.well-known/mercure")
	if code != 1 || !strings.Contains(errOut, "pass --token or set HERALD_TOKEN") {
		t.Fatalf("exit %d, stderr %q", code, errOut)
	}
}
