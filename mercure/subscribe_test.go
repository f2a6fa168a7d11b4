package mercure

import (
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/heraldhub/herald/hub"
)

const books = "https://example.com/books/"

// TestBothDialectsReceiveTheSameUpdate subscribes in Mercure 0.x and 1.0
// to one hub and publishes once.
func TestBothDialectsReceiveTheSameUpdate(t *testing.T) {
	th := newTestHub(t, Config{})
	legacy := th.subscribe(t, "GET", "topic="+url.QueryEscape(books+"{id}"), "", nil)
	pattern := th.subscribe(t, "GET", "match_urlpattern="+url.QueryEscape(books+":id"), "", nil)
	exact := th.subscribe(t, "GET", "match="+url.QueryEscape(books+"1"), "", nil)
	exactTemplate := th.subscribe(t, "GET", "match_exact="+url.QueryEscape(books+"{id}")+"&match=other", "", nil)
	relative := th.subscribe(t, "GET", "match_urlpattern="+url.QueryEscape("/rel/:id"), "", nil)

	th.mustPublish(t, books+"1", "b1", false)
	th.mustPublish(t, books+"{id}", "b2", false)
	th.mustPublish(t, strings.TrimSuffix(th.srv.URL, "/")+"/rel/7", "r1", false)
	legacy.expect(t, "b1")        // a URI template does not expand to "{id}"
	pattern.expect(t, "b1", "b2") // "{id}" is a path segment like any other
	exact.expect(t, "b1")
	exactTemplate.expect(t, "b2")
	relative.expect(t, "r1")
}

// TestSubscriptionRefusals checks each malformed subscription is refused
// with its status and a reason naming the problem.
func TestSubscriptionRefusals(t *testing.T) {
	th := newTestHub(t, Config{MaxSelectorBytes: 64, MaxSubscriptionBytes: 256})
	long := strings.Repeat("a", 65)
	for _, tc := range []struct {
		method, query, body string
		status              int
		reason              string
	}{
		{"GET", "topic=a&match=a", "", 400, "one dialect"},
		{"GET", "match_foo=a", "", 400, `"match_foo"`},
		{"GET", "match=a&Match=b", "", 400, `"Match"`},
		{"GET", "MATCHES=a", "", 400, `"MATCHES"`},
		{"GET", "match_type=exact&match=a", "", 400, `"match_type"`},
		{"GET", "", "", 400, "missing topic"},
		{"GET", "lastEventID=x", "", 400, "missing topic"},
		{"GET", "match=a%00b", "", 400, "control or format"},
		{"GET", "match=a%E2%80%8Bb", "", 400, "U+200B"},
		{"GET", "match_urlpattern=a%C2%85", "", 400, "U+0085"},
		{"GET", "match=%FF", "", 400, "UTF-8"},
		{"GET", "match_urlpattern=" + url.QueryEscape("https://example.com/(unclosed"), "", 400, "urlpattern"},
		{"GET", "match=", "", 400, "empty"},
		{"GET", "match=a&authorization=x", "", 400, "URL"},
		{"GET", "match=a&access_token=x", "", 400, "URL"},
		{"GET", "match=" + long, "", 400, "--max-selector-bytes"},
		{"GET", "match_urlpattern=/" + long, "", 400, "--max-selector-bytes"},
		{"GET", strings.Repeat("match=aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa&", 10), "", 400, "--max-subscription-bytes"},
		{"QUERY", "", "topic=a", 400, "QUERY"},
		{"QUERY", "", "match_bar=a", 400, `"match_bar"`},
		{"QUERY", "", "match=a&access_token=x", 400, "URL"},
		{"QUERY", "", strings.Repeat("x", 4096), 413, "--max-subscription-bytes"},
		{"PUT", "match=a", "", 405, "QUERY"},
	} {
		resp := th.request(t, tc.method, tc.query, tc.body, nil)
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != tc.status || !strings.Contains(string(b), tc.reason) {
			t.Errorf("%s ?%.60s body %.40q: %d %q, want %d naming %q", tc.method, tc.query, tc.body, resp.StatusCode, b, tc.status, tc.reason)
		}
		if tc.status == 405 && !strings.Contains(resp.Header.Get("Allow"), "QUERY") {
			t.Errorf("Allow: %q, want QUERY among the methods", resp.Header.Get("Allow"))
		}
	}
	resp := th.request(t, "QUERY", "", "", http.Header{"Content-Type": {"text/plain"}})
	if resp.StatusCode != http.StatusUnsupportedMediaType {
		t.Errorf("QUERY with a text/plain body: %d, want 415", resp.StatusCode)
	}
}

// TestQuerySubscribesWithTheBody checks a QUERY subscription: its body's
// parameters are merged with the query, whose last_event_id wins.
func TestQuerySubscribesWithTheBody(t *testing.T) {
	th := newTestHub(t, Config{})
	for _, id := range []string{"u1", "u2", "u3"} {
		th.mustPublish(t, "t", id, false)
	}
	fromBody := th.subscribe(t, "QUERY", "", "match=t&last_event_id=u1", nil)
	fromBody.expect(t, "u2", "u3")
	queryWins := th.subscribe(t, "QUERY", "last_event_id=u2", "match=t&last_event_id=u1", nil)
	if got := queryWins.resp.Header.Get("Mercure-Last-Event-ID"); got != "u2" {
		t.Errorf("Mercure-Last-Event-ID: %q, want the query's u2", got)
	}
	queryWins.expect(t, "u3")
	both := th.subscribe(t, "QUERY", "match=other", "match_urlpattern=*", nil)
	th.mustPublish(t, "any", "u4", false)
	both.expect(t, "u4")
}

