package push

import (
	"strings"
	"testing"
)

func FuzzParseRequest(f *testing.F) {
	for _, seed := range []string{
		`{"callback": "https://h.example/cb", "topics": ["orders/{id}"]}`,
		`{"callback": "https://h.example/cb", "match": "https://h.example/:id", "match_type": "urlpattern", "secret": "0123456789abcdef"}`,
		`{"callback": ""}`,
		`{"topics": []}`,
		`{"callback": "x", "topics": ["a"], "extra": 1}`,
		`[]`, `null`, ``, `{"callback": "x", "match_type": "exact"}`,
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, body string) {
		req, err := ParseRequest(strings.NewReader(body))
		if err != nil {
			return
		}
		if req.Callback == "" || len(req.Topics) == 0 && req.Match == "" || len(req.Topics) > maxSelectors {
			t.Fatalf("accepted %q as %+v", body, req)
		}
		// What is accepted either parses into selectors or is refused
		// with an error, never a panic.
		selectors(Definition{Topics: req.Topics, Match: req.Match, MatchType: req.MatchType, Base: "https://h.example/.well-known/mercure"})
	})
}
