package conformance_test

import (
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/heraldhub/herald/internal/proctest"
)

// suiteCase is one case of a conformance suite: an anonymous subscription
// on selectors (in the query parameter param) and an update on topics.
type suiteCase struct {
	name      string
	param     string
	selectors []string
	topics    []string
	received  bool
	private   bool
	// marker is a topic the selectors match, for the public update that
	// tells, once it arrives, that nothing published before it is still on
	// its way (a stream delivers in log order).
	marker string
}

// textPlain is the suites' check of the publication's Content-Type.
var textPlain = regexp.MustCompile(`^text/plain(?:$|;.*)`)

// checkCase publishes c's update on a fresh anonymous subscription and
// checks the answer and what the subscription receives.
func checkCase(t *testing.T, hub *proctest.Herald, c suiteCase, publishers []publisher) {
	t.Helper()
	q := url.Values{c.param: c.selectors}
	s := subscribe(t, hub, q.Encode(), "")
	id := updateID(c.topics)
	data := fmt.Sprintf("data for\n\n        %s", c.name)
	form := url.Values{"topic": c.topics, "id": {id}, "data": {data}}
	if c.private {
		form.Set("private", "on")
	}
	sent := time.Now()
	for _, p := range publishers {
		a := publish(t, hub, p.token, form)
		if a.status != p.status {
			t.Errorf("publish under the %s token: %d %q, want %d", p.name, a.status, a.body, p.status)
			continue
		}
		if a.status == http.StatusOK && (!textPlain.MatchString(a.contentType) || a.body != id) {
			t.Errorf("publish under the %s token answered %q %q, want text/plain with the id %q", p.name, a.contentType, a.body, id)
		}
	}
	markerID := "marker-" + randomString(t)
	if a := publish(t, hub, publishers[0].token, url.Values{"topic": {c.marker}, "id": {markerID}, "data": {"marker"}}); a.status != http.StatusOK {
		t.Fatalf("marker publication: %d %s", a.status, a.body)
	}
	got := s.until(t, markerID)
	var want []string
	if c.received {
		want = append(want, fmt.Sprintf("message %s %q", id, data))
	}
	want = append(want, fmt.Sprintf("message %s %q", markerID, "marker"))
	var seen []string
	for _, ev := range got {
		seen = append(seen, fmt.Sprintf("%s %s %q", ev.Type, ev.ID, ev.Data))
		if ev.ID == id && ev.at.Sub(sent) > 2*time.Second {
			t.Errorf("the update arrived %v after it was published, the suites wait 2 s", ev.at.Sub(sent))
		}
	}
	if strings.Join(seen, "\n") != strings.Join(want, "\n") {
		t.Errorf("the anonymous subscription on %s received\n%s\nwant\n%s", q.Encode(), strings.Join(seen, "\n"), strings.Join(want, "\n"))
	}
}

// publisher is a token a case publishes with and the status it expects.
type publisher struct {
	name, token string
	status      int
}

