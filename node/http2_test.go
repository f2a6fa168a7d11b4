package node

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"

	"github.com/heraldhub/herald/sse"
)

func TestStreamsWorkOverHTTP2(t *testing.T) {
	srv, err := New(context.Background(), Config{Log: "memory", PublisherKey: publisherKey, DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewUnstartedServer(srv.Handler())
	ts.EnableHTTP2 = true
	ts.StartTLS()
	t.Cleanup(func() {
		srv.Drain()
		ts.Close()
		srv.Close()
	})
	n := &node{srv: srv, http: ts}
	req, _ := http.NewRequest(http.MethodGet, ts.URL+"/.well-known/mercure?topic=a", nil)
	resp, err := ts.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.ProtoMajor != 2 {
		t.Fatalf("stream served over %s, want HTTP/2", resp.Proto)
	}
	id := n.mustPublish(t, url.Values{"topic": {"a"}, "data": {"over h2"}})
	ev, err := sse.NewDecoder(resp.Body).Next()
	if err != nil || ev.Data != "over h2" || ev.ID != id {
		t.Fatalf("got %+v, %v; want the update over HTTP/2", ev, err)
	}
}
