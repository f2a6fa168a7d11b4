package node

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/heraldhub/herald/eventlog"
	"github.com/heraldhub/herald/internal/dashboard"
	"github.com/heraldhub/herald/sse"
)

// getDashboard requests path on n with tok (if any) and returns the response.
func (n *node) getDashboard(t *testing.T, ctx context.Context, path, tok string) *http.Response {
	t.Helper()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, n.http.URL+path, nil)
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	resp, err := n.http.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

// snapshots reads the dashboard stream of resp until until returns true
// for a snapshot, which it returns; it fails the test after wait.
func snapshots(t *testing.T, resp *http.Response, until func(dashboard.Snapshot) bool) dashboard.Snapshot {
	t.Helper()
	dec := sse.NewDecoder(resp.Body)
	for {
		ev, err := dec.Next()
		if err != nil {
			t.Fatalf("the dashboard stream ended before the snapshot awaited: %v", err)
		}
		var s dashboard.Snapshot
		if err := json.Unmarshal([]byte(ev.Data), &s); err != nil {
			t.Fatalf("a snapshot that is not JSON: %v: %q", err, ev.Data)
		}
		if until(s) {
			return s
		}
	}
}

func TestDashboardIsNotServedWithoutTheFlag(t *testing.T) {
	n := startNode(t, Config{})
	tok := token(t, publisherKey, []string{"*"}, []string{"*"})
	for _, path := range []string{"/dashboard", "/dashboard/stream", "/dashboard/dashboard.js"} {
		if resp := n.getDashboard(t, t.Context(), path, tok); resp.StatusCode != http.StatusNotFound {
			t.Errorf("GET %s without --dashboard: %d, want 404", path, resp.StatusCode)
		}
	}
}

func TestDashboardDataNeedsAPublisherToken(t *testing.T) {
	n := startNode(t, Config{Dashboard: true, SubscriberKey: subscriberKey})
	if resp := n.getDashboard(t, t.Context(), "/dashboard", ""); resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") {
		t.Errorf("GET /dashboard: %d %s, want the public page", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	for _, tc := range []struct{ name, tok string }{
		{"no token", ""},
		{"a subscriber token", token(t, subscriberKey, nil, []string{"*"})},
		{"a forged token", token(t, "not-the-publisher-key-0123456789abcdef", []string{"*"}, nil)},
	} {
		resp := n.getDashboard(t, t.Context(), dashboard.StreamPath, tc.tok)
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusUnauthorized || strings.Count(string(b), "\n") != 1 {
			t.Errorf("stream with %s: %d %q, want 401 with a one-line reason", tc.name, resp.StatusCode, b)
		}
	}
	ctx, cancel := context.WithTimeout(t.Context(), wait)
	defer cancel()
	sub := n.subscribe(t, "topic=x", nil)
	defer sub.close()
	resp := n.getDashboard(t, ctx, dashboard.StreamPath, token(t, publisherKey, nil, nil))
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("stream with a publisher token: %d %s, want 200 text/event-stream", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	first := snapshots(t, resp, func(dashboard.Snapshot) bool { return true })
	if len(first.History) == 0 || len(first.Nodes) != 1 || !first.Nodes[0].Self {
		t.Errorf("first snapshot: %d samples, nodes %v; want the history and this node", len(first.History), first.Nodes)
	}
	snapshots(t, resp, func(s dashboard.Snapshot) bool { return s.Subscribers == 1 && s.History == nil })
}

func TestDashboardShowsPrivateUpdatesOnlyToTokensGrantedThem(t *testing.T) {
	n := startNode(t, Config{Dashboard: true})
	n.mustPublish(t, url.Values{"topic": {"orders/1"}, "data": {"secret"}, "private": {"on"}})
	n.mustPublish(t, url.Values{"topic": {"orders/1"}, "data": {"public"}})
	n.mustPublish(t, url.Values{"topic": {"other"}, "data": {"elsewhere"}})
	datas := func(s dashboard.Snapshot) string {
		var out []string
		for _, u := range s.Recent {
			out = append(out, u.Data)
		}
		return strings.Join(out, ",")
	}
	for _, tc := range []struct {
		name      string
		subscribe []string
		want      string
	}{
		{"no subscribe grant", nil, "public"},
		{"a grant for another topic", []string{"orders/2"}, "public"},
		{"a grant for the topic", []string{"orders/{id}"}, "public,secret"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(t.Context(), wait)
			defer cancel()
			resp := n.getDashboard(t, ctx, dashboard.StreamPath+"?topic=orders/1", token(t, publisherKey, nil, tc.subscribe))
			// The private update came first: once the public one is seen,
			// the private one would be too.
			s := snapshots(t, resp, func(s dashboard.Snapshot) bool { return strings.HasPrefix(datas(s), "public") })
			if got := datas(s); got != tc.want {
				t.Errorf("recent updates of orders/1: %q, want %q", got, tc.want)
			}
		})
	}
	resp := n.getDashboard(t, t.Context(), dashboard.StreamPath+"?topic="+url.QueryEscape("{"), token(t, publisherKey, nil, nil))
	if resp.StatusCode != http.StatusBadRequest {
		t.Errorf("stream of the topic %q: %d, want 400", "{", resp.StatusCode)
	}
}

// sharedLog is a log several nodes of a test share; the test closes it.
type sharedLog struct{ *eventlog.Memory }

func (sharedLog) Close() error { return nil }

func TestDashboardListsTheNodesOfItsCluster(t *testing.T) {
	lg := eventlog.NewMemory(0)
	t.Cleanup(func() { lg.Close() })
	var nodes []*node
	for range 2 {
		cfg := Config{Log: "memory", PublisherKey: publisherKey, DataDir: t.TempDir(), Dashboard: true, DashboardReport: 50 * time.Millisecond, NoDemo: true}
		cfg.setDefaults()
		srv, err := start(cfg, sharedLog{lg})
		if err != nil {
			t.Fatal(err)
		}
		nodes = append(nodes, serveNode(t, srv))
	}
	sub := nodes[1].subscribe(t, "topic=x", nil)
	defer sub.close()
	ctx, cancel := context.WithTimeout(t.Context(), wait)
	defer cancel()
	resp := nodes[0].getDashboard(t, ctx, dashboard.StreamPath, token(t, publisherKey, nil, nil))
	s := snapshots(t, resp, func(s dashboard.Snapshot) bool {
		return len(s.Nodes) == 2 && s.Nodes[0].Subscribers+s.Nodes[1].Subscribers == 1
	})
	for _, n := range s.Nodes {
		if n.Self != (n.Subscribers == 0) {
			t.Errorf("nodes %+v: want this node with no subscriber and the other with 1", s.Nodes)
		}
	}
}
