package node

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/golang-jwt/jwt/v5"
	"github.com/heraldhub/herald/auth"
	"github.com/heraldhub/herald/sse"
)

// Subscription event topics of both shapes, as URI templates.
const (
	v1Events = "/.well-known/mercure/subscriptions/{match_type}/{match}/{subscriber}"
	v0Events = "/.well-known/mercure/subscriptions/{topic}/{subscriber}"
)

// presenceNode starts a node with the subscriptions API on.
func presenceNode(t *testing.T) *node {
	t.Helper()
	return startNode(t, Config{SubscriberKey: subscriberKey, Subscriptions: true, CORSOrigins: []string{"https://app.example"}})
}

// payloadToken mints a subscriber token with subscribe selectors and a
// mercure.payload.
func payloadToken(t *testing.T, subscribe []string, payload any) string {
	t.Helper()
	return mint(t, subscriberKey, map[string]any{"subscribe": subscribe, "payload": payload})
}

func bearer(tok string) http.Header { return http.Header{"Authorization": {"Bearer " + tok}} }

// subEvent is a subscription event of either shape.
type subEvent struct {
	Context    string          `json:"@context"`
	ID         string          `json:"id"`
	Type       string          `json:"type"`
	MatchType  string          `json:"match_type"`
	Match      string          `json:"match"`
	Topic      string          `json:"topic"`
	Subscriber string          `json:"subscriber"`
	Active     bool            `json:"active"`
	Payload    json.RawMessage `json:"payload"`
}

// nextAbout returns the next subscription event of s about match (1.0
// shape) or topic (0.x shape), skipping the others.
func (s *stream) nextAbout(t *testing.T, match string) (sse.Event, subEvent) {
	t.Helper()
	for range 100 {
		ev := s.next(t)
		var e subEvent
		if err := json.Unmarshal([]byte(ev.Data), &e); err != nil {
			t.Fatalf("event %q is not JSON: %v", ev.Data, err)
		}
		if e.Match == match || e.Topic == match {
			return ev, e
		}
	}
	t.Fatalf("no subscription event about %q", match)
	return sse.Event{}, subEvent{}
}

func TestSubscriptionEventsReachOnlyWatchersAllowedToSeeThem(t *testing.T) {
	n := presenceNode(t)
	watch := payloadToken(t, []string{"/.well-known/mercure/subscriptions/{+rest}"}, nil)
	w1 := n.subscribe(t, "topic="+url.QueryEscape(v1Events), bearer(watch))
	w0 := n.subscribe(t, "topic="+url.QueryEscape(v0Events), bearer(watch))
	anon := n.subscribe(t, "topic=*", nil)

	s := n.subscribe(t, "topic=books%2F1", bearer(payloadToken(t, nil, map[string]string{"name": "ann"})))
	ev, arrived := w1.nextAbout(t, "books/1")
	if ev.Type != "mercure" || arrived.Type != "subscription" || arrived.MatchType != "exact" || !arrived.Active ||
		!strings.HasPrefix(arrived.Subscriber, "urn:uuid:") || string(arrived.Payload) != `{"name":"ann"}` ||
		arrived.ID != "/.well-known/mercure/subscriptions/exact/books%2F1/"+strings.ReplaceAll(arrived.Subscriber, ":", "%3A") {
		t.Fatalf("1.0 arrival event: type %q, %+v", ev.Type, arrived)
	}
	ev, legacy := w0.nextAbout(t, "books/1")
	if ev.Type != "message" || legacy.Context != "https://mercure.rocks/" || legacy.Type != "Subscription" || !legacy.Active ||
		legacy.Subscriber != arrived.Subscriber || legacy.ID != "/.well-known/mercure/subscriptions/books%2F1/"+strings.ReplaceAll(arrived.Subscriber, ":", "%3A") {
		t.Fatalf("0.x arrival event: type %q, %+v", ev.Type, legacy)
	}

	// The arrival is in the log before this update: an anonymous
	// subscriber to everything gets this one first.
	n.mustPublish(t, url.Values{"topic": {"public"}, "data": {"sentinel"}})
	if got := anon.next(t); got.Data != "sentinel" {
		t.Fatalf("anonymous subscriber got %q, want the public update only", got.Data)
	}

	s.close()
	_, left := w1.nextAbout(t, "books/1")
	if left.Active || left.Subscriber != arrived.Subscriber {
		t.Fatalf("departure event %+v, want subscriber %s inactive", left, arrived.Subscriber)
	}
}

// apiGet asks the subscriptions API for path with tok and accept, and returns
// the response and its body.
func (n *node) apiGet(t *testing.T, path, tok, accept string) (*http.Response, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, n.http.URL+path, nil)
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	if accept != "" {
		req.Header.Set("Accept", accept)
	}
	req.Header.Set("Origin", "https://app.example")
	resp, err := n.http.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

