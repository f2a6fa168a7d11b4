package client

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/heraldhub/herald/sse"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestReconnectsWithLastEventIDAfterTheRetryDelayAndStopsOn204(t *testing.T) {
	var mu sync.Mutex
	var requests []*http.Request
	var times []time.Time
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		requests = append(requests, r)
		times = append(times, time.Now())
		n := len(requests)
		mu.Unlock()
		switch n {
		case 1:
			w.Header().Set("Content-Type", "text/event-stream")
			fmt.Fprint(w, "retry: 150\nid: 1\ndata: a\n\n")
		case 2:
			w.Header().Set("Content-Type", "text/event-stream; charset=utf-8")
			fmt.Fprint(w, "id: 2\nevent: tick\ndata: b\n\n")
		default:
			w.WriteHeader(http.StatusNoContent)
		}
	}))
	defer srv.Close()

	var got []sse.Event
	err := Subscribe(t.Context(), srv.URL, Options{Header: http.Header{"Authorization": {"Bearer t"}}}, func(ev sse.Event) error {
		got = append(got, ev)
		return nil
	})
	if !errors.Is(err, ErrNoContent) {
		t.Fatalf("Subscribe: %v, want ErrNoContent", err)
	}
	if len(got) != 2 || got[0].Data != "a" || got[1].Data != "b" || got[1].Type != "tick" || got[1].ID != "2" {
		t.Fatalf("events %+v, want a then b", got)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(requests) != 3 {
		t.Fatalf("%d requests, want 3 (stream, reconnect, 204)", len(requests))
	}
	if h := requests[0].Header.Get("Last-Event-ID"); h != "" {
		t.Errorf("first request sent Last-Event-ID %q", h)
	}
	for i, want := range []string{"1", "2"} {
		r := requests[i+1]
		if h := r.Header.Get("Last-Event-ID"); h != want {
			t.Errorf("reconnect %d sent Last-Event-ID %q, want %q", i+1, h, want)
		}
		if r.Header.Get("Authorization") != "Bearer t" || r.Header.Get("Accept") != "text/event-stream" {
			t.Errorf("reconnect %d lost its headers: %v", i+1, r.Header)
		}
		if gap := times[i+1].Sub(times[i]); gap < 150*time.Millisecond {
			t.Errorf("reconnect %d after %v, want at least the 150ms the server set", i+1, gap)
		}
	}
}

func TestNonStreamResponsesAreErrorsWithoutRetry(t *testing.T) {
	for name, handler := range map[string]http.HandlerFunc{
		"500": func(w http.ResponseWriter, r *http.Request) {
			http.Error(w, "database down", http.StatusInternalServerError)
		},
		"text/html": func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/html")
			fmt.Fprint(w, "<html>")
		},
	} {
		t.Run(name, func(t *testing.T) {
			calls := 0
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				calls++
				handler(w, r)
			}))
			defer srv.Close()
			err := Subscribe(t.Context(), srv.URL, Options{Retry: time.Millisecond}, func(sse.Event) error { return nil })
			var se *StatusError
			if !errors.As(err, &se) {
				t.Fatalf("Subscribe: %v, want a StatusError", err)
			}
			if calls != 1 {
				t.Fatalf("%d requests, want 1: a non-stream response must not be retried", calls)
			}
			t.Logf("error: %v", err)
		})
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
	err = Subscribe(ctx, "http://"+addr+"/", Options{Retry: 20 * time.Millisecond, MaxBackoff: 80 * time.Millisecond,
		OnError: func(err error, wait time.Duration) {
			waits = append(waits, wait)
			if len(waits) == 6 {
				cancel()
			}
		}}, func(sse.Event) error { return nil })
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Subscribe: %v, want context.Canceled", err)
	}
	for i, w := range waits {
		limit := min(20*time.Millisecond<<i, 80*time.Millisecond)
		if w < limit/2 || w > limit {
			t.Errorf("wait %d was %v, want jittered within [%v, %v]", i, w, limit/2, limit)
		}
	}
}

func TestCallbackErrorStopsTheSubscription(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		fmt.Fprint(w, "data: a\n\ndata: b\n\n")
	}))
	defer srv.Close()
	stop := errors.New("enough")
	n := 0
	err := Subscribe(t.Context(), srv.URL, Options{}, func(sse.Event) error { n++; return stop })
	if !errors.Is(err, stop) || n != 1 {
		t.Fatalf("Subscribe: %v after %d events, want the callback's error after 1", err, n)
	}
}

func TestCancelEndsAnOpenStream(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		fmt.Fprint(w, "data: first\n\n")
		w.(http.Flusher).Flush()
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}))
	defer srv.Close()
	defer close(release)
	ctx, cancel := context.WithCancel(t.Context())
	err := Subscribe(ctx, srv.URL, Options{}, func(sse.Event) error { cancel(); return nil })
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Subscribe: %v, want context.Canceled", err)
	}
}
