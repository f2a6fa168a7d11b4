package node

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/heraldhub/herald/jobs"
)

// metric scrapes the node's /metrics and returns the value of the sample
// named series (with its labels, as exported, e.g.
// `herald_replays_total{id="known"}`); it fails the test if there is none.
func (n *node) metric(t *testing.T, series string) float64 {
	t.Helper()
	resp, err := n.http.Client().Get(n.http.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), series+" "); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				t.Fatalf("%s: %v", series, err)
			}
			return f
		}
	}
	t.Fatalf("/metrics has no sample %s", series)
	return 0
}

// awaitMetric waits until series reaches want, failing the test after
// the shared wait.
func (n *node) awaitMetric(t *testing.T, series string, want float64) {
	t.Helper()
	deadline := time.Now().Add(wait)
	for {
		got := n.metric(t, series)
		if got >= want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s = %v, want %v", series, got, want)
		}
		time.Sleep(10 * time.Millisecond) // polling a scrape: no event to await
	}
}

// moves runs act and checks that series grew by exactly 1.
func (n *node) moves(t *testing.T, series string, act func()) {
	t.Helper()
	before := n.metric(t, series)
	act()
	n.awaitMetric(t, series, before+1)
	if got := n.metric(t, series); got != before+1 {
		t.Fatalf("%s went from %v to %v, want +1", series, before, got)
	}
}

func TestPublishingMovesThePublishAppendAndDeliveryLatencies(t *testing.T) {
	n := startNode(t, Config{})
	sub := n.subscribe(t, "topic=a", nil)
	before := map[string]float64{}
	series := []string{"herald_publish_duration_seconds_count", "herald_log_append_duration_seconds_count", "herald_delivery_lag_seconds_count"}
	for _, s := range series {
		before[s] = n.metric(t, s)
	}
	n.mustPublish(t, url.Values{"topic": {"a"}, "data": {"x"}})
	sub.next(t)
	for _, s := range series {
		n.awaitMetric(t, s, before[s]+1)
	}
	if got := n.metric(t, "herald_log_append_errors_total"); got != 0 {
		t.Errorf("herald_log_append_errors_total = %v after a good append, want 0", got)
	}
	if got := n.metric(t, "herald_ready"); got != 1 {
		t.Errorf("herald_ready = %v on a healthy node, want 1", got)
	}
}

func TestRefusedTokensAreCountedByReason(t *testing.T) {
	n := startNode(t, Config{})
	form := url.Values{"topic": {"a"}, "data": {"x"}}
	cases := []struct {
		reason string
		send   func()
	}{
		{"no_token", func() { n.publish(t, "", form) }},
		{"invalid_token", func() { n.publish(t, token(t, "forged-key-0123456789012345678901", []string{"*"}, nil), form) }},
		{"forbidden", func() { n.publish(t, token(t, publisherKey, []string{"b"}, nil), form) }},
		{"query_token", func() {
			q := url.Values{"authorization": {token(t, publisherKey, []string{"*"}, nil)}}
			resp, err := n.http.Client().PostForm(n.http.URL+"/.well-known/mercure?"+q.Encode(), form)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
		}},
		{"invalid_token", func() { // the jobs API counts in the same place
			req, _ := http.NewRequest(http.MethodPost, n.http.URL+"/api/jobs", strings.NewReader(`{}`))
			req.Header.Set("Authorization", "Bearer not.a.token")
			resp, err := n.http.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
		}},
	}
	for _, c := range cases {
		n.moves(t, `herald_auth_failures_total{reason="`+c.reason+`"}`, c.send)
	}
}

func TestReplaysAreCountedByWhetherTheIDWasKnown(t *testing.T) {
	n := startNode(t, Config{})
	id := n.mustPublish(t, url.Values{"topic": {"a"}, "data": {"x"}})
	n.moves(t, `herald_replays_total{id="known"}`, func() {
		n.subscribe(t, "topic=a", http.Header{"Last-Event-Id": {id}})
	})
	n.moves(t, `herald_replays_total{id="unknown"}`, func() {
		n.subscribe(t, "topic=a", http.Header{"Last-Event-Id": {"no-such-id"}})
	})
}