// cursor returns the last-event-id of the Link header of resp.
func cursor(t *testing.T, resp *http.Response) string {
	t.Helper()
	link := resp.Header.Get("Link")
	_, after, ok := strings.Cut(link, `last-event-id="`)
	if !ok || !strings.Contains(link, `</.well-known/mercure>; rel="mercure"`) {
		t.Fatalf("Link %q has no mercure cursor", link)
	}
	return strings.TrimSuffix(after, `"`)
}

func TestSubscriptionsAPIListsInBothDialects(t *testing.T) {
	n := presenceNode(t)
	all := payloadToken(t, []string{"*"}, nil)
	w := n.subscribe(t, "topic="+url.QueryEscape(v1Events), bearer(all))
	n.subscribe(t, "topic=books%2F1&topic="+url.QueryEscape("books/{id}"), bearer(payloadToken(t, nil, "ann")))
	_, e := w.nextAbout(t, "books/1")
	w.nextAbout(t, "books/{id}")
	sub := url.PathEscape(e.Subscriber)

	resp, body := n.apiGet(t, "/.well-known/mercure/subscriptions", all, "")
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/json" ||
		!strings.Contains(resp.Header.Get("Access-Control-Expose-Headers"), "Link") || cursor(t, resp) == "earliest" {
		t.Fatalf("GET subscriptions: %d %v %s", resp.StatusCode, resp.Header, body)
	}
	var list struct {
		ID, Type      string
		Subscriptions []subEvent
	}
	json.Unmarshal([]byte(body), &list)
	found := map[string]bool{}
	for _, s := range list.Subscriptions {
		if s.Subscriber == e.Subscriber {
			found[s.MatchType+" "+s.Match+" "+string(s.Payload)] = true
		}
	}
	if list.Type != "subscriptions" || list.ID != "/.well-known/mercure/subscriptions" || !found[`exact books/1 "ann"`] || !found[`uritemplate books/{id} "ann"`] {
		t.Fatalf("1.0 list %s lacks the subscriber's two matchers", body)
	}

	for _, c := range []struct {
		path, accept, contentType, want string
		status                          int
	}{
		{"/.well-known/mercure/subscriptions/exact/books%2F1", "", "application/json", `"type":"subscriptions"`, 200},
		{"/.well-known/mercure/subscriptions/exact/books%2F1/" + sub, "", "application/json", `"match":"books/1"`, 200},
		{"/.well-known/mercure/subscriptions/exact/books%2F1/urn%3Auuid%3Anobody", "", "", "", 404},
		{"/.well-known/mercure/subscriptions", "application/ld+json", "application/ld+json", `"type":"Subscriptions"`, 200},
		{"/.well-known/mercure/subscriptions/books%2F1", "", "application/ld+json", `"topic":"books/1"`, 200},
		{"/.well-known/mercure/subscriptions/books%2F1/" + sub, "", "application/ld+json", `"lastEventID":`, 200},
		{"/.well-known/mercure/subscriptions/books%2F2/" + sub, "", "", "", 404},
	} {
		resp, body := n.apiGet(t, c.path, all, c.accept)
		if resp.StatusCode != c.status || c.status == 200 && (resp.Header.Get("Content-Type") != c.contentType || !strings.Contains(body, c.want)) {
			t.Errorf("GET %s: %d %s %s, want %d %s with %s", c.path, resp.StatusCode, resp.Header.Get("Content-Type"), body, c.status, c.contentType, c.want)
		}
	}
}

func TestSubscriptionsAPINeedsAMatchingSubscribeGrant(t *testing.T) {
	n := presenceNode(t)
	path := "/.well-known/mercure/subscriptions/exact/books%2F1"
	if resp, body := n.apiGet(t, path, "", ""); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("without a token: %d %s, want 401", resp.StatusCode, body)
	}
	if resp, body := n.apiGet(t, path, payloadToken(t, []string{"books/1"}, nil), ""); resp.StatusCode != http.StatusForbidden {
		t.Errorf("with a grant on books/1 only: %d %s, want 403", resp.StatusCode, body)
	}
	if resp, body := n.apiGet(t, path, payloadToken(t, []string{"/.well-known/mercure/subscriptions/exact/{match}"}, nil), ""); resp.StatusCode != http.StatusOK {
		t.Errorf("with a grant on the path: %d %s, want 200", resp.StatusCode, body)
	}
}

