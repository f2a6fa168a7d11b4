package mercure

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/heraldhub/herald/auth"
	"github.com/heraldhub/herald/eventlog"
	"github.com/heraldhub/herald/hub"
	"github.com/heraldhub/herald/hub/hubtest"
	"github.com/heraldhub/herald/sse"
)

// tokens is a Verifier for tests: the bearer token names the claims.
type tokens map[string]*auth.Claims

func (tk tokens) Verify(r *http.Request) (*auth.Claims, error) {
	bearer, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok {
		return nil, auth.ErrNoToken
	}
	c, ok := tk[bearer]
	if !ok {
		return nil, fmt.Errorf("%w: unknown test token", auth.ErrInvalidToken)
	}
	return c, nil
}

// grant returns an access token's claims with one detail.
func grant(actions []string, topics ...auth.Matcher) *auth.Claims {
	return &auth.Claims{Format: auth.AccessToken, Details: []auth.Detail{{Actions: actions, Topics: topics}}}
}

// testTokens are the tokens the test hub knows.
var testTokens = tokens{
	"legacy-pub": {Publish: []string{"*"}},
	"at-pub":     grant([]string{auth.ActionPublish}, auth.Matcher{Match: "*"}),
	"at-books": grant([]string{auth.ActionSubscribe},
		auth.Matcher{Match: "https://example.com/books/:id", Type: auth.MatchURLPattern}),
	"at-pub-only": grant([]string{auth.ActionPublish}, auth.Matcher{Match: "https://example.com/books/1"}),
}

// recordingLog remembers the last update appended.
type recordingLog struct {
	eventlog.Log
	mu   sync.Mutex
	last eventlog.Update
}

func (l *recordingLog) Append(ctx context.Context, u eventlog.Update) (eventlog.Update, error) {
	l.mu.Lock()
	l.last = u
	l.mu.Unlock()
	return l.Log.Append(ctx, u)
}

func (l *recordingLog) lastAppended() eventlog.Update {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.last
}

// testHub is a hub serving the protocol on loopback.
type testHub struct {
	srv *httptest.Server
	log *recordingLog
}

func newTestHub(t *testing.T, cfg Config) *testHub {
	t.Helper()
	mem := eventlog.NewMemory(64)
	log := &recordingLog{Log: mem}
	// Streams are detached, as in production: the hub's own writers serve
	// them after the replay.
	h, err := hub.New(hub.Config{Log: log})
	if err != nil {
		t.Fatal(err)
	}
	cfg.Hub, cfg.Publishers, cfg.Subscribers = h, testTokens, testTokens
	cfg.Logger = slog.New(slog.DiscardHandler)
	m, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(m)
	t.Cleanup(func() { srv.Close(); h.Close(); mem.Close() })
	return &testHub{srv: srv, log: log}
}

// publish posts form with token and returns the status, Content-Type and
// body of the answer.
func (th *testHub) publish(t *testing.T, token string, form url.Values) (status int, ctype, body string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, th.srv.URL+Path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header.Get("Content-Type"), string(b)
}

// mustPublish publishes an update of topic with id and data, private if
// private, and fails the test unless it is accepted.
func (th *testHub) mustPublish(t *testing.T, topic, id string, private bool) {
	t.Helper()
	form := url.Values{"topic": {topic}, "id": {id}, "data": {"data of " + id}}
	if private {
		form.Set("private", "on")
	}
	if st, _, body := th.publish(t, "legacy-pub", form); st != http.StatusOK {
		t.Fatalf("publish %s: %d %s", id, st, body)
	}
}

// request sends a subscription request and returns the answer; a body
// makes it form-encoded.
func (th *testHub) request(t *testing.T, method, query, body string, hdr http.Header) *http.Response {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, method, th.srv.URL+Path+"?"+query, rd)
	if body != "" {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	for k, v := range hdr {
		req.Header[k] = v
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	t.Cleanup(func() { cancel(); resp.Body.Close() })
	return resp
}

// stream is an open subscription's events.
type stream struct {
	*hubtest.Stream
	resp *http.Response
}

// subscribe opens a subscription and fails the test unless it streams.
func (th *testHub) subscribe(t *testing.T, method, query, body string, hdr http.Header) *stream {
	t.Helper()
	resp := th.request(t, method, query, body, hdr)
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("%s ?%s: %d %s", method, query, resp.StatusCode, b)
	}
	return &stream{Stream: hubtest.Read(t, resp, hubtest.Options{Wait: 5 * time.Second, SkipEmpty: true}), resp: resp}
}

// next returns the stream's next event with data.
func (s *stream) next(t *testing.T) sse.Event {
	t.Helper()
	return s.Next(t)
}

// expect fails unless the stream's next events have ids.
func (s *stream) expect(t *testing.T, ids ...string) {
	t.Helper()
	for _, id := range ids {
		if ev := s.next(t); ev.ID != id {
			t.Fatalf("got event %q (%q), want %q", ev.ID, ev.Data, id)
		}
	}
}

// bearer returns the header of a request with token.
func bearer(token string) http.Header {
	return http.Header{"Authorization": {"Bearer " + token}}
}
