package node_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"

	"github.com/heraldhub/herald/auth"
	"github.com/heraldhub/herald/node"
	"github.com/heraldhub/herald/sse"
)

// Embedding a whole Herald node (Mercure protocol, jobs API, health
// checks, metrics) in your own net/http server: New, then mount its
// Handler. Here a subscriber opens a stream at /.well-known/mercure and a
// publisher POSTs an update with a publisher token; the subscriber
// receives it. Drain ends the streams before the HTTP server stops, and
// Close releases the log. (To run the node's own HTTP server instead,
// with its timeouts and shutdown order, call Serve and Shutdown.)
func Example() {
	const secret = "an example publisher secret, 32+ bytes"
	srv, err := node.New(context.Background(), node.Config{
		Log:          "memory", // or "bolt:PATH", "redis://…", "nats://…"
		PublisherKey: secret,
		NoDemo:       true,
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer srv.Close()

	mux := http.NewServeMux()
	mux.HandleFunc("GET /hello", func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "your own routes sit beside Herald's\n")
	})
	mux.Handle("/", srv.Handler())
	ts := httptest.NewServer(mux)
	defer ts.Close()
	defer srv.Drain() // streams end before the HTTP server closes

	// Subscribe: once the response headers arrive, the subscriber
	// receives every update published after.
	stream, err := ts.Client().Get(ts.URL + "/.well-known/mercure?topic=" + url.QueryEscape("orders/{id}"))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer stream.Body.Close()
	fmt.Println("subscribe:", stream.Status)

	// Publish over HTTP, as any backend would, with a publisher token.
	key, _ := auth.SecretKey(secret)
	token, err := key.Sign(auth.Claims{Publish: []string{"orders/{id}"}})
	if err != nil {
		fmt.Println(err)
		return
	}
	form := url.Values{"topic": {"orders/42"}, "id": {"order-42-shipped"}, "data": {`{"status":"shipped"}`}}
	req, _ := http.NewRequest(http.MethodPost, ts.URL+"/.well-known/mercure", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := ts.Client().Do(req)
	if err != nil {
		fmt.Println(err)
		return
	}
	id, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	fmt.Println("publish:", resp.Status, string(id))

	ev, err := sse.NewDecoder(stream.Body).Next()
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("received: id=%s data=%s\n", ev.ID, ev.Data)
	// Output:
	// subscribe: 200 OK
	// publish: 200 OK order-42-shipped
	// received: id=order-42-shipped data={"status":"shipped"}
}
