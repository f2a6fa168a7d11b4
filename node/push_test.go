package node

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/heraldhub/herald/eventlog"
	"github.com/heraldhub/herald/internal/outbound/outboundtest"
	"github.com/heraldhub/herald/push"
)

// pushNode starts a node with push subscriptions to loopback and short
// retries.
func pushNode(t *testing.T, maxFailures int) *node {
	t.Helper()
	return startNode(t, Config{SubscriberKey: subscriberKey, PushAllow: []string{"127.0.0.1"}, CallbackBackoff: 2 * time.Millisecond, CallbackMaxBackoff: 10 * time.Millisecond, PushMaxFailures: maxFailures})
}

// createPush registers a push subscription and returns its view.
func (n *node) createPush(t *testing.T, tok, body string) push.View {
	t.Helper()
	status, out := n.call(t, http.MethodPost, push.Path, tok, body)
	if status != http.StatusCreated {
		t.Fatalf("create push subscription: %d %s", status, out)
	}
	var v push.View
	if err := json.Unmarshal([]byte(out), &v); err != nil || v.ID == "" || v.Secret == "" || v.State != push.Active {
		t.Fatalf("create push subscription answered %s (%v)", out, err)
	}
	return v
}

// ids returns the event ids of the acknowledged deliveries, with a
// delivery repeated right after itself (at least once) counted once.
func ids(t *testing.T, bodies [][]byte) []string {
	t.Helper()
	var out []string
	for _, b := range bodies {
		var m push.Message
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatalf("delivery %s: %v", b, err)
		}
		if len(out) > 0 && out[len(out)-1] == m.ID {
			continue
		}
		out = append(out, m.ID)
	}
	return out
}

func TestPushSubscriptionGetsEveryMatchingUpdateInOrderAfterCallbackRecovers(t *testing.T) {
	n := pushNode(t, 0)
	recv := outboundtest.New(t, nil)
	recv.Respond(func(i int, _ []byte) int {
		if i <= 4 {
			return http.StatusInternalServerError
		}
		return http.StatusOK
	})
	sub := token(t, subscriberKey, nil, []string{"orders/{id}"})
	v := n.createPush(t, sub, fmt.Sprintf(`{"callback": %q, "topics": ["orders/{id}"]}`, recv.URL))
	recv.SetSecret([]byte(v.Secret))
	var want []string
	for i := range 12 {
		form := url.Values{"topic": {fmt.Sprintf("orders/%d", i%3)}, "data": {fmt.Sprint(i)}}
		if i%4 == 0 {
			form.Set("private", "on")
		}
		want = append(want, n.mustPublish(t, form))
		n.mustPublish(t, url.Values{"topic": {"elsewhere"}, "data": {"not pushed"}})
	}
	got := recv.WaitAccepted(t, "12 updates", wait, func(b [][]byte) bool { return len(ids(t, b)) >= len(want) })
	if g := ids(t, got); strings.Join(g, ",") != strings.Join(want, ",") {
		t.Fatalf("pushed ids %v, want %v in order", g, want)
	}
	if recv.BadSignatures() != 0 {
		t.Fatalf("%d deliveries with a bad signature", recv.BadSignatures())
	}
	var first push.Message
	json.Unmarshal(got[0], &first)
	if first.Data != "0" || !first.Private || first.Topics[0] != "orders/0" {
		t.Fatalf("first delivery %+v, want update 0, private, on orders/0", first)
	}
	var view push.View
	var status int
	var out string
	eventually(t, func() bool {
		status, out = n.call(t, http.MethodGet, push.Path+"/"+v.ID, sub, "")
		json.Unmarshal([]byte(out), &view)
		return len(view.Deliveries) == 16
	})
	if status != http.StatusOK || view.State != push.Active || view.Secret != "" || len(view.Deliveries) != 16 || view.Deliveries[0].Status != 500 || view.Deliveries[15].Status != 200 {
		t.Fatalf("GET answered %d %s, want active, no secret, and 16 attempts: 4 failed, 12 acknowledged", status, out)
	}
}

func TestPushSubscriptionPausesAfterRepeatedFailuresAndResumes(t *testing.T) {
	n := pushNode(t, 3)
	recv := outboundtest.New(t, nil)
	failing := make(chan bool, 1)
	failing <- true
	recv.Respond(func(int, []byte) int {
		f := <-failing
		failing <- f
		if f {
			return http.StatusBadGateway
		}
		return http.StatusOK
	})
	sub := token(t, subscriberKey, nil, []string{"*"})
	v := n.createPush(t, sub, fmt.Sprintf(`{"callback": %q, "topics": ["news"], "secret": "a-secret-of-16-bytes-or-more"}`, recv.URL))
	recv.SetSecret([]byte("a-secret-of-16-bytes-or-more"))
	first := n.mustPublish(t, url.Values{"topic": {"news"}, "data": {"one"}})

	n.awaitMetric(t, `herald_push_subscriptions{state="paused"}`, 1)
	status, out := n.call(t, http.MethodGet, push.Path+"/"+v.ID, sub, "")
	var view push.View
	json.Unmarshal([]byte(out), &view)
	if status != http.StatusOK || view.State != push.Paused || view.Reason == "" || len(view.Deliveries) != 3 || view.Deliveries[2].Status != http.StatusBadGateway {
		t.Fatalf("after 3 failures GET answered %d %s, want paused with 3 failed attempts", status, out)
	}
	attempts := recv.Attempts()
	second := n.mustPublish(t, url.Values{"topic": {"news"}, "data": {"two"}})

	<-failing
	failing <- false
	if status, out := n.call(t, http.MethodPost, push.Path+"/"+v.ID+"/resume", sub, ""); status != http.StatusOK {
		t.Fatalf("resume: %d %s", status, out)
	}
	got := recv.WaitAccepted(t, "both updates after the resume", wait, func(b [][]byte) bool { return len(ids(t, b)) >= 2 })
	if g := ids(t, got); g[0] != first || g[1] != second {
		t.Fatalf("after resume got %v, want [%s %s]", g, first, second)
	}
	if attempts != 3 {
		t.Fatalf("a paused subscription was still tried: %d attempts before the resume", attempts)
	}
	if status, _ := n.call(t, http.MethodDelete, push.Path+"/"+v.ID, sub, ""); status != http.StatusNoContent {
		t.Fatalf("delete: %d", status)
	}
	if status, _ := n.call(t, http.MethodGet, push.Path+"/"+v.ID, sub, ""); status != http.StatusNotFound {
		t.Fatalf("GET after delete: %d, want 404", status)
	}
}

