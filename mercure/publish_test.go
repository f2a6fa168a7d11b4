package mercure

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// TestPublicationChecks checks Mercure 1.0's field rules, which apply to
// every publication whatever its token.
func TestPublicationChecks(t *testing.T) {
	th := newTestHub(t, Config{})
	for _, tc := range []struct {
		form   url.Values
		status int
		reason string
	}{
		{url.Values{"topic": {"*"}}, 400, `"*"`},
		{url.Values{"topic": {"a\x01b"}}, 400, "U+0001"},
		{url.Values{"topic": {"a\u200bb"}}, 400, "U+200B"},
		{url.Values{"topic": {"a\u0085b"}}, 400, "U+0085"},
		{url.Values{"topic": {"ok", "/.well-known/mercure"}}, 400, "reserved"},
		{url.Values{"topic": {"https://other.example/.well-known/mercure/subscriptions/x"}}, 400, "reserved"},
		{url.Values{"topic": {"ws://h.example:8080/.well-known/mercure/"}}, 400, "reserved"},
		{url.Values{"topic": {"https://h.example/a/../.well-known/mercure"}}, 400, "reserved"},
		{url.Values{"topic": {"https://h.example/%2Ewell-known/%6Dercure/x"}}, 400, "reserved"},
		{url.Values{"topic": {"../.well-known/mercure?x"}}, 400, "reserved"},
		{url.Values{"topic": {"t"}, "id": {"earliest"}}, 400, "earliest"},
		{url.Values{"topic": {"t"}, "id": {"a\u200bb"}}, 400, "U+200B"},
		{url.Values{"topic": {"t"}, "id": {"a\x7fb"}}, 400, "U+007F"},
		{url.Values{"topic": {"t"}, "type": {"mercure"}}, 400, "reserved"},
		{url.Values{"topic": {"t"}, "type": {"a\u0085"}}, 400, "U+0085"},
		{url.Values{"topic": {"t"}, "retry": {"1e3"}}, 400, "digits"},
		{url.Values{"topic": {"t"}, "retry": {"+5"}}, 400, "digits"},
		{url.Values{"id": {"x"}}, 400, "missing topic"},
	} {
		st, _, body := th.publish(t, "legacy-pub", tc.form)
		if st != tc.status || !strings.Contains(body, tc.reason) {
			t.Errorf("publish %v: %d %q, want %d naming %q", tc.form, st, body, tc.status, tc.reason)
		}
	}
	// Near misses are fine topics.
	for i, topic := range []string{"https://h.example/.well-known/mercurex", "https://h.example/.well-known/mercure%2Fx", "https://h.example/.well-known", "mercurial", "a b %zz"} {
		id := "ok" + string(rune('0'+i))
		st, ctype, body := th.publish(t, "legacy-pub", url.Values{"topic": {topic}, "id": {id}, "type": {"Mercure"}})
		if st != http.StatusOK || ctype != "text/plain; charset=utf-8" || body != id {
			t.Errorf("publish %q: %d %q %q, want 200 text/plain; charset=utf-8 with the id", topic, st, ctype, body)
		}
	}
}

// TestPublishAuthorizationUnderBothTokenFormats checks publish grants and
// which publishers may reuse an id.
func TestPublishAuthorizationUnderBothTokenFormats(t *testing.T) {
	th := newTestHub(t, Config{})
	form := func(topic, id string) url.Values { return url.Values{"topic": {topic}, "id": {id}, "data": {"x"}} }

	if st, _, body := th.publish(t, "at-pub", form("t", "a1")); st != 200 || body != "a1" {
		t.Fatalf("access token with publish on *: %d %q", st, body)
	}
	if !th.log.lastAppended().ReuseID {
		t.Error("an access token's publication was not marked ReuseID")
	}
	if st, _, _ := th.publish(t, "legacy-pub", form("t", "l1")); st != 200 || th.log.lastAppended().ReuseID {
		t.Errorf("legacy publication: %d, ReuseID %v; want 200 without ReuseID", st, th.log.lastAppended().ReuseID)
	}
	if st, _, body := th.publish(t, "legacy-pub", form("t", "l1")); st != http.StatusConflict {
		t.Errorf("legacy token reusing a retained id: %d %q, want 409", st, body)
	}
	for _, tc := range []struct {
		token, topic string
		status       int
	}{
		{"at-pub-only", books + "1", 200},
		{"at-pub-only", books + "2", 403},
		{"at-books", books + "1", 403}, // subscribe detail only
		{"nobody", "t", 401},
	} {
		if st, _, body := th.publish(t, tc.token, form(tc.topic, "")); st != tc.status {
			t.Errorf("%s publishing %q: %d %q, want %d", tc.token, tc.topic, st, body, tc.status)
		}
	}
	// Every topic needs a grant: nothing is dispatched otherwise.
	before := th.log.lastAppended()
	if st, _, _ := th.publish(t, "at-pub-only", url.Values{"topic": {books + "1", books + "2"}, "data": {"x"}}); st != 403 {
		t.Errorf("publishing to a granted and a refused topic: %d, want 403", st)
	}
	if after := th.log.lastAppended(); after.ID != before.ID || after.Data != before.Data {
		t.Errorf("a refused publication reached the log: %+v", after)
	}
}
