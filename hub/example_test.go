package hub_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"

	"github.com/heraldhub/herald/eventlog"
	"github.com/heraldhub/herald/hub"
	"github.com/heraldhub/herald/sse"
)

// Embedding a hub in your own net/http server: New on an event log, a
// handler that calls Stream, and Publish from anywhere in the program.
// Once a subscriber has its response headers, it is registered: every
// update published from then on reaches it.
func Example() {
	log := eventlog.NewMemory(0)
	defer log.Close()
	h, err := hub.New(hub.Config{Log: log})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer h.Close()

	// The one handler an application needs to serve streams: topic
	// selectors from the query, the resume point from Last-Event-ID.
	// (Package mercure serves the full protocol: tokens, private
	// updates, publishing over HTTP.)
	mux := http.NewServeMux()
	mux.HandleFunc("GET /events", func(w http.ResponseWriter, r *http.Request) {
		topics, err := hub.ParseSelectors(r.URL.Query()["topic"])
		if err != nil || len(topics) == 0 {
			http.Error(w, "give at least one valid ?topic= selector", http.StatusBadRequest)
			return
		}
		h.Stream(w, r, hub.Subscription{Topics: topics, LastEventID: r.Header.Get("Last-Event-ID")})
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()

	// A subscriber to every order (a URI template selector).
	resp, err := srv.Client().Get(srv.URL + "/events?topic=orders/{id}")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer resp.Body.Close()
	fmt.Println(resp.Status, resp.Header.Get("Content-Type"))

	stored, err := h.Publish(context.Background(), eventlog.Update{
		ID:     "order-42-shipped",
		Topics: []string{"orders/42"},
		Type:   "order",
		Data:   `{"status":"shipped"}`,
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("published", stored.ID, "at seq", stored.Seq)

	ev, err := sse.NewDecoder(resp.Body).Next()
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("received id=%s type=%s data=%s\n", ev.ID, ev.Type, ev.Data)
	// Output:
	// 200 OK text/event-stream
	// published order-42-shipped at seq 1
	// received id=order-42-shipped type=order data={"status":"shipped"}
}

// A subscriber that reconnects with Last-Event-ID receives what it missed,
// from the log, and then live updates, with no gap and no repeat.
func Example_resume() {
	log := eventlog.NewMemory(0)
	defer log.Close()
	h, err := hub.New(hub.Config{Log: log})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer h.Close()
	status, _ := hub.ParseSelectors([]string{"status"})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.Stream(w, r, hub.Subscription{Topics: status, LastEventID: r.Header.Get("Last-Event-ID")})
	}))
	defer srv.Close()

	ctx := context.Background()
	for _, u := range []eventlog.Update{
		{ID: "s1", Topics: []string{"status"}, Data: "starting data query…"},
		{ID: "s2", Topics: []string{"status"}, Data: "stage 1 of 3"},
		{ID: "s3", Topics: []string{"status"}, Data: "stage 2 of 3"},
	} {
		if _, err := h.Publish(ctx, u); err != nil {
			fmt.Println(err)
			return
		}
	}

	// The subscriber saw s1 before it was disconnected.
	req, _ := http.NewRequest(http.MethodGet, srv.URL, nil)
	req.Header.Set("Last-Event-ID", "s1")
	resp, err := srv.Client().Do(req)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer resp.Body.Close()
	if _, err := h.Publish(ctx, eventlog.Update{ID: "s4", Topics: []string{"status"}, Data: "idle"}); err != nil {
		fmt.Println(err)
		return
	}

	dec := sse.NewDecoder(resp.Body)
	for range 3 {
		ev, err := dec.Next()
		if err != nil {
			fmt.Println(err)
			return
		}
		fmt.Println(ev.ID, ev.Data)
	}
	// Output:
	// s2 stage 1 of 3
	// s3 stage 2 of 3
	// s4 idle
}
