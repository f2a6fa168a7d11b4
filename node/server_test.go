package node

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/heraldhub/herald/eventlog"
)

func TestManySubscribersReceiveEveryUpdateInOrder(t *testing.T) {
	n := startNode(t, Config{})
	const subs, updates = 200, 500 // 100,000 deliveries: enough to catch a reorder or a loss, light enough for a busy machine
	streams := make([]*stream, subs)
	for i := range streams {
		streams[i] = n.subscribe(t, "topic=orders", nil)
	}
	bystander := n.subscribe(t, "topic=invoices", nil)
	errs := make(chan error, subs)
	var wg sync.WaitGroup
	for _, s := range streams {
		wg.Add(1)
		go func() {
			defer wg.Done()
			deadline := time.After(2 * time.Minute)
			for i := range updates {
				select {
				case ev, ok := <-s.events:
					if !ok || ev.Data != strconv.Itoa(i) {
						errs <- fmt.Errorf("got %q (open %v), want %d", ev.Data, ok, i)
						return
					}
				case <-deadline:
					errs <- fmt.Errorf("update %d did not arrive", i)
					return
				}
			}
		}()
	}
	tok := token(t, publisherKey, []string{"orders", "invoices"}, nil)
	for i := range updates {
		if status, body := n.publish(t, tok, url.Values{"topic": {"orders"}, "data": {strconv.Itoa(i)}}); status != http.StatusOK {
			t.Fatalf("publish %d: %d %s", i, status, body)
		}
	}
	n.publish(t, tok, url.Values{"topic": {"invoices"}, "data": {"invoice"}})
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if got := bystander.next(t).Data; got != "invoice" {
		t.Fatalf("subscriber of another topic got %q, want only its own update", got)
	}
}

func TestPublishAnswersTheUpdateIDAndKeepsPublisherIDs(t *testing.T) {
	n := startNode(t, Config{})
	s := n.subscribe(t, "topic=a", nil)
	id := n.mustPublish(t, url.Values{"topic": {"a"}, "data": {"generated"}})
	if ev := s.next(t); ev.ID != id || ev.Data != "generated" {
		t.Fatalf("got %+v, want id %q", ev, id)
	}
	if got := n.mustPublish(t, url.Values{"topic": {"a"}, "data": {"custom"}, "id": {"order-42"}, "type": {"created"}, "retry": {"2500"}}); got != "order-42" {
		t.Fatalf("publish answered %q, want the publisher's id", got)
	}
	if ev := s.next(t); ev.ID != "order-42" || ev.Type != "created" || ev.Data != "custom" || ev.Retry != 2500*time.Millisecond {
		t.Fatalf("got %+v, want the custom id, type and retry", ev)
	}
	status, body := n.publish(t, token(t, publisherKey, []string{"*"}, nil), url.Values{"topic": {"a"}, "id": {"order-42"}})
	if status != http.StatusConflict {
		t.Fatalf("duplicate id: %d %s, want 409", status, body)
	}
	resumed := n.subscribe(t, "topic=a&lastEventID="+id, nil)
	if got := resumed.resp.Header.Get("Last-Event-ID"); got != id {
		t.Errorf("Last-Event-ID response header %q, want %q", got, id)
	}
	if ev := resumed.next(t); ev.ID != "order-42" {
		t.Fatalf("resume after %q got %+v, want order-42", id, ev)
	}
}

func TestLastEventIDHeaderTakesPrecedenceOverQuery(t *testing.T) {
	n := startNode(t, Config{})
	first := n.mustPublish(t, url.Values{"topic": {"a"}, "data": {"1"}})
	second := n.mustPublish(t, url.Values{"topic": {"a"}, "data": {"2"}})
	n.mustPublish(t, url.Values{"topic": {"a"}, "data": {"3"}})
	s := n.subscribe(t, "topic=a&lastEventID="+first, http.Header{"Last-Event-ID": {second}})
	if got := s.next(t).Data; got != "3" {
		t.Fatalf("got %q, want 3 (resume after the header's id)", got)
	}
}

func TestPrivateUpdatesReachOnlyAuthorizedSubscribers(t *testing.T) {
	n := startNode(t, Config{SubscriberKey: subscriberKey})
	anon := n.subscribe(t, "topic=orders/{id}", nil)
	authorized := n.subscribe(t, "topic=orders/{id}", http.Header{"Authorization": {"Bearer " + token(t, subscriberKey, nil, []string{"orders/{id}"})}})
	other := n.subscribe(t, "topic=orders/{id}", http.Header{"Authorization": {"Bearer " + token(t, subscriberKey, nil, []string{"orders/2"})}})
	cookie := n.subscribe(t, "topic=orders/{id}", http.Header{"Cookie": {"mercureAuthorization=" + token(t, subscriberKey, nil, []string{"orders/1"})}})
	query := n.subscribe(t, "topic=orders/{id}&authorization="+token(t, subscriberKey, nil, []string{"*"}), nil)
	n.mustPublish(t, url.Values{"topic": {"orders/1"}, "data": {"secret"}, "private": {"on"}})
	n.mustPublish(t, url.Values{"topic": {"orders/1"}, "data": {"public"}})
	for name, s := range map[string]*stream{"anonymous": anon, "other order": other} {
		if got := s.next(t).Data; got != "public" {
			t.Errorf("%s subscriber got %q, want the public update only", name, got)
		}
	}
	for name, s := range map[string]*stream{"bearer": authorized, "cookie": cookie, "query": query} {
		if got := s.next(t).Data; got != "secret" {
			t.Errorf("%s subscriber got %q, want the private update", name, got)
		}
	}
}

