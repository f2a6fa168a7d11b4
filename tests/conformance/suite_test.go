// Package conformance_test runs the herald binary exactly as the public
// Mercure conformance suites are run against it — `herald serve
// --publisher-key K --subscriber-key K --issuer https://localhost
// --resource-identifier https://localhost/.well-known/mercure`, over HTTPS,
// anonymous subscribers allowed — and replays their cases over the wire:
// the 1.0 suite (dunglas/mercure conformance-tests at 192faaa: match= and
// match_urlpattern= subscriptions, an at+jwt publisher token) and the 0.x
// one (tag v0.24.2: topic= selectors and URI templates, a token with the
// mercure claim), both against the same process.
package conformance_test

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/heraldhub/herald/internal/proctest"
	"github.com/heraldhub/herald/sse"
)

func TestMain(m *testing.M) {
	code := m.Run()
	proctest.RemoveBinary()
	os.Exit(code)
}

// The suites' configuration: the HMAC key both sign with, and the issuer
// and resource identifier of the 1.0 suite's token.
const (
	suiteKey      = "!ChangeThisMercureHubJWTSecretKey!"
	suiteIssuer   = "https://localhost"
	suiteResource = "https://localhost/.well-known/mercure"
)

// legacySuiteToken is the publisher token the v0.24.2 suite hard-codes.
const legacySuiteToken = "eyJhbGciOiJIUzI1NiJ9.eyJtZXJjdXJlIjp7InB1Ymxpc2giOlsiKiJdLCJzdWJzY3JpYmUiOlsiKiJdfX0.bVXdlWXwfw9ySx7-iV5OpUSHo34RkjUdVzDLBcc6l_g"

// hs256 signs a JWS with suiteKey over header and claims exactly as given
// (a JWT library would add or reorder header members).
func hs256(header, claims string) string {
	enc := base64.RawURLEncoding
	input := enc.EncodeToString([]byte(header)) + "." + enc.EncodeToString([]byte(claims))
	mac := hmac.New(sha256.New, []byte(suiteKey))
	mac.Write([]byte(input))
	return input + "." + enc.EncodeToString(mac.Sum(nil))
}

// The suites' publisher tokens: 1.0 (at+jwt, a publish and a subscribe
// detail on "*", no sub, client_id, iat or jti) and 0.x.
var (
	accessSuiteToken = hs256(`{"alg":"HS256","typ":"at+jwt"}`,
		`{"aud":"`+suiteResource+`","iss":"`+suiteIssuer+`","authorization_details":[`+
			`{"type":"https://mercure.rocks/authorization-detail","actions":["publish"],"topics":[{"match":"*"}]},`+
			`{"type":"https://mercure.rocks/authorization-detail","actions":["subscribe"],"topics":[{"match":"*"}]}],"exp":4102444800}`)
	legacyToken = hs256(`{"alg":"HS256"}`, `{"mercure":{"publish":["*"],"subscribe":["*"]}}`)
)

// startSuiteHub runs herald as the conformance suites are run against it,
// plus extra args, on an in-memory log.
func startSuiteHub(t *testing.T, extra ...string) *proctest.Herald {
	t.Helper()
	args := []string{
		"--publisher-key", suiteKey, "--subscriber-key", suiteKey,
		"--issuer", suiteIssuer, "--resource-identifier", suiteResource,
		"--log", "memory", "--data-dir", t.TempDir(),
	}
	return proctest.StartHeraldTLS(t, append(args, extra...)...)
}

// received is an event and when it arrived.
type received struct {
	sse.Event
	at time.Time
}

// stream is an open subscription's events, in order.
type stream struct {
	resp   *http.Response
	events chan received
}

// subscribe opens a subscription on the hub with query and the
// Authorization header authorization ("" for none, as the suites'
// EventSource), and returns once its headers arrived.
func subscribe(t *testing.T, h *proctest.Herald, query, authorization string) *stream {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, h.URL+"/.well-known/mercure?"+query, nil)
	if authorization != "" {
		req.Header.Set("Authorization", authorization)
	}
	return open(t, h, req)
}

// open sends req, a subscription, to h, and returns once its headers
// arrived.
func open(t *testing.T, h *proctest.Herald, req *http.Request) *stream {
	t.Helper()
	req.Header.Set("Accept", "text/event-stream")
	resp, err := h.Client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		t.Fatalf("subscribe %s: %d %s %s", req.URL.RawQuery, resp.StatusCode, resp.Header.Get("Content-Type"), b)
	}
	if link := resp.Header.Get("Link"); !strings.Contains(link, `</.well-known/mercure>; rel="mercure"`) {
		t.Errorf("subscription answered Link %q, want the hub's discovery link", link)
	}
	s := &stream{resp: resp, events: make(chan received, 64)}
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer close(s.events)
		dec := sse.NewDecoder(resp.Body)
		for {
			ev, err := dec.Next()
			if err != nil {
				return
			}
			s.events <- received{ev, time.Now()}
		}
	}()
	t.Cleanup(func() {
		resp.Body.Close()
		for range s.events {
		}
		<-done
	})
	return s
}

// until returns the events of s up to and including the one with id,
// failing the test if it does not arrive within five seconds.
func (s *stream) until(t *testing.T, id string) []received {
	t.Helper()
	var got []received
	timeout := time.After(5 * time.Second)
	for {
		select {
		case ev, ok := <-s.events:
			if !ok {
				t.Fatalf("stream ended before event %q; got %+v", id, got)
			}
			got = append(got, ev)
			if ev.ID == id {
				return got
			}
		case <-timeout:
			t.Fatalf("event %q not received within 5 s; got %+v", id, got)
		}
	}
}

// answer is the hub's answer to a publication.
type answer struct {
	status            int
	contentType, body string
}

// publish posts form with token as the suites do: a form body whose
// Content-Type carries a charset.
func publish(t *testing.T, h *proctest.Herald, token string, form url.Values) answer {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, h.URL+"/.well-known/mercure", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded;charset=UTF-8")
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := h.Client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return answer{resp.StatusCode, resp.Header.Get("Content-Type"), string(b)}
}

// randomString is the suites' random topic part: 20 random bytes in hex.
func randomString(t *testing.T) string {
	t.Helper()
	b := make([]byte, 20)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

// updateID is the suites' custom id: "id-" and the topics as JSON.
func updateID(topics []string) string {
	b, _ := json.Marshal(topics)
	return "id-" + string(b)
}
