package node

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// The issuer and resource identifier the public Mercure 1.0 conformance
// suite's tokens carry.
const (
	suiteIssuer   = "https://localhost"
	suiteResource = "https://localhost/.well-known/mercure"
	// accessCookie is the access-token cookie of the browser tests: a
	// page served over plain HTTP cannot set a __Secure- cookie.
	accessCookie = "mercure_access_token"
)

// suiteToken mints a Mercure 1.0 access token (typ at+jwt) of the suite's
// issuer and audience, granting actions on every topic.
func suiteToken(t *testing.T, key string, actions ...string) string {
	t.Helper()
	var details []map[string]any
	for _, a := range actions {
		details = append(details, map[string]any{
			"type":    "https://mercure.rocks/authorization-detail",
			"actions": []string{a},
			"topics":  []map[string]string{{"match": "*"}},
		})
	}
	tok := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{
		"iss": suiteIssuer, "aud": suiteResource, "exp": time.Now().Add(time.Hour).Unix(),
		"authorization_details": details,
	})
	tok.Header["typ"] = "at+jwt"
	s, err := tok.SignedString([]byte(key))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestBrowserMercure10Conformance runs, in headless Chromium, the cases of
// the public Mercure 1.0 conformance suite against a hub configured as the
// suite expects (issuer https://localhost, its resource identifier, one
// HS256 key for both roles, anonymous subscribers allowed): match= and
// match_urlpattern= subscriptions receive exactly the updates they match,
// within two seconds, with the publisher's id, and a private update that
// reuses its public twin's id reaches only the subscriber whose access
// token (in the cookie) allows it, never the anonymous one.
func TestBrowserMercure10Conformance(t *testing.T) {
	n := startNode(t, Config{
		PublisherKey: publisherKey, SubscriberKey: publisherKey,
		Issuer: suiteIssuer, ResourceIdentifier: suiteResource, AccessTokenCookie: accessCookie,
	})
	page := servePage(t, n.srv.Handler())
	tab := openPage(t, page.URL)
	publisherToken := suiteToken(t, publisherKey, "publish", "subscribe")
	subscriberToken := suiteToken(t, publisherKey, "subscribe")

	const foo = "https://example.net/foo/"
	cases := []struct {
		name      string
		param     string
		selectors []string
		topic     string
		marker    string
		private   bool
		matches   bool
	}{
		{name: "raw string", param: "match", selectors: []string{"hex-1"}, topic: "hex-1", marker: "hex-1", matches: true},
		{name: "multiple topic selectors", param: "match", selectors: []string{"foo", "hex-2"}, topic: "hex-2", marker: "foo", matches: true},
		{name: "URI", param: "match", selectors: []string{foo + "hex-3"}, topic: foo + "hex-3", marker: foo + "hex-3", matches: true},
		{name: "URL pattern", param: "match_urlpattern", selectors: []string{foo + ":random"}, topic: foo + "hex-4", marker: foo + "marker-4", matches: true},
		{name: "nonmatching raw string", param: "match", selectors: []string{"another-name"}, topic: "will-not-match", marker: "another-name"},
		{name: "nonmatching URI", param: "match", selectors: []string{foo + "another-name"}, topic: foo + "will-not-match", marker: foo + "another-name"},
		{name: "nonmatching URL pattern", param: "match_urlpattern", selectors: []string{"https://example.net/bar/:var"}, topic: foo + "will-not-match", marker: "https://example.net/bar/marker-7"},
		{name: "private raw string", param: "match", selectors: []string{"hex-1"}, topic: "hex-1", marker: "hex-1", private: true, matches: true},
		{name: "private URI", param: "match", selectors: []string{foo + "hex-3"}, topic: foo + "hex-3", marker: foo + "hex-3", private: true, matches: true},
		{name: "private URL pattern", param: "match_urlpattern", selectors: []string{foo + ":random"}, topic: foo + "hex-4", marker: foo + "marker-10", private: true, matches: true},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			topics, _ := json.Marshal([]string{tc.topic})
			id := "id-" + string(topics) // the private cases reuse their public twin's id
			data := "data for\n\n        " + tc.name
			markerID := fmt.Sprintf("marker10-%d", i)
			got := runJS[observation](t, tab, jsCall(t, publishAndObserve, map[string]any{
				"param": tc.param, "selectors": tc.selectors, "topics": []string{tc.topic}, "marker": tc.marker,
				"id": id, "markerID": markerID, "data": data, "private": tc.private, "cookie": accessCookie,
				"publisherToken": publisherToken, "subscriberToken": subscriberToken,
			}))
			switch {
			case got.Update.Status != http.StatusOK || !textPlain.MatchString(got.Update.ContentType) || got.Update.Body != id:
				t.Fatalf("publication answered %d %q %q, want 200, text/plain and the id %q", got.Update.Status, got.Update.ContentType, got.Update.Body, id)
			case got.Marker.Status != http.StatusOK:
				t.Fatalf("marker publication answered %d %q", got.Marker.Status, got.Marker.Body)
			case !got.MarkerArrived:
				t.Fatalf("the marker did not reach both EventSources within 5 s: anonymous saw %v, authorized saw %v", got.Anonymous, got.Authorized)
			}
			check := func(who string, seen []seenEvent, receives bool) {
				t.Helper()
				want := []string{markerID}
				if receives {
					want = append([]string{id}, want...)
				}
				var ids []string
				for _, e := range seen {
					ids = append(ids, e.ID)
				}
				if !slices.Equal(ids, want) {
					t.Fatalf("%s EventSource received ids %q, want %q", who, ids, want)
				}
				if receives && (seen[0].Type != "message" || seen[0].Data != data || seen[0].At > 2000) {
					t.Fatalf("%s EventSource received %+v, want a message event with data %q within 2000 ms", who, seen[0], data)
				}
			}
			check("the anonymous", got.Anonymous, tc.matches && !tc.private)
			check("the authorized", got.Authorized, tc.matches)
		})
	}
}