func TestBadInputIsRejectedWithAReasonAndChangesNothing(t *testing.T) {
	n := startNode(t, Config{SubscriberKey: subscriberKey, MaxUpdateBytes: 1024})
	pub := token(t, publisherKey, []string{"*"}, nil)
	narrow := token(t, publisherKey, []string{"books/{id}"}, nil)
	expired := func() string {
		s, _ := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{
			"mercure": map[string]any{"publish": []string{"*"}}, "exp": time.Now().Add(-time.Minute).Unix(),
		}).SignedString([]byte(publisherKey))
		return s
	}()
	none := func() string {
		s, _ := jwt.NewWithClaims(jwt.SigningMethodNone, jwt.MapClaims{
			"mercure": map[string]any{"publish": []string{"*"}},
		}).SignedString(jwt.UnsafeAllowNoneSignatureType)
		return s
	}()
	tests := []struct {
		name   string
		token  string
		form   url.Values
		status int
		reason string
	}{
		{"no token", "", url.Values{"topic": {"a"}}, 401, "token"},
		{"forged token", token(t, "not-the-key", []string{"*"}, nil), url.Values{"topic": {"a"}}, 401, ""},
		{"expired token", expired, url.Values{"topic": {"a"}}, 401, "expired"},
		{"alg none", none, url.Values{"topic": {"a"}}, 401, ""},
		{"subscriber key used to publish", token(t, subscriberKey, []string{"*"}, nil), url.Values{"topic": {"a"}}, 401, ""},
		{"topic not allowed", narrow, url.Values{"topic": {"authors/1"}}, 403, "authors/1"},
		{"one of two topics not allowed", narrow, url.Values{"topic": {"books/1", "authors/1"}}, 403, "authors/1"},
		{"no topic", pub, url.Values{"data": {"x"}}, 400, "topic"},
		{"id with newline", pub, url.Values{"topic": {"a"}, "id": {"a\nb"}}, 400, "id"},
		{"type with CR", pub, url.Values{"topic": {"a"}, "type": {"a\rb"}}, 400, "type"},
		{"retry not digits", pub, url.Values{"topic": {"a"}, "retry": {"-5"}}, 400, "retry"},
		{"oversized body", pub, url.Values{"topic": {"a"}, "data": {strings.Repeat("x", 2000)}}, 413, "1024"},
		{"too many topics", pub, url.Values{"topic": strings.Split(strings.Repeat("a,", 64)+"a", ",")}, 413, "the limit is 64"},
		{"invalid UTF-8", pub, url.Values{"topic": {"a"}, "data": {"\xff"}}, 400, "UTF-8"},
		{"id not UTF-8", pub, url.Values{"topic": {"a"}, "id": {"a\xffb"}}, 400, "UTF-8"},
		{"topic not UTF-8", pub, url.Values{"topic": {"a\xc3"}}, 400, "UTF-8"},
		{"retry of 49 days", pub, url.Values{"topic": {"a"}, "retry": {"4294967295"}}, 400, "limit is 1m0s"},
	}
	for _, tt := range tests {
		status, body := n.publish(t, tt.token, tt.form)
		if status != tt.status || !strings.Contains(body, tt.reason) || body == "" || strings.Contains(body, "\n") {
			t.Errorf("%s: got %d %q, want %d with a one-line reason mentioning %q", tt.name, status, body, tt.status, tt.reason)
		}
	}
	subTests := []struct {
		name   string
		query  string
		header http.Header
		status int
		reason string
	}{
		{"no topic", "", nil, 400, "topic"},
		{"bad template", "topic=books/{id", nil, 400, "selector"},
		{"forged subscriber token", "topic=a", http.Header{"Authorization": {"Bearer " + token(t, "forged", nil, []string{"*"})}}, 401, ""},
		{"too many topics", strings.Repeat("topic=a&", 100), nil, 400, "too many"},
	}
	for _, tt := range subTests {
		_, status, body := n.trySubscribe(t, tt.query, tt.header)
		if status != tt.status || !strings.Contains(body, tt.reason) || body == "" {
			t.Errorf("subscribe %s: got %d %q, want %d mentioning %q", tt.name, status, body, tt.status, tt.reason)
		}
	}
	// Nothing was stored, and the hub still serves.
	count := 0
	n.srv.Hub().Log().Since(t.Context(), eventlog.Earliest, func(eventlog.Update) bool { count++; return true })
	if count != 0 {
		t.Fatalf("the log holds %d updates after only rejected publications", count)
	}
	s := n.subscribe(t, "topic=a", nil)
	n.mustPublish(t, url.Values{"topic": {"a"}, "data": {"still serving"}})
	if got := s.next(t).Data; got != "still serving" {
		t.Fatalf("got %q", got)
	}
}