// TestCursorHeaderPerDialect checks which cursor parameter each dialect
// reads, that the Last-Event-ID header wins, and which header answers.
func TestCursorHeaderPerDialect(t *testing.T) {
	th := newTestHub(t, Config{})
	for _, id := range []string{"u1", "u2", "u3"} {
		th.mustPublish(t, "t", id, false)
	}
	for _, tc := range []struct {
		name, query   string
		hdr           http.Header
		header, value string
		first         string
	}{
		{"0.x", "topic=t&lastEventID=u1", nil, "Last-Event-ID", "u1", "u2"},
		{"1.0", "match=t&last_event_id=u1", nil, "Mercure-Last-Event-ID", "u1", "u2"},
		{"1.0 header wins", "match=t&last_event_id=u1", http.Header{"Last-Event-ID": {"u2"}}, "Mercure-Last-Event-ID", "u2", "u3"},
		{"0.x header wins", "topic=t&lastEventID=u1", http.Header{"Last-Event-ID": {"u2"}}, "Last-Event-ID", "u2", "u3"},
		{"1.0 unknown id", "match=t&last_event_id=gone", nil, "Mercure-Last-Event-ID", "earliest", "u1"},
		{"1.0 earliest", "match=t&last_event_id=earliest", nil, "Mercure-Last-Event-ID", "earliest", "u1"},
	} {
		s := th.subscribe(t, "GET", tc.query, "", tc.hdr)
		if got := s.resp.Header.Get(tc.header); got != tc.value {
			t.Errorf("%s: %s: %q, want %q", tc.name, tc.header, got, tc.value)
		}
		other := "Last-Event-ID"
		if tc.header == other {
			other = "Mercure-Last-Event-ID"
		}
		if got := s.resp.Header.Get(other); got != "" {
			t.Errorf("%s: also answered %s: %q", tc.name, other, got)
		}
		if strings.HasSuffix(tc.query, "=gone") {
			// A cut history is announced before the replay.
			if ev := s.next(t); ev.Type != hub.ResetType {
				t.Fatalf("%s: first event %+v, want a %s event", tc.name, ev, hub.ResetType)
			}
		}
		s.expect(t, tc.first)
	}
	// Each dialect ignores the other's cursor parameter: these start live.
	for _, q := range []string{"match=t&lastEventID=u1", "topic=t&last_event_id=u1"} {
		s := th.subscribe(t, "GET", q, "", nil)
		if s.resp.Header.Get("Last-Event-ID")+s.resp.Header.Get("Mercure-Last-Event-ID") != "" {
			t.Errorf("?%s answered a cursor header: %v", q, s.resp.Header)
		}
		th.mustPublish(t, "t", "live-"+q[:5], false)
		s.expect(t, "live-"+q[:5])
	}
}

// TestPrivateUpdatesNeedAMatchingSubscribeDetail checks who receives a
// private update, live and replayed: a 1.0 subscriber only with a
// subscribe detail matching one of its topics.
func TestPrivateUpdatesNeedAMatchingSubscribeDetail(t *testing.T) {
	th := newTestHub(t, Config{})
	q := "match_urlpattern=" + url.QueryEscape(books+":id")
	live := map[string]*stream{
		"at-books":    th.subscribe(t, "GET", q, "", bearer("at-books")),
		"at-pub-only": th.subscribe(t, "GET", q, "", bearer("at-pub-only")),
		"anonymous":   th.subscribe(t, "GET", q, "", nil),
	}
	th.mustPublish(t, books+"1", "p1", true)
	th.mustPublish(t, books+"2", "pub2", false)
	for name, s := range live {
		if name == "at-books" {
			s.expect(t, "p1", "pub2")
		} else {
			s.expect(t, "pub2")
		}
	}
	// A 0.x subscription with an access token is judged by its details too.
	legacy := th.subscribe(t, "GET", "topic="+url.QueryEscape(books+"{id}")+"&lastEventID=earliest", "", bearer("at-books"))
	legacy.expect(t, "p1", "pub2")
	for name, hdr := range map[string]http.Header{"at-books": bearer("at-books"), "at-pub-only": bearer("at-pub-only"), "anonymous": nil} {
		s := th.subscribe(t, "GET", q+"&last_event_id=earliest", "", hdr)
		if name == "at-books" {
			s.expect(t, "p1", "pub2")
		} else {
			s.expect(t, "pub2")
		}
	}
}

// TestURLPatternsCountAsTemplateBytes checks that URL patterns, like URI
// templates, count toward --max-template-bytes-per-ip, and exact matchers,
// even with "{", do not.
func TestURLPatternsCountAsTemplateBytes(t *testing.T) {
	th := newTestHub(t, Config{MaxTemplateBytesPerIP: 100})
	pattern := "/" + strings.Repeat("a", 69) // 70 bytes
	th.subscribe(t, "GET", "match_urlpattern="+pattern, "", nil)
	resp := th.request(t, "GET", "match_urlpattern="+pattern+"b", "", nil)
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusTooManyRequests || !strings.Contains(string(b), "--max-template-bytes-per-ip") {
		t.Fatalf("a second 71-byte URL pattern: %d %q, want 429 naming --max-template-bytes-per-ip", resp.StatusCode, b)
	}
	th.subscribe(t, "GET", "match="+url.QueryEscape("{"+strings.Repeat("a", 80)+"}")+"&match_urlpattern=*", "", nil)
}