func TestPushSubscriptionRefusals(t *testing.T) {
	n := pushNode(t, 0)
	off := startNode(t, Config{SubscriberKey: subscriberKey})
	orders := token(t, subscriberKey, nil, []string{"orders/{id}"})
	body := func(callback, topic string) string {
		return fmt.Sprintf(`{"callback": %q, "topics": [%q]}`, callback, topic)
	}
	ok := "http://127.0.0.1:9/cb"
	cases := []struct {
		name string
		n    *node
		tok  string
		body string
		want int
	}{
		{"no token", n, "", body(ok, "orders/{id}"), http.StatusUnauthorized},
		{"no token, and a body that is not JSON: the token is checked first", n, "", "callback=x", http.StatusUnauthorized},
		{"a publisher's token", n, token(t, publisherKey, []string{"*"}, []string{"*"}), body(ok, "orders/{id}"), http.StatusUnauthorized},
		{"grants that do not cover the topic", n, orders, body(ok, "invoices/1"), http.StatusForbidden},
		{"a wider selector than the grants", n, orders, body(ok, "*"), http.StatusForbidden},
		{"a host not allowed", n, orders, body("https://example.com/cb", "orders/{id}"), http.StatusBadRequest},
		{"a private address not named", n, orders, body("http://10.0.0.1/cb", "orders/{id}"), http.StatusBadRequest},
		{"another loopback address", n, orders, body("http://127.0.0.2:9/cb", "orders/{id}"), http.StatusBadRequest},
		{"no topic", n, orders, fmt.Sprintf(`{"callback": %q}`, ok), http.StatusBadRequest},
		{"a short secret", n, orders, fmt.Sprintf(`{"callback": %q, "topics": ["orders/1"], "secret": "short"}`, ok), http.StatusBadRequest},
		{"not JSON", n, orders, "callback=x", http.StatusBadRequest},
		{"push subscriptions off", off, orders, body(ok, "orders/{id}"), http.StatusNotFound},
	}
	for _, c := range cases {
		status, out := c.n.call(t, http.MethodPost, push.Path, c.tok, c.body)
		if status != c.want || !strings.Contains(out, " ") {
			t.Errorf("%s: %d %s, want %d with a reason", c.name, status, out, c.want)
		}
	}
	v := n.createPush(t, orders, body(ok, "orders/1"))
	other := token(t, subscriberKey, nil, []string{"invoices/{id}"})
	if status, _ := n.call(t, http.MethodGet, push.Path+"/"+v.ID, other, ""); status != http.StatusForbidden {
		t.Errorf("GET with a token not covering the subscription: %d, want 403", status)
	}
	if status, _ := n.call(t, http.MethodDelete, push.Path+"/"+v.ID, "", ""); status != http.StatusUnauthorized {
		t.Errorf("DELETE without a token: %d, want 401", status)
	}
}

func TestPushSubscriptionRecordsKeepTheSecretSealedAndCannotBeForged(t *testing.T) {
	n := pushNode(t, 0)
	const secret = "a-secret-nobody-else-may-read"
	sub := token(t, subscriberKey, nil, []string{"*"})
	v := n.createPush(t, sub, fmt.Sprintf(`{"callback": "http://127.0.0.1:9/cb", "topics": ["a"], "secret": %q}`, secret))
	records := 0
	_, err := n.srv.Hub().Log().Since(t.Context(), "earliest", func(u eventlog.Update) bool {
		if strings.HasPrefix(u.Topics[0], push.TopicPrefix) {
			records++
		}
		if strings.Contains(u.Data, secret) {
			t.Errorf("the log holds the secret in the clear: %s", u.Data)
		}
		return true
	})
	if err != nil || records == 0 {
		t.Fatalf("replay: %v, %d push records", err, records)
	}
	forged := url.Values{"topic": {push.TopicPrefix + v.ID}, "type": {push.EventType}, "data": {`{"op":"delete","id":"` + v.ID + `"}`}}
	if status, _ := n.publish(t, token(t, publisherKey, []string{"*"}, nil), forged); status != http.StatusBadRequest {
		t.Fatalf("a publication on a push record topic answered %d, want 400", status)
	}
}
