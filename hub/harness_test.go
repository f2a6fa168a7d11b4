package hub

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/heraldhub/herald/eventlog"
	"github.com/heraldhub/herald/hub/detach"
	"github.com/heraldhub/herald/hub/hubtest"
	"github.com/heraldhub/herald/sse"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// noDetach makes startHub serve every stream from its request's goroutine;
// TestGoroutineStreams sets it to run the stream tests in that mode too.
var noDetach bool

// writer is the Config.Writer of the hubs startHub starts, unless a test
// sets its own: the default (io_uring where available); TestEpollStreams
// sets it to run the stream tests with one writev per stream and write.
var writer string

// overTLS makes startHub serve HTTP/1.1 over TLS, on a listener wrapped by
// detach.TLSListener; TestTLSStreams sets it to run the stream tests so.
var overTLS bool

// wait bounds every wait in these tests: a broken hub fails, never hangs.
const wait = 10 * time.Second

// testHub is a hub on a memory log behind a loopback HTTP server whose
// handler streams ?topic= selectors, with ?allow= as the private-update
// authorization, and reports why each stream ended.
type testHub struct {
	h     *Hub
	log   *eventlog.Memory
	srv   *httptest.Server
	ended chan error
}

func startHub(t testing.TB, cfg Config) *testHub {
	t.Helper()
	return startHubOn(t, cfg, nil)
}

// startHubOn is startHub with the server's listener passed through wrap,
// if not nil.
func startHubOn(t testing.TB, cfg Config, wrap func(net.Listener) net.Listener) *testHub {
	t.Helper()
	th := &testHub{log: eventlog.NewMemory(10000), ended: make(chan error, 1000)}
	if cfg.Log == nil { // a test may bring its own log; th.log then goes unused
		cfg.Log = th.log
	}
	cfg.NoDetach = cfg.NoDetach || noDetach
	if cfg.Writer == "" {
		cfg.Writer = writer
	}
	h, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if h.engine != nil && cfg.Writer != "" {
		if w, why := h.engine.Writer(); w != cfg.Writer {
			h.Close()
			t.Fatalf("the hub writes with %s (%v), want %s", w, why, cfg.Writer)
		}
	}
	th.h = h
	th.srv = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		topics, err := ParseSelectors(q["topic"])
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		allowed, _ := ParseSelectors(q["allow"])
		var until time.Time
		if ns, err := strconv.ParseInt(q.Get("until"), 10, 64); err == nil {
			until = time.Unix(0, ns)
		}
		h.Stream(w, r, Subscription{
			Topics: topics, Allowed: allowed, LastEventID: r.Header.Get("Last-Event-ID"),
			Until: until, OnEnd: func(err error) { th.ended <- err },
		})
	}))
	if wrap != nil {
		th.srv.Listener = wrap(th.srv.Listener)
	}
	if overTLS {
		th.srv.Listener = detach.TLSListener(th.srv.Listener)
		th.srv.StartTLS()
	} else {
		th.srv.Start()
	}
	t.Cleanup(func() {
		th.srv.CloseClientConnections()
		h.Close()
		th.srv.Close()
		th.log.Close()
	})
	return th
}

func (th *testHub) publish(t *testing.T, u eventlog.Update) eventlog.Update {
	t.Helper()
	stored, err := th.h.Publish(context.Background(), u)
	if err != nil {
		t.Fatalf("publish %+v: %v", u, err)
	}
	return stored
}

// testSub is one subscriber's stream, decoded by a goroutine into events.
type testSub struct {
	*hubtest.Stream
	resp   *http.Response
	events <-chan sse.Event
}

// subscribe opens a stream for query (e.g. "topic=a&allow=b") and waits
// for its response headers.
func (th *testHub) subscribe(t *testing.T, lastID, query string) *testSub {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, th.srv.URL+"/?"+query, nil)
	if lastID != "" {
		req.Header.Set("Last-Event-ID", lastID)
	}
	resp, err := th.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		t.Fatalf("subscribe %q: %s: %s", query, resp.Status, b)
	}
	hs := hubtest.Read(t, resp, hubtest.Options{Buffer: 100000, Wait: wait})
	return &testSub{Stream: hs, resp: hs.Resp, events: hs.Events}
}

func (s *testSub) close() { s.Close() }

// next returns the next event, failing the test if none comes in time or
// the stream ends.
func (s *testSub) next(t *testing.T) sse.Event {
	t.Helper()
	return s.Next(t)
}

// waitEnded returns the reason the next stream ended.
func (th *testHub) waitEnded(t *testing.T) error {
	t.Helper()
	select {
	case err := <-th.ended:
		return err
	case <-time.After(wait):
		t.Fatal("no stream ended in time")
	}
	return nil
}

// rawStream opens a stream and returns a reader of its raw bytes.
func (th *testHub) rawStream(t *testing.T, query string) *bufio.Reader {
	t.Helper()
	resp, err := th.srv.Client().Get(th.srv.URL + "/?" + query)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return bufio.NewReader(resp.Body)
}

// readUntil reads r until it has seen want, failing after the deadline.
func readUntil(t *testing.T, r *bufio.Reader, want string) string {
	t.Helper()
	var mu sync.Mutex
	var seen strings.Builder
	found := make(chan error, 1)
	go func() {
		buf := make([]byte, 512)
		for {
			n, err := r.Read(buf)
			mu.Lock()
			seen.Write(buf[:n])
			ok := strings.Contains(seen.String(), want)
			mu.Unlock()
			if ok {
				found <- nil
				return
			}
			if err != nil {
				found <- err
				return
			}
		}
	}()
	select {
	case err := <-found:
		mu.Lock()
		defer mu.Unlock()
		if err != nil && !errors.Is(err, io.EOF) {
			t.Fatalf("stream ended (%v) before %q; got %q", err, want, seen.String())
		}
		if !strings.Contains(seen.String(), want) {
			t.Fatalf("stream ended before %q; got %q", want, seen.String())
		}
		return seen.String()
	case <-time.After(wait):
		t.Fatalf("no %q in time", want)
	}
	return ""
}