// mixedTokens opens a Mercure 0.x EventSource (topic=, URI template) and a
// 1.0 one (match_urlpattern=) on the same hub, publishes c.count updates,
// alternating a 0.x publisher token and a 1.0 access token, and returns the
// ids each received once it has them all (or after 5 s).
const mixedTokens = `async (c) => {
  const old = await subscribe([c.template], "");
  const neu = await subscribe([c.pattern], "", "match_urlpattern");
  const statuses = [];
  for (let i = 0; i < c.count; i++) {
    const tok = i % 2 === 0 ? c.legacyToken : c.accessToken;
    statuses.push((await publish(tok, [c.prefix + i], { id: "both-" + i, data: "update " + i })).status);
  }
  const all = (rec) => rec.seen.length >= c.count;
  await old.until(all, 5000);
  await neu.until(all, 5000);
  old.es.close();
  neu.es.close();
  return { statuses, old: old.seen.map((e) => e.id), neu: neu.seen.map((e) => e.id) };
}`

// TestBrowserBothDialectsWithBothTokenFormats: a Mercure 0.x subscription
// and one using 1.0, on one hub, receive the same updates in the same
// order, whichever dialect's token published them.
func TestBrowserBothDialectsWithBothTokenFormats(t *testing.T) {
	n := startNode(t, Config{
		PublisherKey: publisherKey, SubscriberKey: publisherKey,
		Issuer: suiteIssuer, ResourceIdentifier: suiteResource,
	})
	page := servePage(t, n.srv.Handler())
	tab := openPage(t, page.URL)
	const count = 6
	var got struct {
		Statuses []int
		Old, Neu []string
	}
	got = runJS[struct {
		Statuses []int
		Old, Neu []string
	}](t, tab, jsCall(t, mixedTokens, map[string]any{
		"template": "https://example.net/both/{n}", "pattern": "https://example.net/both/:n",
		"prefix": "https://example.net/both/", "count": count,
		"legacyToken": token(t, publisherKey, []string{"*"}, nil), "accessToken": suiteToken(t, publisherKey, "publish"),
	}))
	var want []string
	for i := range count {
		want = append(want, fmt.Sprintf("both-%d", i))
	}
	for i, s := range got.Statuses {
		if s != http.StatusOK {
			t.Fatalf("publication %d answered %d, want 200", i, s)
		}
	}
	if !slices.Equal(got.Old, want) || !slices.Equal(got.Neu, want) {
		t.Fatalf("0.x EventSource got %q, 1.0 EventSource got %q, want both %q", got.Old, got.Neu, want)
	}
}
