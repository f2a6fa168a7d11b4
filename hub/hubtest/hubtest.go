package hubtest

import (
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/heraldhub/herald/sse"
)

// Options tunes Read.
type Options struct {
	// Buffer is how many decoded events may wait to be taken. Default 4096.
	Buffer int
	// Wait bounds Next's wait for an event. Default 10s.
	Wait time.Duration
	// SkipEmpty drops events without data (such as a bare retry or id).
	SkipEmpty bool
}

// Stream is an event stream decoded in the background.
type Stream struct {
	// Resp is the subscription's response; its body is the stream's.
	Resp *http.Response
	// Events has each decoded event, in order; it is closed when the
	// stream ends.
	Events <-chan sse.Event
	// Done is closed once the reader has stopped.
	Done <-chan struct{}

	wait time.Duration
	stop chan struct{} // closed by Close: the reader stops waiting for room
	once sync.Once
}

// Read decodes resp's body in the background, and closes it when t ends.
func Read(t testing.TB, resp *http.Response, opts Options) *Stream {
	t.Helper()
	if opts.Buffer <= 0 {
		opts.Buffer = 4096
	}
	if opts.Wait <= 0 {
		opts.Wait = 10 * time.Second
	}
	events, done, stop := make(chan sse.Event, opts.Buffer), make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		defer close(events)
		dec := sse.NewDecoder(resp.Body)
		for {
			ev, err := dec.Next()
			if err != nil {
				return
			}
			if ev.Data == "" && opts.SkipEmpty {
				continue
			}
			select {
			case events <- ev:
			case <-stop:
				return
			}
		}
	}()
	s := &Stream{Resp: resp, Events: events, Done: done, wait: opts.Wait, stop: stop}
	t.Cleanup(s.Close)
	return s
}

// Close ends the stream and waits for its reader.
func (s *Stream) Close() {
	s.once.Do(func() {
		close(s.stop)
		s.Resp.Body.Close()
	})
	<-s.Done
}

// Next returns the stream's next event, failing t if the stream ends or
// none comes within the wait.
func (s *Stream) Next(t testing.TB) sse.Event {
	t.Helper()
	timer := time.NewTimer(s.wait)
	defer timer.Stop()
	select {
	case ev, ok := <-s.Events:
		if !ok {
			t.Fatal("stream ended, want another event")
		}
		return ev
	case <-timer.C:
		t.Fatalf("no event within %v", s.wait)
	}
	return sse.Event{}
}
