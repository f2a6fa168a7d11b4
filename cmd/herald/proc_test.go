package main

// A harness for tests that run real `herald serve` processes: it builds the
// binary once per test run, starts nodes on free loopback ports, waits for
// them to answer /healthz, kills, stops and restarts them by PID, keeps
// their output for failure messages, and reads their streams.

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/debug"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"go.uber.org/goleak"

	"github.com/heraldhub/herald/sse"
)

// testPublisherKey is the HS256 publisher key startHerald gives a node
// unless the test passes its own --publisher-key.
const testPublisherKey = "herald-process-test-publisher-key-0123456789"

// Bounds of the harness's waits, generous for a loaded 2-core machine
// running the race detector.
const (
	healthTimeout = 20 * time.Second // a start until /healthz answers 200
	stopTimeout   = 15 * time.Second // a SIGTERM until the process exits
)

// heraldBin is the herald binary built for this test run.
var heraldBin struct {
	once sync.Once
	dir  string
	path string
	err  error
}

func TestMain(m *testing.M) {
	if len(os.Args) > 2 && os.Args[1] == "bench" && os.Args[2] == "--publish-only" {
		// herald bench runs its publisher as a copy of itself: here, this
		// test binary.
		os.Exit(run(context.Background(), os.Args[1:], os.Stdout, os.Stderr))
	}
	code := m.Run()
	if heraldBin.dir != "" {
		os.RemoveAll(heraldBin.dir)
	}
	os.Exit(code)
}

// heraldBinary returns the path of a herald binary built from this package,
// once per test run, with the race detector if the tests run with it (the
// packages are then already compiled that way).
func heraldBinary(t *testing.T) string {
	t.Helper()
	heraldBin.once.Do(func() {
		heraldBin.dir, heraldBin.err = os.MkdirTemp("", "herald-proc-test-")
		if heraldBin.err != nil {
			return
		}
		heraldBin.path = filepath.Join(heraldBin.dir, "herald")
		args := []string{"build", "-o", heraldBin.path}
		if raceEnabled() {
			args = append(args, "-race")
		}
		out, err := exec.Command("go", append(args, ".")...).CombinedOutput()
		if err != nil {
			heraldBin.err = fmt.Errorf("go %s .: %v\n%s", strings.Join(args, " "), err, out)
		}
	})
	if heraldBin.err != nil {
		t.Fatalf("building herald: %v", heraldBin.err)
	}
	return heraldBin.path
}

// raceEnabled reports whether this test binary was built with -race.
func raceEnabled() bool {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return false
	}
	for _, s := range bi.Settings {
		if s.Key == "-race" {
			return s.Value == "true"
		}
	}
	return false
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

// proc is a `herald serve` process that a test started, and restarts on
// the same address and arguments. Its methods are for the test's goroutine;
// URL may be called from any.
type proc struct {
	t    *testing.T
	args []string // after "serve"
	addr string   // 127.0.0.1:port, kept across restarts
	out  *syncBuffer

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{} // closed when cmd has exited
	err  error         // cmd.Wait's result, set before done is closed
	runs int
}

// startHerald starts `herald serve` on a free loopback port with args and
// returns once it answers /healthz. Unless args say otherwise, the node
// gets its own data directory (so the default bolt log), testPublisherKey
// and no demo page. The process is killed, if it still runs, when the test
// ends; if the test failed, its output is logged.
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
	p := &proc{t: t, args: args, out: &syncBuffer{}}
	t.Cleanup(func() {
		p.Kill()
		out := p.out.String()
		if strings.Contains(out, "WARNING: DATA RACE") {
			t.Errorf("herald at %s reported a data race:\n%s", p.addr, out)
		} else if t.Failed() {
			t.Logf("output of herald at %s:\n%s", p.addr, tail(out, 8000))
		}
	})
	// Another process may take the free port before herald binds it: then
	// try another.
	for attempt := 1; ; attempt++ {
		p.addr = freeAddr(t)
		p.start()
		err := p.waitHealthy()
		if err == nil {
			return p
		}
		if attempt < 3 && !p.running() && strings.Contains(p.out.String(), "address already in use") {
			continue
		}
		t.Fatalf("%v\n%s", err, tail(p.out.String(), 4000))
	}
}

// hasFlag reports whether args set the flag name (as -name or --name,
// with or without =value).
func hasFlag(args []string, name string) bool {
	return slices.ContainsFunc(args, func(a string) bool {
		a = strings.TrimLeft(a, "-")
		return a == name || strings.HasPrefix(a, name+"=")
	})
}