func TestSubscriptionsCursorResumesWithoutAGap(t *testing.T) {
	n := presenceNode(t)
	all := payloadToken(t, []string{"*"}, nil)
	w := n.subscribe(t, "topic="+url.QueryEscape(v1Events), bearer(all))
	n.subscribe(t, "topic=first", nil)
	w.nextAbout(t, "first")
	resp, _ := n.apiGet(t, "/.well-known/mercure/subscriptions", all, "")
	from := cursor(t, resp)

	n.subscribe(t, "topic=second", nil)
	w.nextAbout(t, "second")
	resumed := n.subscribe(t, "topic="+url.QueryEscape(v1Events), http.Header{"Authorization": {"Bearer " + all}, "Last-Event-ID": {from}})
	if got := resumed.resp.Header.Get("Last-Event-ID"); got != from {
		t.Fatalf("resumed from %q, want the cursor %q", got, from)
	}
	var e subEvent
	json.Unmarshal([]byte(resumed.next(t).Data), &e)
	if e.Match != "second" || !e.Active {
		t.Fatalf("first event after the cursor is %+v, want the arrival on second", e)
	}
}

func TestTheCursorOfOneListResumesTheEventsOfThatListExactly(t *testing.T) {
	for _, c := range []struct{ dialect, list, events string }{
		{"1.0", "/.well-known/mercure/subscriptions/exact/books%2F1", "/.well-known/mercure/subscriptions/exact/books%2F1/{subscriber}"},
		{"0.x", "/.well-known/mercure/subscriptions/books%2F1", "/.well-known/mercure/subscriptions/books%2F1/{subscriber}"},
	} {
		t.Run(c.dialect, func(t *testing.T) {
			n := presenceNode(t)
			all := payloadToken(t, []string{"*"}, nil)
			w := n.subscribe(t, "topic="+url.QueryEscape(v1Events), bearer(all))
			n.subscribe(t, "topic=books%2F1", nil)
			w.nextAbout(t, "books/1")
			n.subscribe(t, "topic=other", nil) // the last event overall is about another topic
			w.nextAbout(t, "other")
			resp, _ := n.apiGet(t, c.list, all, "")
			from := cursor(t, resp)

			n.subscribe(t, "topic=books%2F1", nil)
			_, second := w.nextAbout(t, "books/1")
			resumed := n.subscribe(t, "topic="+url.QueryEscape(c.events), http.Header{"Authorization": {"Bearer " + all}, "Last-Event-ID": {from}})
			if got := resumed.resp.Header.Get("Last-Event-ID"); got != from {
				t.Fatalf("resumed from %q, want the list's cursor %q", got, from)
			}
			var e subEvent
			json.Unmarshal([]byte(resumed.next(t).Data), &e)
			if e.Subscriber != second.Subscriber || !e.Active {
				t.Fatalf("first event after the cursor is %+v, want the arrival of %s", e, second.Subscriber)
			}
		})
	}
}

func TestSubscriptionsAPIHonoursAccessTokenGrantsOfEveryMatcherType(t *testing.T) {
	n := startNode(t, Config{SubscriberKey: subscriberKey, Subscriptions: true, Issuer: testIssuer})
	grant := func(match, typ string) string {
		return accessToken(t, subscriberKey, func(c jwt.MapClaims) {
			// Without --resource-identifier the audience is the hub's URL.
			c["aud"] = n.http.URL + "/.well-known/mercure"
			c["authorization_details"] = []any{map[string]any{"type": auth.DetailType, "actions": []string{"subscribe"},
				"topics": []any{map[string]any{"match": match, "match_type": typ}}}}
		})
	}
	path := "/.well-known/mercure/subscriptions/exact/books%2F1"
	for _, c := range []struct {
		name, match, typ string
		status           int
		challenge        string
	}{
		{"relative URL pattern", "/.well-known/mercure/subscriptions/:type/:match", "urlpattern", 200, ""},
		{"absolute URL pattern", n.http.URL + "/.well-known/mercure/subscriptions/*", "urlpattern", 200, ""},
		{"exact", path, "exact", 200, ""},
		{"wildcard", "*", "exact", 200, ""},
		{"URL pattern of another path", "/.well-known/mercure/subscriptions/urlpattern/*", "urlpattern", 403, `error="insufficient_scope"`},
		{"exact of another path", "/.well-known/mercure/subscriptions", "exact", 403, `error="insufficient_scope"`},
	} {
		resp, body := n.apiGet(t, path, grant(c.match, c.typ), "")
		if resp.StatusCode != c.status || !strings.Contains(resp.Header.Get("WWW-Authenticate"), c.challenge) {
			t.Errorf("%s: %d %q %s, want %d %s", c.name, resp.StatusCode, resp.Header.Get("WWW-Authenticate"), body, c.status, c.challenge)
		}
	}
}
