package client

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/heraldhub/herald/sse"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// recorder serves each request with the next of its handlers (the last one
// for any further request) and records what each request carried and when.
type recorder struct {
	mu       sync.Mutex
	handlers []http.HandlerFunc
	requests []*http.Request
	arrived  []time.Time
	ended    []time.Time // when each handler dropped or ended its stream
}

func serve(t *testing.T, handlers ...http.HandlerFunc) (*recorder, *httptest.Server) {
	t.Helper()
	rec := &recorder{handlers: handlers}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec.mu.Lock()
		n := len(rec.requests)
		rec.requests = append(rec.requests, r.Clone(context.Background()))
		rec.arrived = append(rec.arrived, time.Now())
		rec.ended = append(rec.ended, time.Time{})
		h := rec.handlers[min(n, len(rec.handlers)-1)]
		rec.mu.Unlock()
		defer func() {
			rec.mu.Lock()
			rec.ended[n] = time.Now()
			rec.mu.Unlock()
		}()
		h(w, r)
	}))
	t.Cleanup(srv.Close)
	return rec, srv
}

func (rec *recorder) snapshot() (reqs []*http.Request, arrived, ended []time.Time) {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	return append(reqs, rec.requests...), append(arrived, rec.arrived...), append(ended, rec.ended...)
}

// stream answers with an event stream of body, flushed, and then ends the
// response cleanly.
func stream(body string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		io.WriteString(w, body)
		w.(http.Flusher).Flush()
	}
}

// dropAfter answers with an event stream of body, flushed, and then cuts
// the connection without ending the response.
func dropAfter(body string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		stream(body)(w, r)
		panic(http.ErrAbortHandler)
	}
}

func status(code int) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(code) }
}

// collect subscribes to url and returns the events it received and how
// Subscribe ended.
func collect(t *testing.T, ctx context.Context, url string, opts Options) ([]sse.Event, error) {
	t.Helper()
	var got []sse.Event
	err := Subscribe(ctx, url, opts, func(ev sse.Event) error {
		got = append(got, ev)
		return nil
	})
	return got, err
}

func TestReconnectsWithLastEventIDAfterTheServersRetryDelayAndStopsOn204(t *testing.T) {
	const retry = 150 * time.Millisecond
	rec, srv := serve(t,
		dropAfter("retry: 150\nid: 1\ndata: a\n\nid: 2\ndata: b\n\nid: 3\ndata: cut off"),
		stream("data: c\n\nid: 4\nevent: tick\ndata: d\n\n"),
		status(http.StatusNoContent),
	)
	var failures []error
	got, err := collect(t, t.Context(), srv.URL, Options{
		Header:  http.Header{"Authorization": {"Bearer t"}},
		OnError: func(err error, wait time.Duration) { failures = append(failures, err) },
	})
	if !errors.Is(err, ErrNoContent) {
		t.Fatalf("Subscribe: %v, want ErrNoContent", err)
	}
	want := []sse.Event{
		{ID: "1", Type: "message", Data: "a", Retry: retry},
		{ID: "2", Type: "message", Data: "b"},
		{ID: "2", Type: "message", Data: "c"}, // the id persists across the reconnection
		{ID: "4", Type: "tick", Data: "d"},
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("events\n got %+v\nwant %+v (the cut-off event is never delivered)", got, want)
	}
	if len(failures) != 1 {
		t.Errorf("OnError saw %v, want the one dropped connection", failures)
	}
	reqs, arrived, ended := rec.snapshot()
	if len(reqs) != 3 {
		t.Fatalf("%d requests, want 3 (stream, reconnect, 204)", len(reqs))
	}
	for i, wantID := range []string{"", "2", "4"} {
		h := reqs[i].Header
		if got := h.Get("Last-Event-ID"); got != wantID {
			t.Errorf("request %d sent Last-Event-ID %q, want %q", i, got, wantID)
		}
		if _, sent := h["Last-Event-Id"]; wantID == "" && sent {
			t.Errorf("request %d sent an empty Last-Event-ID", i)
		}
		if h.Get("Accept") != "text/event-stream" || h.Get("Cache-Control") != "no-cache" || h.Get("Authorization") != "Bearer t" {
			t.Errorf("request %d headers %v, want Accept, Cache-Control and Authorization", i, h)
		}
	}
	for i := 1; i < 3; i++ {
		// The client saw the stream end after the server ended it, so the
		// gap from the server's end to the next request holds the wait.
		gap := arrived[i].Sub(ended[i-1])
		if gap < retry || gap > retry+3*time.Second {
			t.Errorf("request %d came %v after the previous stream ended, want the server's retry (%v) and not much more", i, gap, retry)
		}
	}
}