// freeAddr returns a loopback address with a port nothing listens on now.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// start runs the binary once more with p's arguments, without waiting.
func (p *proc) start() {
	p.t.Helper()
	p.mu.Lock()
	defer p.mu.Unlock()
	p.runs++
	cmd := exec.Command(heraldBinary(p.t), append([]string{"serve", "--addr", p.addr}, p.args...)...)
	cmd.Env = slices.DeleteFunc(os.Environ(), func(kv string) bool { return strings.HasPrefix(kv, "HERALD_") })
	cmd.Stdout, cmd.Stderr = p.out, p.out
	fmt.Fprintf(p.out, "--- run %d: herald serve --addr %s %s\n", p.runs, p.addr, strings.Join(p.args, " "))
	if err := cmd.Start(); err != nil {
		p.t.Fatalf("start herald: %v", err)
	}
	done := make(chan struct{})
	p.cmd, p.done = cmd, done
	go func() {
		err := cmd.Wait()
		p.mu.Lock()
		p.err = err
		p.mu.Unlock()
		fmt.Fprintf(p.out, "--- pid %d exited: %v\n", cmd.Process.Pid, cmdStatus(err))
		close(done)
	}()
}

// cmdStatus describes how a process ended.
func cmdStatus(err error) string {
	if err == nil {
		return "exit status 0"
	}
	return err.Error()
}

// waitHealthy waits until the node answers 200 on /healthz, or fails with
// why it did not: it exited, or healthTimeout passed.
func (p *proc) waitHealthy() error {
	p.mu.Lock()
	done := p.done
	p.mu.Unlock()
	deadline := time.Now().Add(healthTimeout)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, p.URL()+"/healthz", nil)
		resp, err := procRequests.Do(req)
		if err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
		cancel()
		if err == nil && resp.StatusCode == http.StatusOK {
			return nil
		}
		select {
		case <-done:
			return fmt.Errorf("herald at %s exited before it answered /healthz: %s", p.addr, cmdStatus(p.exitErr()))
		default:
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("herald at %s did not answer /healthz with 200 within %v (last: %v)", p.addr, healthTimeout, errOrStatus(err, resp))
		}
		time.Sleep(10 * time.Millisecond) // polling: the node sends no readiness signal of its own
	}
}

func errOrStatus(err error, resp *http.Response) string {
	if err != nil {
		return err.Error()
	}
	return resp.Status
}

// URL returns the node's base URL, such as http://127.0.0.1:41234; it
// stays the same across restarts.
func (p *proc) URL() string { return "http://" + p.addr }

// PID returns the process id of the current run.
func (p *proc) PID() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.cmd.Process.Pid
}

// Output returns everything the node has written to stdout and stderr, in
// all its runs.
func (p *proc) Output() string { return p.out.String() }

func (p *proc) running() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	select {
	case <-p.done:
		return false
	default:
		return true
	}
}

func (p *proc) exitErr() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.err
}

// Kill ends the node with SIGKILL, as a crash would, and waits until it
// has exited. It does nothing if the node is not running.
func (p *proc) Kill() {
	p.mu.Lock()
	cmd, done := p.cmd, p.done
	p.mu.Unlock()
	if cmd == nil {
		return
	}
	select {
	case <-done:
		return
	default:
	}
	cmd.Process.Signal(syscall.SIGKILL)
	<-done
}

// Stop ends the node with SIGTERM and waits until it has exited. It fails
// the test if the node does not exit within stopTimeout (it is then
// killed) or exits with a status other than 0.
func (p *proc) Stop() {
	p.t.Helper()
	p.mu.Lock()
	cmd, done := p.cmd, p.done
	p.mu.Unlock()
	select {
	case <-done:
		p.t.Fatalf("herald at %s had already exited (%s) when asked to stop", p.addr, cmdStatus(p.exitErr()))
	default:
	}
	cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-done:
	case <-time.After(stopTimeout):
		p.Kill()
		p.t.Fatalf("herald at %s did not exit within %v of SIGTERM; killed it", p.addr, stopTimeout)
	}
	if err := p.exitErr(); err != nil {
		p.t.Fatalf("herald at %s ended with %v after SIGTERM, want exit status 0", p.addr, err)
	}
}

// Restart starts the node again with the same address and arguments, after
// a Kill or a Stop (it stops the node first if it still runs), and returns
// once it answers /healthz.
func (p *proc) Restart() {
	p.t.Helper()
	if p.running() {
		p.Stop()
	}
	p.start()
	if err := p.waitHealthy(); err != nil {
		p.t.Fatalf("restart: %v\n%s", err, tail(p.out.String(), 4000))
	}
}

// syncBuffer is a bytes.Buffer safe for concurrent writers and readers.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// tail returns the last n bytes of s.
func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "…" + s[len(s)-n:]
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
