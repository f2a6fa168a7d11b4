package authz

import (
	"errors"
	"testing"

	"github.com/heraldhub/herald/auth"
	"github.com/heraldhub/herald/hub"
)

const base = "https://hub.example/.well-known/mercure"

// access returns an access token's claims with details.
func access(details ...auth.Detail) *auth.Claims {
	return &auth.Claims{Format: auth.AccessToken, Details: details}
}

func detail(payload string, actions []string, topics ...auth.Matcher) auth.Detail {
	d := auth.Detail{Actions: actions, Topics: topics}
	if payload != "" {
		d.Payload = []byte(payload)
	}
	return d
}

var (
	pub  = []string{auth.ActionPublish}
	sub  = []string{auth.ActionSubscribe}
	both = []string{auth.ActionPublish, auth.ActionSubscribe}
)

// policyCase is a decision of the policy and the error it should give.
type policyCase struct {
	name   string
	claims *auth.Claims
	topics []string
	want   error
}

// checkPolicy runs check over cases.
func checkPolicy(t *testing.T, check func(*auth.Claims, []string, string) error, cases []policyCase) {
	t.Helper()
	for _, tc := range cases {
		err := check(tc.claims, tc.topics, base)
		if (tc.want == nil) != (err == nil) || (tc.want != nil && !errors.Is(err, tc.want)) {
			t.Errorf("%s: %v, want %v", tc.name, err, tc.want)
		}
	}
}

// TestCheckPublishUnderBothFormats checks that both token formats grant
// publishing by the same rule: every topic must be matched.
func TestCheckPublishUnderBothFormats(t *testing.T) {
	checkPolicy(t, CheckPublish, []policyCase{
		{"anonymous", nil, []string{"a"}, auth.ErrNoToken},
		{"legacy wildcard", &auth.Claims{Publish: []string{"*"}}, []string{"a", "b"}, nil},
		{"legacy template", &auth.Claims{Publish: []string{"books/{id}"}}, []string{"books/1"}, nil},
		{"legacy one topic refused", &auth.Claims{Publish: []string{"a"}}, []string{"a", "b"}, auth.ErrForbidden},
		{"legacy none", &auth.Claims{Subscribe: []string{"*"}}, []string{"a"}, auth.ErrForbidden},
		{"legacy invalid selector", &auth.Claims{Publish: []string{"{"}}, []string{"a"}, auth.ErrInvalidToken},
		{"access wildcard", access(detail("", pub, auth.Matcher{Match: "*"})), []string{"a", "b"}, nil},
		{"access exact has no template meaning", access(detail("", pub, auth.Matcher{Match: "books/{id}"})), []string{"books/1"}, auth.ErrForbidden},
		{"access urlpattern", access(detail("", pub, auth.Matcher{Match: "/books/:id", Type: auth.MatchURLPattern})), []string{"https://hub.example/books/1"}, nil},
		{"access subscribe only", access(detail("", sub, auth.Matcher{Match: "*"})), []string{"a"}, auth.ErrForbidden},
		{"access ignores the legacy claim", &auth.Claims{Format: auth.AccessToken, Publish: []string{"*"}}, []string{"a"}, auth.ErrForbidden},
		{"access invalid matcher", access(detail("", pub, auth.Matcher{Match: "x", Type: "regexp"})), []string{"a"}, auth.ErrInvalidToken},
	})
}

// TestCheckReceiveUnderBothFormats checks who may receive a private update.
func TestCheckReceiveUnderBothFormats(t *testing.T) {
	checkPolicy(t, CheckReceive, []policyCase{
		{"anonymous", nil, []string{"a"}, auth.ErrNoToken},
		{"legacy one of the topics", &auth.Claims{Subscribe: []string{"b"}}, []string{"a", "b"}, nil},
		{"legacy none", &auth.Claims{Publish: []string{"*"}}, []string{"a"}, auth.ErrForbidden},
		{"access subscribe detail", access(detail("", both, auth.Matcher{Match: "a"})), []string{"a"}, nil},
		{"access publish detail only", access(detail("", pub, auth.Matcher{Match: "*"})), []string{"a"}, auth.ErrForbidden},
		{"access ignores the legacy claim", &auth.Claims{Format: auth.AccessToken, Subscribe: []string{"*"}}, []string{"a"}, auth.ErrForbidden},
	})
}

// TestPayloadOfFirstMatchingSubscribeDetail checks which payload a
// subscription carries.
func TestPayloadOfFirstMatchingSubscribeDetail(t *testing.T) {
	c := access(
		detail(`{"n":0}`, pub, auth.Matcher{Match: "*"}),
		detail(`{"n":1}`, sub, auth.Matcher{Match: "https://example.com/books/:id", Type: auth.MatchURLPattern}),
		detail(`{"n":2}`, sub, auth.Matcher{Match: "*"}),
	)
	for _, tc := range []struct{ typ, match, want string }{
		{hub.TypeExact, "https://example.com/books/1", `{"n":1}`},
		// The subscription's matcher string is taken as a topic.
		{hub.TypeURLPattern, "https://example.com/books/:id", `{"n":1}`},
		{hub.TypeURLPattern, "https://example.com/authors/:id", `{"n":2}`},
	} {
		sel, err := hub.ParseMatcher(tc.typ, tc.match, base)
		if err != nil {
			t.Fatal(err)
		}
		if got := string(Payload(c, sel, base)); got != tc.want {
			t.Errorf("payload of %s %q = %s, want %s", tc.typ, tc.match, got, tc.want)
		}
	}
	sel, _ := hub.ParseSelector("a")
	if got := Payload(&auth.Claims{Payload: []byte(`{"legacy":true}`)}, sel, base); string(got) != `{"legacy":true}` {
		t.Errorf("legacy payload = %s", got)
	}
	if got := Payload(access(detail(`{"n":3}`, sub, auth.Matcher{Match: "b"})), sel, base); got != nil {
		t.Errorf("payload without a matching detail = %s, want none", got)
	}
}