func TestLastEventIDOptionIsSentFirstAndCarriedByEvents(t *testing.T) {
	rec, srv := serve(t, stream("data: x\n\n"))
	got, err := collect(t, t.Context(), srv.URL, Options{LastEventID: "urn:41", NoReconnect: true})
	if err != nil || len(got) != 1 || got[0].ID != "urn:41" {
		t.Fatalf("Subscribe: %+v, %v; want one event with ID urn:41", got, err)
	}
	reqs, _, _ := rec.snapshot()
	if h := reqs[0].Header.Get("Last-Event-ID"); h != "urn:41" {
		t.Fatalf("first request sent Last-Event-ID %q, want urn:41", h)
	}
}

func TestNonStreamResponsesAreOneLineErrorsWithoutRetry(t *testing.T) {
	tests := []struct {
		name    string
		handler http.HandlerFunc
		want    []string
	}{
		{"500", func(w http.ResponseWriter, r *http.Request) {
			http.Error(w, "database\n\n   down", http.StatusInternalServerError)
		}, []string{"500 Internal Server Error", "database down"}},
		{"404", func(w http.ResponseWriter, r *http.Request) {
			http.Error(w, strings.Repeat("long ", 500), http.StatusNotFound)
		}, []string{"404 Not Found", "long long", "…"}},
		{"text/html", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/html")
			io.WriteString(w, "<html>\n<p>log in first</p>\n</html>")
		}, []string{`Content-Type "text/html"`, "<p>log in first</p>"}},
		{"no content type", func(w http.ResponseWriter, r *http.Request) {
			w.Header()["Content-Type"] = nil
			w.WriteHeader(http.StatusOK)
		}, []string{"not an event stream"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec, srv := serve(t, tt.handler)
			_, err := collect(t, t.Context(), srv.URL, Options{Retry: time.Millisecond})
			var se *StatusError
			if !errors.As(err, &se) {
				t.Fatalf("Subscribe: %v, want a StatusError", err)
			}
			msg := err.Error()
			for _, w := range tt.want {
				if !strings.Contains(msg, w) {
					t.Errorf("message %q does not mention %q", msg, w)
				}
			}
			if strings.ContainsAny(msg, "\r\n") || len(msg) > 400 {
				t.Errorf("message %q is not one short line", msg)
			}
			if reqs, _, _ := rec.snapshot(); len(reqs) != 1 {
				t.Fatalf("%d requests, want 1: a non-stream response is not retried", len(reqs))
			}
		})
	}
}

func TestStreamWithoutEventsBacksOff(t *testing.T) {
	rec, srv := serve(t, stream("retry: 100\n: nothing to say\n\n"), stream("retry: 100\n\n"), status(http.StatusNoContent))
	if _, err := collect(t, t.Context(), srv.URL, Options{}); !errors.Is(err, ErrNoContent) {
		t.Fatalf("Subscribe: %v, want ErrNoContent", err)
	}
	_, arrived, ended := rec.snapshot()
	// Failure 1 waits within [100ms, 200ms], failure 2 within [200ms, 400ms].
	for i, least := range []time.Duration{100 * time.Millisecond, 200 * time.Millisecond} {
		if gap := arrived[i+1].Sub(ended[i]); gap < least || gap > least+3*time.Second {
			t.Errorf("attempt %d came %v after the empty stream ended, want at least %v", i+1, gap, least)
		}
	}
}