func TestTooManyConnectionsFromOneAddress(t *testing.T) {
	n := startNode(t, Config{MaxConnsPerIP: 2})
	n.subscribe(t, "topic=a", nil)
	n.subscribe(t, "topic=a", nil)
	if _, status, body := n.trySubscribe(t, "topic=a", nil); status != http.StatusTooManyRequests || !strings.Contains(body, "too many connections") {
		t.Fatalf("third connection: %d %q, want 429", status, body)
	}
}

func TestNoAnonymousRefusesSubscribersWithoutToken(t *testing.T) {
	n := startNode(t, Config{SubscriberKey: subscriberKey, NoAnonymous: true})
	if _, status, _ := n.trySubscribe(t, "topic=a", nil); status != http.StatusUnauthorized {
		t.Fatalf("anonymous subscriber: %d, want 401", status)
	}
	n.subscribe(t, "topic=a", http.Header{"Authorization": {"Bearer " + token(t, subscriberKey, nil, []string{"a"})}})
}

func TestDiscoveryCORSAndHealth(t *testing.T) {
	n := startNode(t, Config{CORSOrigins: []string{"https://app.example"}})
	req, _ := http.NewRequest(http.MethodOptions, n.http.URL+"/.well-known/mercure", nil)
	req.Header.Set("Origin", "https://app.example")
	req.Header.Set("Access-Control-Request-Method", "GET")
	resp, err := n.http.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if got := resp.Header.Get("Access-Control-Allow-Origin"); got != "https://app.example" {
		t.Errorf("allowed origin: Access-Control-Allow-Origin %q", got)
	}
	if got := resp.Header.Get("Link"); !strings.Contains(got, `rel="mercure"`) {
		t.Errorf("Link header %q, want the mercure discovery link", got)
	}
	req.Header.Set("Origin", "https://evil.example")
	resp, err = n.http.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if got := resp.Header.Get("Access-Control-Allow-Origin"); got != "" {
		t.Errorf("disallowed origin got Access-Control-Allow-Origin %q", got)
	}
	for _, path := range []string{"/healthz", "/readyz"} {
		resp, err := n.http.Client().Get(n.http.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Errorf("%s: %d, want 200", path, resp.StatusCode)
		}
	}
}

// /metrics reports the node's subscribers, the updates it fanned out and
// the writes that carried them.
func TestMetricsCountSubscribersUpdatesAndWrites(t *testing.T) {
	n := startNode(t, Config{})
	s := n.subscribe(t, "topic=m", nil)
	for i := range 3 {
		n.mustPublish(t, url.Values{"topic": {"m"}, "data": {strconv.Itoa(i)}})
		if got := s.next(t).Data; got != strconv.Itoa(i) {
			t.Fatalf("got %q, want %d", got, i)
		}
	}
	resp, err := n.http.Client().Get(n.http.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	values := map[string]float64{}
	for line := range strings.Lines(string(b)) {
		name, v, ok := strings.Cut(strings.TrimSpace(line), " ")
		if f, err := strconv.ParseFloat(v, 64); ok && err == nil && !strings.HasPrefix(name, "#") {
			values[name] = f
		}
	}
	if got := values["herald_subscribers"]; got != 1 {
		t.Errorf("herald_subscribers %v, want 1", got)
	}
	if got := values["herald_updates_total"]; got != 3 {
		t.Errorf("herald_updates_total %v, want 3", got)
	}
	if got := values["herald_deliveries_total"]; got != 3 {
		t.Errorf("herald_deliveries_total %v, want 3 (3 updates to 1 subscriber)", got)
	}
	if got := values["herald_stream_writes_total"]; got < 1 || got > 3 {
		t.Errorf("herald_stream_writes_total %v, want 1 to 3 for 3 deliveries", got)
	}
	if got, ok := values["herald_stream_deferred_writes_total"]; !ok || got != 0 {
		t.Errorf("herald_stream_deferred_writes_total %v (present %v), want 0", got, ok)
	}
}

// A retention by age on a log that keeps only a count is refused at start
// with what to use instead, rather than silently ignored.
func TestRetainAgeOnACountOnlyLogIsRefused(t *testing.T) {
	for _, spec := range []string{"memory", "redis://127.0.0.1:6379/0?stream=never-opened"} {
		_, err := New(context.Background(), Config{Log: spec, RetainAge: time.Hour, PublisherKey: publisherKey, DataDir: t.TempDir()})
		if err == nil || !strings.Contains(err.Error(), "--retain-count") || strings.Contains(err.Error(), "\n") {
			t.Errorf("%s with a retain age: %v, want a one-line refusal naming --retain-count", spec, err)
		}
	}
	srv, err := New(context.Background(), Config{Log: "bolt:" + t.TempDir() + "/h.db", RetainAge: time.Hour, PublisherKey: publisherKey, DataDir: t.TempDir()})
	if err != nil {
		t.Fatalf("bolt with a retain age: %v", err)
	}
	srv.Close()
}
