package client_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/heraldhub/herald/client"
	"github.com/heraldhub/herald/sse"
)

// Subscribe follows a stream across reconnections. Here the server sends
// two events and ends the stream; the client reconnects on its own,
// telling the server where it stopped with Last-Event-ID, and the server
// continues from there. The callback returns an error to stop.
func ExampleSubscribe() {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		var frames []byte
		if last := r.Header.Get("Last-Event-ID"); last == "" {
			// A first visit: two events, with a short reconnection time,
			// then the stream ends (as when a server restarts).
			frames, _ = sse.AppendEvent(frames, &sse.Event{ID: "1", Data: "starting data query…", Retry: 10 * time.Millisecond})
			frames, _ = sse.AppendEvent(frames, &sse.Event{ID: "2", Data: "stage 1 of 3"})
		} else {
			frames, _ = sse.AppendEvent(frames, &sse.Event{ID: "3", Type: "status", Data: "idle (resumed after " + last + ")"})
		}
		w.Write(frames)
	}))
	defer srv.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	errEnough := errors.New("enough")
	connects := 0
	err := client.Subscribe(ctx, srv.URL+"/events", client.Options{
		OnConnect: func(*http.Response) { connects++; fmt.Println("connected", connects) },
	}, func(ev sse.Event) error {
		fmt.Printf("id=%s type=%s data=%q\n", ev.ID, ev.Type, ev.Data)
		if ev.ID == "3" {
			return errEnough
		}
		return nil
	})
	fmt.Println("stopped:", errors.Is(err, errEnough))
	// Output:
	// connected 1
	// id=1 type=message data="starting data query…"
	// id=2 type=message data="stage 1 of 3"
	// connected 2
	// id=3 type=status data="idle (resumed after 2)"
	// stopped: true
}

// With NoReconnect, Subscribe returns nil when the first stream ends: a
// one-shot read of whatever the server sends.
func ExampleSubscribe_noReconnect() {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		w.Write([]byte("data: hello\n\ndata: goodbye\n\n"))
	}))
	defer srv.Close()

	err := client.Subscribe(context.Background(), srv.URL, client.Options{NoReconnect: true},
		func(ev sse.Event) error {
			fmt.Println(ev.Data)
			return nil
		})
	fmt.Println("err:", err)
	// Output:
	// hello
	// goodbye
	// err: <nil>
}

// A response that is not an event stream is an error, not retried: the
// *StatusError says what the server answered.
func ExampleStatusError() {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "missing token", http.StatusUnauthorized)
	}))
	defer srv.Close()

	err := client.Subscribe(context.Background(), srv.URL, client.Options{},
		func(sse.Event) error { return nil })
	var se *client.StatusError
	if errors.As(err, &se) {
		fmt.Println(se.StatusCode)
		fmt.Println(se)
	}
	// Output:
	// 401
	// server answered 401 Unauthorized: missing token
}