func TestBackoffStaysWithinItsBounds(t *testing.T) {
	tests := []struct {
		retry, maxBackoff time.Duration
		failures          int
		lo, hi            time.Duration
	}{
		{time.Second, 30 * time.Second, 1, time.Second, 2 * time.Second},
		{time.Second, 30 * time.Second, 2, 2 * time.Second, 4 * time.Second},
		{time.Second, 30 * time.Second, 4, 8 * time.Second, 16 * time.Second},
		{time.Second, 30 * time.Second, 5, 15 * time.Second, 30 * time.Second},
		{time.Second, 30 * time.Second, 1000, 15 * time.Second, 30 * time.Second},
		{0, 30 * time.Second, 1, minBackoff, 2 * minBackoff},                                            // retry: 0 still backs off
		{time.Minute, 30 * time.Second, 3, time.Minute, time.Minute},                                    // the server's retry beats the cap
		{time.Duration(1<<62 - 1), time.Second, 70, time.Duration(1<<62 - 1), time.Duration(1<<62 - 1)}, // no overflow
	}
	for _, tt := range tests {
		for range 200 {
			if w := backoff(tt.retry, tt.maxBackoff, tt.failures); w < tt.lo || w > tt.hi {
				t.Fatalf("backoff(%v, %v, %d) = %v, want within [%v, %v]", tt.retry, tt.maxBackoff, tt.failures, w, tt.lo, tt.hi)
			}
		}
	}
	seen := map[time.Duration]bool{}
	for range 50 {
		seen[backoff(time.Second, time.Minute, 3)] = true
	}
	if len(seen) < 10 {
		t.Fatalf("backoff gave %d distinct waits in 50 draws, want jitter", len(seen))
	}
}

func TestBacksOffAfterNetworkErrorsAndStopsOnCancel(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens: every attempt fails
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	var waits []time.Duration
	var at []time.Time
	_, err = collect(t, ctx, "http://"+addr+"/", Options{Retry: 100 * time.Millisecond, MaxBackoff: 300 * time.Millisecond,
		OnError: func(err error, wait time.Duration) {
			waits = append(waits, wait)
			at = append(at, time.Now())
			if len(waits) == 4 {
				cancel()
			}
		}})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Subscribe: %v, want context.Canceled", err)
	}
	bounds := [][2]time.Duration{{100, 200}, {150, 300}, {150, 300}, {150, 300}}
	for i, w := range waits {
		lo, hi := bounds[i][0]*time.Millisecond, bounds[i][1]*time.Millisecond
		if w < lo || w > hi {
			t.Errorf("wait %d was %v, want within [%v, %v]", i, w, lo, hi)
		}
		if i > 0 && at[i].Sub(at[i-1]) < waits[i-1] {
			t.Errorf("attempt %d came %v after the previous failure, sooner than the %v announced", i, at[i].Sub(at[i-1]), waits[i-1])
		}
	}
}

func TestCallbackErrorStopsTheSubscription(t *testing.T) {
	_, srv := serve(t, stream("data: a\n\ndata: b\n\n"))
	stop := errors.New("enough")
	n := 0
	err := Subscribe(t.Context(), srv.URL, Options{}, func(sse.Event) error { n++; return stop })
	if !errors.Is(err, stop) || n != 1 {
		t.Fatalf("Subscribe: %v after %d events, want the callback's error after 1", err, n)
	}
}

func TestCancelEndsAnOpenStream(t *testing.T) {
	release := make(chan struct{})
	_, srv := serve(t, func(w http.ResponseWriter, r *http.Request) {
		stream("data: first\n\n")(w, r)
		select {
		case <-r.Context().Done():
		case <-release:
		}
	})
	defer close(release)
	ctx, cancel := context.WithCancel(t.Context())
	err := Subscribe(ctx, srv.URL, Options{}, func(sse.Event) error { cancel(); return nil })
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Subscribe: %v, want context.Canceled", err)
	}
}

func TestCancelEndsTheWaitBeforeAReconnection(t *testing.T) {
	ended := make(chan struct{})
	_, srv := serve(t, func(w http.ResponseWriter, r *http.Request) {
		stream("retry: 60000\ndata: x\n\n")(w, r)
		close(ended)
	})
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() {
		done <- Subscribe(ctx, srv.URL, Options{}, func(sse.Event) error { return nil })
	}()
	<-ended // the client now waits a minute before reconnecting
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("Subscribe: %v, want context.Canceled", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Subscribe still waiting 5s after cancel")
	}
}