func TestStreamEndsAreCountedByReason(t *testing.T) {
	t.Run("gone", func(t *testing.T) {
		n := startNode(t, Config{})
		sub := n.subscribe(t, "topic=a", nil)
		n.moves(t, `herald_stream_ends_total{reason="gone"}`, sub.close)
	})
	t.Run("expired", func(t *testing.T) {
		n := startNode(t, Config{SubscriberKey: subscriberKey})
		claims := jwt.MapClaims{
			"mercure": map[string]any{"subscribe": []string{"a"}},
			"exp":     time.Now().Add(time.Second).Unix() + 1,
		}
		tok, err := jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString([]byte(subscriberKey))
		if err != nil {
			t.Fatal(err)
		}
		n.moves(t, `herald_stream_ends_total{reason="expired"}`, func() {
			n.subscribe(t, "topic=a", http.Header{"Authorization": {"Bearer " + tok}})
		})
	})
	t.Run("slow", func(t *testing.T) {
		n := startNode(t, Config{MaxUpdateBytes: 2 << 20})
		// A client that asks and never reads: its socket fills, then its
		// queue overflows.
		c, err := net.Dial("tcp", n.http.Listener.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		c.(*net.TCPConn).SetReadBuffer(4 << 10)
		io.WriteString(c, "GET /.well-known/mercure?topic=a HTTP/1.1\r\nHost: x\r\n\r\n")
		n.awaitMetric(t, "herald_subscribers", 1)
		series := `herald_stream_ends_total{reason="slow"}`
		before := n.metric(t, series)
		big := strings.Repeat("x", 1<<20)
		for i := 0; n.metric(t, series) == before; i++ {
			if i == 64 {
				t.Fatalf("64 MiB published to a client that reads nothing, and %s did not move", series)
			}
			n.mustPublish(t, url.Values{"topic": {"a"}, "data": {big}})
		}
	})
	t.Run("closed", func(t *testing.T) {
		n := startNode(t, Config{})
		sub := n.subscribe(t, "topic=a", nil)
		n.moves(t, `herald_stream_ends_total{reason="closed"}`, func() {
			n.srv.Hub().Close()
			<-sub.done
		})
	})
}

func TestRefusalsAreCountedByLimit(t *testing.T) {
	t.Run("conns_per_ip", func(t *testing.T) {
		n := startNode(t, Config{MaxConnsPerIP: 1})
		n.subscribe(t, "topic=a", nil)
		n.moves(t, `herald_limit_refusals_total{limit="conns_per_ip"}`, func() {
			if _, st, _ := n.trySubscribe(t, "topic=a", nil); st != http.StatusTooManyRequests {
				t.Fatalf("second subscription: %d, want 429", st)
			}
		})
	})
	t.Run("template_bytes", func(t *testing.T) {
		n := startNode(t, Config{MaxTemplateBytesPerIP: 8})
		n.moves(t, `herald_limit_refusals_total{limit="template_bytes"}`, func() {
			if _, st, _ := n.trySubscribe(t, "topic="+url.QueryEscape("books/{id}/chapters"), nil); st != http.StatusTooManyRequests {
				t.Fatalf("subscription over the template bytes: %d, want 429", st)
			}
		})
	})
	t.Run("publish_rate", func(t *testing.T) {
		n := startNode(t, Config{PublishRate: 0.01, PublishBurst: 1})
		form := url.Values{"topic": {"a"}, "data": {"x"}}
		n.mustPublish(t, form)
		n.moves(t, `herald_limit_refusals_total{limit="publish_rate"}`, func() {
			if st, _ := n.publish(t, token(t, publisherKey, []string{"*"}, nil), form); st != http.StatusTooManyRequests {
				t.Fatalf("publication over the rate: %d, want 429", st)
			}
		})
	})
	t.Run("request_conns", func(t *testing.T) {
		n := startNode(t, Config{MaxRequestConnsPerIP: 1})
		addr := n.http.Listener.Addr().String()
		first, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer first.Close()
		// The scrape itself needs a connection: count with the registry.
		series := "request_conns"
		before := testCounter(t, n, series)
		second, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer second.Close()
		second.SetReadDeadline(time.Now().Add(wait))
		if _, err := second.Read(make([]byte, 1)); err == nil {
			t.Fatal("the connection over the cap was not closed")
		}
		if got := testCounter(t, n, series); got != before+1 {
			t.Fatalf("limit_refusals{request_conns} went from %v to %v, want +1", before, got)
		}
	})
}

// testCounter reads herald_limit_refusals_total for limit from the node's
// registry, for a test whose node cannot take one more connection.
func testCounter(t *testing.T, n *node, limit string) float64 {
	t.Helper()
	fams, err := n.srv.metrics.registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range fams {
		if f.GetName() != "herald_limit_refusals_total" {
			continue
		}
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "limit" && l.GetValue() == limit {
					return m.GetCounter().GetValue()
				}
			}
		}
	}
	t.Fatalf("no herald_limit_refusals_total{limit=%q}", limit)
	return 0
}

func TestJobsAreCountedByState(t *testing.T) {
	n := startNode(t, Config{NoDemo: true})
	ctx := context.Background()
	n.moves(t, `herald_jobs{state="running"}`, func() {
		if _, err := n.srv.Jobs().Start(ctx, jobs.Spec{}); err != nil {
			t.Fatal(err)
		}
	})
	j, err := n.srv.Jobs().Start(ctx, jobs.Spec{})
	if err != nil {
		t.Fatal(err)
	}
	n.moves(t, `herald_jobs{state="failed"}`, func() {
		if err := j.Fail(ctx, io.ErrUnexpectedEOF); err != nil {
			t.Fatal(err)
		}
	})
}
