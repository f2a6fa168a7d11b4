package dashboard

import (
	"bufio"
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/heraldhub/herald/auth"
	"github.com/heraldhub/herald/eventlog"
)

// verifier accepts the token "good", valid until expiry.
type verifier struct{ expiry time.Time }

func (v verifier) Verify(r *http.Request) (*auth.Claims, error) {
	switch r.Header.Get("Authorization") {
	case "":
		return nil, auth.ErrNoToken
	case "Bearer good":
		return &auth.Claims{Expiry: v.expiry}, nil
	}
	return nil, auth.ErrInvalidToken
}

func serve(t *testing.T, cfg Config) *httptest.Server {
	t.Helper()
	cfg.Metrics = newRegistry()
	d, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(d.Handler())
	t.Cleanup(func() {
		d.Close() // ends the streams, then the server can close
		ts.Close()
	})
	return ts
}

// open opens a stream with tok and returns the response, its first line
// read if the status is 200.
func open(t *testing.T, ts *httptest.Server, tok string) (*http.Response, *bufio.Reader) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 15*time.Second)
	t.Cleanup(cancel)
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, ts.URL+StreamPath, nil)
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	resp, err := ts.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	br := bufio.NewReader(resp.Body)
	if resp.StatusCode == http.StatusOK {
		if _, err := br.ReadString('\n'); err != nil {
			t.Fatalf("no snapshot: %v", err)
		}
	}
	return resp, br
}

func TestStreamsBeyondTheLimitAreRefused(t *testing.T) {
	ts := serve(t, Config{Verifier: verifier{}, MaxStreams: 2})
	if resp, _ := open(t, ts, ""); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("without a token: %d, want 401", resp.StatusCode)
	}
	if resp, _ := open(t, ts, "bad"); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("with a bad token: %d, want 401", resp.StatusCode)
	}
	for i := range 2 {
		if resp, _ := open(t, ts, "good"); resp.StatusCode != http.StatusOK {
			t.Fatalf("stream %d: %d, want 200", i+1, resp.StatusCode)
		}
	}
	if resp, _ := open(t, ts, "good"); resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("a third stream over a limit of 2: %d, want 503", resp.StatusCode)
	}
}

func TestNoVerifierRefusesEveryStream(t *testing.T) {
	ts := serve(t, Config{})
	if resp, _ := open(t, ts, "good"); resp.StatusCode != http.StatusForbidden {
		t.Errorf("without a verifier: %d, want 403", resp.StatusCode)
	}
}

func TestStreamEndsWhenItsTokenExpires(t *testing.T) {
	ts := serve(t, Config{Verifier: verifier{expiry: time.Now().Add(300 * time.Millisecond)}, Tick: time.Hour})
	start := time.Now()
	resp, br := open(t, ts, "good")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("stream: %d, want 200", resp.StatusCode)
	}
	for {
		if _, err := br.ReadString('\n'); err != nil {
			break // ended, with no snapshot due for an hour
		}
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Fatalf("the stream ended after %v, want soon after its token's expiry (300ms)", d)
	}
}

func BenchmarkObserve(b *testing.B) {
	d := newDashboard(Config{Node: "a", Metrics: newRegistry()}, time.Now)
	u := eventlog.Update{ID: "x", Topics: []string{"books/1"}, Data: "{}"}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		u.Seq = uint64(i)
		d.Observe(u)
	}
}
