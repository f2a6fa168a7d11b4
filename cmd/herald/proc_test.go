package main

// Helpers for tests that run real `herald serve` processes: the nodes are
// internal/proctest's (one binary per test run, -race when the tests are,
// SIGTERM must end them with status 0); here are the defaults the CLI
// tests give them, publishing, and the reading of their streams.

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"go.uber.org/goleak"

	"github.com/heraldhub/herald/internal/proctest"
	"github.com/heraldhub/herald/sse"
)

// testPublisherKey is the HS256 publisher key startHerald gives a node
// unless the test passes its own --publisher-key.
const testPublisherKey = "herald-process-test-publisher-key-0123456789"

// healthTimeout bounds a wait for a node to come back to a state, generous
// for a loaded 2-core machine running the race detector.
const healthTimeout = 20 * time.Second

func TestMain(m *testing.M) {
	if len(os.Args) > 2 && os.Args[1] == "bench" && os.Args[2] == "--publish-only" {
		// herald bench runs its publisher as a copy of itself: here, this
		// test binary.
		os.Exit(run(context.Background(), os.Args[1:], os.Stdout, os.Stderr))
	}
	code := m.Run()
	proctest.RemoveBinary()
	os.Exit(code)
}

// Clients for the harness's requests: procRequests for short answers,
// procStreams for event streams (no overall timeout). Tests that check for
// leaked goroutines close their idle connections first.
var (
	procTransport = &http.Transport{MaxIdleConnsPerHost: 8, DisableCompression: true}
	procRequests  = &http.Client{Transport: procTransport, Timeout: 10 * time.Second}
	procStreams   = &http.Client{Transport: procTransport}
)

// checkGoroutines fails t if goroutines started during the test still run
// when it ends, after every later cleanup (the ends of processes and
// streams). Call it first in the test.
func checkGoroutines(t *testing.T) {
	t.Helper()
	before := goleak.IgnoreCurrent()
	t.Cleanup(func() {
		procTransport.CloseIdleConnections()
		goleak.VerifyNone(t, before)
	})
}

// proc is a `herald serve` process that a test started (a proctest.Herald,
// built with -race when the tests are), and restarts on the same address
// and arguments.
type proc struct {
	h    *proctest.Herald
	t    *testing.T
	addr string // 127.0.0.1:port, kept across restarts
}

// startHerald starts `herald serve` on a free loopback port with args and
// returns once it answers /healthz. Unless args say otherwise, the node
// gets its own data directory (so the default bolt log), testPublisherKey
// and no demo page. The process is killed, if it still runs, when the test
// ends; a data race it reports fails the test.
func startHerald(t *testing.T, args ...string) *proc {
	t.Helper()
	if !hasFlag(args, "data-dir") {
		args = append(args, "--data-dir", t.TempDir())
	}
	if !hasFlag(args, "publisher-key") {
		args = append(args, "--publisher-key", testPublisherKey)
	}
	if !hasFlag(args, "no-demo") {
		args = append(args, "--no-demo")
	}
	h := proctest.StartHerald(t, args...)
	h.Client = procRequests
	return &proc{h: h, t: t, addr: strings.TrimPrefix(h.URL, "http://")}
}

// hasFlag reports whether args set the flag name (as -name or --name,
// with or without =value).
func hasFlag(args []string, name string) bool {
	return slices.ContainsFunc(args, func(a string) bool {
		a = strings.TrimLeft(a, "-")
		return a == name || strings.HasPrefix(a, name+"=")
	})
}

// URL returns the node's base URL, such as http://127.0.0.1:41234; it
// stays the same across restarts.
func (p *proc) URL() string { return p.h.URL }

// PID returns the process id of the current run.
func (p *proc) PID() int { return p.h.PID() }

// Output returns everything the node has written to stdout and stderr, in
// all its runs.
func (p *proc) Output() string { return p.h.Output() }

// Kill ends the node with SIGKILL, as a crash would, and waits until it
// has exited. It does nothing if the node is not running.
func (p *proc) Kill() { p.h.Kill() }

// Stop ends the node with SIGTERM and fails the test unless it exits with
// status 0 in time.
func (p *proc) Stop() {
	p.t.Helper()
	p.h.StopCleanly(p.t)
}

// Restart starts the node again with the same address and arguments, after
// a Kill or a Stop (it stops the node first if it still runs), and returns
// once it answers /healthz.
func (p *proc) Restart() {
	p.t.Helper()
	if p.h.Running() {
		p.Stop()
	}
	p.h.Restart(p.t)
}

