package mercure

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/heraldhub/herald/hub"
)

// FuzzParseSubscription checks that no query string or QUERY body makes
// the subscription parser panic, that it refuses with a client error, and
// that what it accepts is one dialect whose 1.0 matchers are clean text.
func FuzzParseSubscription(f *testing.F) {
	for _, s := range []struct {
		query, body string
		query2      bool
	}{
		{"topic=a", "", false},
		{"match=a&match_urlpattern=https://example.com/:id", "", false},
		{"topic=a&match=b", "", false},
		{"match_foo=a", "", false},
		{"MaTcH=a", "", false},
		{"match=a%E2%80%8B", "", false},
		{"match=a&authorization=x", "", false},
		{"last_event_id=q", "match=a&last_event_id=b", true},
		{"", "topic=a", true},
		{"match=%zz;x", "match_exact=%FF", true},
	} {
		f.Add(s.query, s.body, s.query2)
	}
	f.Fuzz(func(t *testing.T, query, body string, useQuery bool) {
		method := http.MethodGet
		if useQuery {
			method = MethodQuery
		}
		req := httptest.NewRequest(method, Path, strings.NewReader(body))
		req.URL.RawQuery = query
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		got, err := parseSubscription(req, 1<<10)
		if err != nil {
			if st := Status(err); st < 400 || st >= 500 {
				t.Fatalf("refused with status %d: %v", st, err)
			}
			return
		}
		if len(got.matchers) == 0 {
			t.Fatal("accepted a subscription without a matcher")
		}
		for _, m := range got.matchers {
			if (m.typ != "") != got.v1 {
				t.Fatalf("mixed dialects: %+v", got)
			}
			if got.v1 && hub.CheckText(m.value) != nil {
				t.Fatalf("accepted the matcher %q", m.value)
			}
		}
		if useQuery && !got.v1 {
			t.Fatal("accepted a 0.x QUERY subscription")
		}
	})
}
