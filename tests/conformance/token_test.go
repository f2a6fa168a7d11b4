package conformance_test

import (
	"net/http"
	"net/url"
	"os/exec"
	"strings"
	"testing"

	"github.com/heraldhub/herald/internal/proctest"
)

// mintToken runs `herald token` with args and returns the token it prints.
func mintToken(t *testing.T, args ...string) string {
	t.Helper()
	cmd := exec.Command(proctest.HeraldBinary(t), append([]string{"token", "--key", suiteKey}, args...)...)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("herald token %s: %v", strings.Join(args, " "), err)
	}
	return strings.TrimSpace(string(out))
}

func TestAccessTokensMintedByTheCLIAreAcceptedByServe(t *testing.T) {
	hub := startSuiteHub(t)
	at := []string{"--format", "at+jwt", "--issuer", suiteIssuer, "--audience", suiteResource}
	publisher := mintToken(t, append(at, "--publish", "https://example.com/books/:id", "--match-type", "urlpattern")...)
	subscriber := mintToken(t, append(at, "--subscribe", "https://example.com/books/1")...)

	private := subscribe(t, hub, "match_urlpattern="+url.QueryEscape("https://example.com/books/:id"), "Bearer "+subscriber)
	anonymous := subscribe(t, hub, "match="+url.QueryEscape("https://example.com/books/1"), "")
	a := publish(t, hub, publisher, url.Values{"topic": {"https://example.com/books/1"}, "id": {"p"}, "data": {"private"}, "private": {"on"}})
	if a.status != http.StatusOK || a.body != "p" {
		t.Fatalf("publish with the CLI's access token: %d %s", a.status, a.body)
	}
	a = publish(t, hub, publisher, url.Values{"topic": {"https://example.com/books/1"}, "id": {"q"}, "data": {"public"}})
	if a.status != http.StatusOK {
		t.Fatalf("publish with the CLI's access token: %d %s", a.status, a.body)
	}
	if got := private.until(t, "q"); len(got) != 2 || got[0].ID != "p" || got[0].Data != "private" {
		t.Errorf("the subscriber whose CLI token grants books/1 received %+v, want the private update, then the public one", got)
	}
	if got := anonymous.until(t, "q"); len(got) != 1 {
		t.Errorf("the anonymous subscriber received %+v, want the public update only", got)
	}

	// The publish grant is the URL pattern: another path is refused, with
	// the RFC 6750 challenge.
	req, _ := http.NewRequest(http.MethodPost, hub.URL+"/.well-known/mercure", strings.NewReader("topic=https%3A%2F%2Fexample.com%2Fauthors%2F1&data=x"))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Authorization", "Bearer "+publisher)
	resp, err := hub.Client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden || !strings.Contains(resp.Header.Get("WWW-Authenticate"), `error="insufficient_scope"`) {
		t.Errorf("publish beyond the grant: %d %q, want 403 with insufficient_scope", resp.StatusCode, resp.Header.Get("WWW-Authenticate"))
	}
}