// publisherToken returns a token, signed with HS256 and key, that may
// publish to every topic.
func publisherToken(t *testing.T, key string) string {
	t.Helper()
	tok, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{
		"mercure": map[string]any{"publish": []string{"*"}},
	}).SignedString([]byte(key))
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// publish posts an update to the node at base and returns its id. It is
// safe to call from any goroutine; it reports failures as errors (an error
// for any status but 200, with the answer's reason).
func publish(ctx context.Context, base, token string, form url.Values) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+"/.well-known/mercure", strings.NewReader(form.Encode()))
	if err != nil {
		return "", err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := procRequests.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if err != nil {
		return "", fmt.Errorf("publish: reading the answer: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("publish: %s: %s", resp.Status, strings.TrimSpace(string(body)))
	}
	return string(body), nil
}

// subscription is one event stream, read in the background until it ends
// or the test does.
type subscription struct {
	url    string
	header http.Header // the response's headers
	cancel context.CancelFunc
	done   chan struct{} // closed when the stream has ended

	mu      sync.Mutex
	events  []sse.Event
	lastID  string        // the stream's last event id
	retry   time.Duration // the last reconnection time the stream set
	err     error         // why the stream ended; io.EOF for a clean end
	changed chan struct{} // closed (and replaced) on each event and at the end
}

// subscribe opens an event stream on url, sending header, and returns once
// the response's headers have arrived: a 200 text/event-stream, or the
// test fails. The stream is closed when the test ends.
func subscribe(t *testing.T, url string, header http.Header) *subscription {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	req.Header.Set("Accept", "text/event-stream")
	resp, err := procStreams.Do(req)
	if err != nil {
		cancel()
		t.Fatalf("subscribe %s: %v", url, err)
	}
	if ct := resp.Header.Get("Content-Type"); resp.StatusCode != http.StatusOK || !strings.HasPrefix(ct, "text/event-stream") {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		resp.Body.Close()
		cancel()
		t.Fatalf("subscribe %s: %s, Content-Type %q: %s", url, resp.Status, ct, body)
	}
	s := &subscription{url: url, header: resp.Header, cancel: cancel, done: make(chan struct{}), changed: make(chan struct{})}
	go s.read(resp.Body)
	t.Cleanup(s.Close)
	return s
}

// read decodes the stream until it ends.
func (s *subscription) read(body io.ReadCloser) {
	defer close(s.done)
	defer body.Close()
	d := sse.NewDecoder(body)
	for {
		ev, err := d.Next()
		s.mu.Lock()
		if err == nil {
			s.events = append(s.events, ev)
		} else {
			s.err = err
		}
		s.lastID, s.retry = d.LastEventID(), d.Retry()
		close(s.changed)
		s.changed = make(chan struct{})
		s.mu.Unlock()
		if err != nil {
			return
		}
	}
}

// Close ends the stream and waits for its reader.
func (s *subscription) Close() {
	s.cancel()
	<-s.done
}

// Events returns a copy of the events received so far.
func (s *subscription) Events() []sse.Event {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.events)
}

// LastEventID returns the stream's last event id, what a client sends as
// Last-Event-ID when it reconnects.
func (s *subscription) LastEventID() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.lastID
}

// Retry returns the reconnection time the stream last set, 0 if none.
func (s *subscription) Retry() time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.retry
}

// Err returns why the stream ended (io.EOF for a clean end), or nil while
// it lasts.
func (s *subscription) Err() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}

// waitFor waits until cond holds for the events received so far, failing
// the test, with what describing the wait, if the stream ends first or
// timeout passes. cond must not keep the slice.
func (s *subscription) waitFor(t *testing.T, what string, timeout time.Duration, cond func([]sse.Event) bool) {
	t.Helper()
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	for {
		s.mu.Lock()
		ok, n, err, changed := cond(s.events), len(s.events), s.err, s.changed
		s.mu.Unlock()
		switch {
		case ok:
			return
		case err != nil:
			t.Fatalf("%s: waiting for %s, the stream ended after %d events: %v", s.url, what, n, err)
		}
		select {
		case <-changed:
		case <-timer.C:
			t.Fatalf("%s: no %s within %v (%d events received)", s.url, what, timeout, n)
		}
	}
}

// waitEnd waits until the stream ends and returns why, failing the test if
// it lasts longer than timeout.
func (s *subscription) waitEnd(t *testing.T, timeout time.Duration) error {
	t.Helper()
	select {
	case <-s.done:
		return s.Err()
	case <-time.After(timeout):
		t.Fatalf("%s: the stream did not end within %v", s.url, timeout)
		return nil
	}
}

// hasID returns a condition for waitFor: an event with id has arrived.
func hasID(id string) func([]sse.Event) bool {
	return func(evs []sse.Event) bool {
		return slices.ContainsFunc(evs, func(e sse.Event) bool { return e.ID == id })
	}
}