func TestHeraldServePassesTheMercureSuitesOfBothDialects(t *testing.T) {
	hub := startSuiteHub(t)
	if legacyToken != legacySuiteToken {
		t.Fatalf("the 0.x token minted here differs from the suite's: %s", legacyToken)
	}

	t.Run("demo page", func(t *testing.T) {
		resp, err := hub.Client.Get(hub.URL + "/")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") || len(b) == 0 {
			t.Fatalf("GET /: %d %s, want the demo page", resp.StatusCode, resp.Header.Get("Content-Type"))
		}
	})

	access := publisher{"1.0", accessSuiteToken, http.StatusOK}
	legacy := publisher{"0.x", legacyToken, http.StatusOK}

	t.Run("1.0", func(t *testing.T) {
		r := []string{randomString(t), randomString(t), randomString(t), randomString(t)}
		uri, pattern := "https://example.net/foo/"+r[2], "https://example.net/foo/:random"
		for _, c := range []suiteCase{
			{"raw string", "match", []string{r[0]}, []string{r[0]}, true, false, r[0]},
			{"multiple topic selectors", "match", []string{"foo", r[1]}, []string{r[1]}, true, false, "foo"},
			{"URI", "match", []string{uri}, []string{uri}, true, false, uri},
			{"URL pattern", "match_urlpattern", []string{pattern}, []string{"https://example.net/foo/" + r[3]}, true, false, "https://example.net/foo/marker"},
			{"nonmatching raw string", "match", []string{"another-name"}, []string{"will-not-match"}, false, false, "another-name"},
			{"nonmatching URI", "match", []string{"https://example.net/foo/another-name"}, []string{"https://example.net/foo/will-not-match"}, false, false, "https://example.net/foo/another-name"},
			{"nonmatching URL pattern", "match_urlpattern", []string{"https://example.net/bar/:var"}, []string{"https://example.net/foo/will-not-match"}, false, false, "https://example.net/bar/marker"},
		} {
			t.Run(c.name, func(t *testing.T) { checkCase(t, hub, c, []publisher{access}) })
		}
		// The private twins reuse the public cases' ids: the 1.0 token's
		// duplicate resolves to the first occurrence (200); the 0.x
		// token's is refused (409). Neither reaches the anonymous
		// subscription.
		twins := []publisher{access, {"0.x", legacyToken, http.StatusConflict}}
		for _, c := range []suiteCase{
			{"private raw string", "match", []string{r[0]}, []string{r[0]}, false, true, r[0]},
			{"private URI", "match", []string{uri}, []string{uri}, false, true, uri},
			{"private URL pattern", "match_urlpattern", []string{pattern}, []string{"https://example.net/foo/" + r[3]}, false, true, "https://example.net/foo/marker"},
		} {
			t.Run(c.name, func(t *testing.T) { checkCase(t, hub, c, twins) })
		}
	})

	t.Run("0.x", func(t *testing.T) {
		r := []string{randomString(t), randomString(t), randomString(t), randomString(t), randomString(t)}
		uri, template := "https://example.net/foo/"+r[3], "https://example.net/foo/{random}"
		for _, c := range []suiteCase{
			{"raw string", "topic", []string{r[0]}, []string{r[0]}, true, false, r[0]},
			{"multiple topics", "topic", []string{r[1]}, []string{randomString(t), r[1]}, true, false, r[1]},
			{"multiple topic selectors", "topic", []string{"foo", r[2]}, []string{r[2]}, true, false, "foo"},
			{"URI", "topic", []string{uri}, []string{uri}, true, false, uri},
			{"URI template", "topic", []string{template}, []string{"https://example.net/foo/" + r[4]}, true, false, "https://example.net/foo/marker"},
			{"nonmatching raw string", "topic", []string{"another-name"}, []string{"will-not-match}"}, false, false, "another-name"},
			{"nonmatching URI", "topic", []string{"https://example.net/foo/another-name"}, []string{"https://example.net/foo/will-not-match}"}, false, false, "https://example.net/foo/another-name"},
		} {
			t.Run(c.name, func(t *testing.T) { checkCase(t, hub, c, []publisher{legacy}) })
		}
		// Herald's 0.x rule refuses a reused id (409): the private twins,
		// and the nonmatching URI template case (its topic, so its id, is
		// the nonmatching URI case's), deliver nothing, which is what the
		// suite expects.
		twins := []publisher{{"0.x", legacyToken, http.StatusConflict}}
		for _, c := range []suiteCase{
			{"nonmatching URI template", "topic", []string{"https://example.net/bar/{var}"}, []string{"https://example.net/foo/will-not-match}"}, false, false, "https://example.net/bar/marker"},
			{"private raw string", "topic", []string{r[0]}, []string{r[0]}, false, true, r[0]},
			{"private URI", "topic", []string{uri}, []string{uri}, false, true, uri},
			{"private URI template", "topic", []string{template}, []string{"https://example.net/foo/" + r[4]}, false, true, "https://example.net/foo/marker"},
		} {
			t.Run(c.name, func(t *testing.T) { checkCase(t, hub, c, twins) })
		}
	})
}