func TestNoReconnectReturnsWhenTheStreamEnds(t *testing.T) {
	_, srv := serve(t, stream("data: a\n\n"))
	got, err := collect(t, t.Context(), srv.URL, Options{NoReconnect: true})
	if err != nil || len(got) != 1 {
		t.Fatalf("clean end: %+v, %v; want one event and nil", got, err)
	}
	_, srv = serve(t, dropAfter("data: a\n\n"))
	got, err = collect(t, t.Context(), srv.URL, Options{NoReconnect: true})
	if err == nil || len(got) != 1 {
		t.Fatalf("dropped stream: %+v, %v; want one event and an error", got, err)
	}
}

func TestHeadersAreSentAsGiven(t *testing.T) {
	rec, srv := serve(t, stream("data: x\n\n"))
	h := http.Header{"X-Trace": {"42"}, "Host": {"example.test"}, "Accept": {"text/html"}}
	if _, err := collect(t, t.Context(), srv.URL, Options{Header: h, NoReconnect: true}); err != nil {
		t.Fatal(err)
	}
	reqs, _, _ := rec.snapshot()
	r := reqs[0]
	if r.Header.Get("X-Trace") != "42" || r.Host != "example.test" || r.Header.Get("Accept") != "text/event-stream" {
		t.Fatalf("request host %q, headers %v", r.Host, r.Header)
	}
	if h.Get("Accept") != "text/html" || h.Get("Host") != "example.test" {
		t.Fatalf("Subscribe changed the caller's header: %v", h)
	}
}

func TestInvalidInputFailsWithoutARequest(t *testing.T) {
	rec, srv := serve(t, stream("data: x\n\n"))
	for name, tc := range map[string]struct {
		url  string
		opts Options
	}{
		"no scheme":         {"localhost:8080/events", Options{}},
		"other scheme":      {"ftp://" + srv.Listener.Addr().String(), Options{}},
		"no host":           {"http:///events", Options{}},
		"header with CRLF":  {srv.URL, Options{Header: http.Header{"X-A": {"1\r\nX-B: 2"}}}},
		"bad header name":   {srv.URL, Options{Header: http.Header{"X A": {"1"}}}},
		"id with a control": {srv.URL, Options{LastEventID: "a\x01b"}},
	} {
		if _, err := collect(t, t.Context(), tc.url, tc.opts); err == nil {
			t.Errorf("%s: Subscribe returned nil, want an error", name)
		}
	}
	if reqs, _, _ := rec.snapshot(); len(reqs) != 0 {
		t.Fatalf("%d requests sent for invalid input", len(reqs))
	}
}

func TestAnIDThatCannotBeSentBackEndsTheSubscription(t *testing.T) {
	rec, srv := serve(t, stream("id: a\x01b\ndata: x\n\n"))
	got, err := collect(t, t.Context(), srv.URL, Options{Retry: time.Millisecond})
	if err == nil || !strings.Contains(err.Error(), "Last-Event-ID") || len(got) != 1 {
		t.Fatalf("Subscribe: %+v, %v; want the event, then an error about Last-Event-ID", got, err)
	}
	if reqs, _, _ := rec.snapshot(); len(reqs) != 1 {
		t.Fatalf("%d requests, want 1", len(reqs))
	}
}

func TestOwnClientIsUsed(t *testing.T) {
	_, srv := serve(t, stream("data: x\n\n"))
	tr := &countingTransport{rt: http.DefaultTransport}
	c := &http.Client{Transport: tr}
	defer c.CloseIdleConnections()
	if _, err := collect(t, t.Context(), srv.URL, Options{Client: c, NoReconnect: true}); err != nil {
		t.Fatal(err)
	}
	if tr.n != 1 {
		t.Fatalf("own client sent %d requests, want 1", tr.n)
	}
}

type countingTransport struct {
	rt http.RoundTripper
	n  int
}

func (c *countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	c.n++
	return c.rt.RoundTrip(r)
}
