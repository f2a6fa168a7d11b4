package node

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/heraldhub/herald/hub/hubtest"
	"github.com/heraldhub/herald/sse"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const (
	publisherKey  = "publisher-secret-for-tests-0123456789"
	subscriberKey = "subscriber-secret-for-tests-0123456789"
	wait          = 15 * time.Second
)

// node is a Herald node on a memory log behind a loopback HTTP server.
type node struct {
	srv  *Node
	http *httptest.Server
}

func startNode(t *testing.T, cfg Config) *node {
	t.Helper()
	if cfg.Log == "" {
		cfg.Log = "memory"
	}
	if cfg.PublisherKey == "" {
		cfg.PublisherKey = publisherKey
	}
	if cfg.DataDir == "" {
		cfg.DataDir = t.TempDir()
	}
	srv, err := New(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	return serveNode(t, srv)
}

// serveNode serves srv on loopback until the test ends.
func serveNode(t *testing.T, srv *Node) *node {
	t.Helper()
	n := &node{srv: srv, http: httptest.NewUnstartedServer(srv.Handler())}
	n.http.Config.RegisterOnShutdown(srv.Drain)
	n.http.Config.ConnState = srv.ConnState
	n.http.Start()
	t.Cleanup(func() {
		srv.Drain()
		n.http.Close()
		srv.Close()
	})
	return n
}

// token mints an HS256 token with the given mercure claims.
func token(t *testing.T, key string, publish, subscribe []string) string {
	t.Helper()
	return mint(t, key, map[string]any{"publish": publish, "subscribe": subscribe})
}

// mint mints an HS256 token valid for an hour with the mercure claim.
func mint(t *testing.T, key string, mercure map[string]any) string {
	t.Helper()
	claims := jwt.MapClaims{"mercure": mercure, "exp": time.Now().Add(time.Hour).Unix()}
	s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString([]byte(key))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// publish posts form to the hub with tok and returns the status and body.
func (n *node) publish(t *testing.T, tok string, form url.Values) (int, string) {
	t.Helper()
	return n.send(t, http.MethodPost, "/.well-known/mercure", "application/x-www-form-urlencoded", tok, form.Encode())
}

// send sends body of contentType to path with tok (none if empty) and
// returns the status and the trimmed body.
func (n *node) send(t *testing.T, method, path, contentType, tok, body string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(method, n.http.URL+path, strings.NewReader(body))
	req.Header.Set("Content-Type", contentType)
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	resp, err := n.http.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, strings.TrimSpace(string(b))
}

// mustPublish publishes and returns the update's id.
func (n *node) mustPublish(t *testing.T, form url.Values) string {
	t.Helper()
	status, body := n.publish(t, token(t, publisherKey, []string{"*"}, nil), form)
	if status != http.StatusOK {
		t.Fatalf("publish %v: %d %s", form, status, body)
	}
	return body
}

// stream is one subscriber's decoded event stream.
type stream struct {
	*hubtest.Stream
	resp   *http.Response
	events <-chan sse.Event
	done   <-chan struct{}
}

// subscribe opens a subscription with the given query and headers and
// waits for the response; it fails the test unless the status is 200.
func (n *node) subscribe(t *testing.T, query string, header http.Header) *stream {
	t.Helper()
	s, status, body := n.trySubscribe(t, query, header)
	if status != http.StatusOK {
		t.Fatalf("subscribe %q: %d %s", query, status, body)
	}
	return s
}

func (n *node) trySubscribe(t *testing.T, query string, header http.Header) (*stream, int, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, n.http.URL+"/.well-known/mercure?"+query, nil)
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := n.http.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		return nil, resp.StatusCode, strings.TrimSpace(string(b))
	}
	hs := hubtest.Read(t, resp, hubtest.Options{Wait: wait})
	return &stream{Stream: hs, resp: resp, events: hs.Events, done: hs.Done}, resp.StatusCode, ""
}

func (s *stream) close() { s.Close() }

func (s *stream) next(t *testing.T) sse.Event {
	t.Helper()
	return s.Next(t)
}
