package conformance_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/heraldhub/herald/internal/proctest"
)

// getJSON GETs path on hub and decodes its JSON answer into v.
func getJSON(t *testing.T, hub *proctest.Herald, path string, v any) {
	t.Helper()
	resp, err := hub.Client.Get(hub.URL + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d", path, resp.StatusCode)
	}
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
}

// cookieDelivery subscribes to books/1 on hub with the Cookie header
// cookie, publishes a private update then a public one there, and reports
// whether the private one was received.
func cookieDelivery(t *testing.T, hub *proctest.Herald, cookie string) bool {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, hub.URL+"/.well-known/mercure?match=books%2F1", nil)
	req.Header.Set("Cookie", cookie)
	s := open(t, hub, req)
	id := "private-" + randomString(t)
	for _, form := range []url.Values{
		{"topic": {"books/1"}, "id": {id}, "data": {"private"}, "private": {"on"}},
		{"topic": {"books/1"}, "id": {"public-" + id}, "data": {"public"}},
	} {
		if a := publish(t, hub, accessSuiteToken, form); a.status != http.StatusOK {
			t.Fatalf("publish: %d %s", a.status, a.body)
		}
	}
	got := s.until(t, "public-"+id)
	return len(got) == 2 && got[0].ID == id
}

func TestAccessTokenCookieIsTheDefaultOneOrTheOneNamedByCookieName(t *testing.T) {
	subscriber := mintToken(t, "--format", "at+jwt", "--issuer", suiteIssuer, "--audience", suiteResource, "--subscribe", "books/1")
	for _, c := range []struct {
		name   string
		args   []string
		cookie string // the cookie the hub reads access tokens from
	}{
		{"default", nil, "__Secure-mercure_access_token"},
		{"--cookie-name", []string{"--cookie-name", "hub_token"}, "hub_token"},
	} {
		t.Run(c.name, func(t *testing.T) {
			hub := startSuiteHub(t, c.args...)
			var doc struct {
				Cookie string `json:"mercure_cookie"`
			}
			getJSON(t, hub, "/.well-known/oauth-protected-resource/.well-known/mercure", &doc)
			if doc.Cookie != c.cookie {
				t.Errorf("metadata names the cookie %q, want %q", doc.Cookie, c.cookie)
			}
			if !cookieDelivery(t, hub, c.cookie+"="+subscriber) {
				t.Errorf("an access token in the %s cookie did not receive the private update", c.cookie)
			}
			for _, other := range []string{"__Secure-mercure_access_token", "hub_token", "mercure_access_token"} {
				if other != c.cookie && cookieDelivery(t, hub, other+"="+subscriber) {
					t.Errorf("an access token in the %s cookie received the private update; only %s is read", other, c.cookie)
				}
			}
		})
	}
}

func TestMetadataListsTheIssuersOfFlagsAndConfigFile(t *testing.T) {
	file := filepath.Join(t.TempDir(), "herald.toml")
	os.WriteFile(file, []byte(`
[[issuers]]
id = "https://partner.example"
publisher-keys = ["partner-publisher-secret-0123456789"]
`), 0o600)
	hub := startSuiteHub(t, "--config", file)
	var doc struct {
		Resource string   `json:"resource"`
		Servers  []string `json:"authorization_servers"`
	}
	getJSON(t, hub, "/.well-known/oauth-protected-resource/.well-known/mercure", &doc)
	if doc.Resource != suiteResource || !reflect.DeepEqual(doc.Servers, []string{suiteIssuer, "https://partner.example"}) {
		t.Errorf("metadata: resource %q, issuers %q; want %q and both issuers", doc.Resource, doc.Servers, suiteResource)
	}
}
