package node

import (
	"context"
	"encoding/json"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/heraldhub/herald/eventlog"
	"github.com/heraldhub/herald/hub"
	"github.com/heraldhub/herald/jobs"
)

// The fuzz targets of this file drive a whole node's HTTP handler (the
// Mercure endpoint and the jobs API, with real JWT verification) in
// process: a bad request gets a 4xx with a one-line reason and changes
// nothing, no request gets a 5xx or a panic, and nothing private leaks.

// fuzzNode starts a node on a memory log for a fuzz target; tb's cleanup
// closes it.
func fuzzNode(tb testing.TB, cfg Config) *Node {
	tb.Helper()
	srv := newFuzzNode(tb, cfg)
	tb.Cleanup(func() { closeFuzzNode(srv) })
	return srv
}

func newFuzzNode(tb testing.TB, cfg Config) *Node {
	tb.Helper()
	cfg.Log, cfg.PublisherKey, cfg.SubscriberKey, cfg.NoDemo = "memory", publisherKey, subscriberKey, true
	if cfg.DataDir == "" {
		cfg.DataDir = tb.TempDir()
	}
	srv, err := New(context.Background(), cfg)
	if err != nil {
		tb.Fatal(err)
	}
	return srv
}

func closeFuzzNode(srv *Node) {
	srv.Drain()
	srv.Close()
}

// fuzzToken signs claims with key, without an expiry, so that seeds stay
// valid (and byte for byte the same) from run to run.
func fuzzToken(tb testing.TB, key string, claims jwt.MapClaims) string {
	tb.Helper()
	s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString([]byte(key))
	if err != nil {
		tb.Fatal(err)
	}
	return s
}

func pubClaims(selectors ...string) jwt.MapClaims {
	return jwt.MapClaims{"mercure": map[string]any{"publish": selectors}}
}

func subClaims(selectors ...string) jwt.MapClaims {
	return jwt.MapClaims{"mercure": map[string]any{"subscribe": selectors}}
}

// checkRefusal fails unless a refusal is a client error with a one-line
// reason (HEAD answers carry no body).
func checkRefusal(t *testing.T, method string, rec *httptest.ResponseRecorder) {
	t.Helper()
	if rec.Code < 400 || rec.Code >= 500 {
		t.Fatalf("status %d (%q), want a success or a client error", rec.Code, rec.Body.String())
	}
	body := rec.Body.String()
	if method != http.MethodHead && (strings.Count(body, "\n") != 1 || !strings.HasSuffix(body, "\n") || strings.TrimSpace(body) == "") {
		t.Fatalf("status %d with reason %q, want one line", rec.Code, body)
	}
}

// leavingRecorder records a response and cancels its request once the
// first flush is done: a subscriber that reads the replay and leaves, so
// that a stream handler returns.
type leavingRecorder struct {
	*httptest.ResponseRecorder
	leave context.CancelFunc
}

func (l leavingRecorder) Flush() {
	l.ResponseRecorder.Flush()
	l.leave()
}

// FuzzSubscribeRequest subscribes with an arbitrary query, Last-Event-ID
// header and Authorization header to a node holding public and private
// updates, reads what the stream sends until it has flushed the replay, and
// leaves. Refusals are one-line 4xx answers; the subscription is released
// (the limit is one connection per address, so a leaked slot shows as a 429
// on the next input); and a private update is in the stream only if the
// request carries a token that allows one of its topics.
func FuzzSubscribeRequest(f *testing.F) {
	srv := fuzzNode(f, Config{MaxConnsPerIP: 1})
	allowA := fuzzToken(f, subscriberKey, subClaims("priv/a"))
	allowNews := fuzzToken(f, subscriberKey, subClaims("news/{id}"))
	// Each private update's data, and the tokens that may read it: secret-nb
	// has topics news/1 and priv/b, and a claim matching either allows it.
	secrets := map[string][]string{"secret-a": {allowA}, "secret-b": nil, "secret-nb": {allowNews}}
	var firstID string
	for _, u := range []eventlog.Update{
		{Topics: []string{"news/1"}, Data: "public-news"},
		{Topics: []string{"priv/a"}, Data: "secret-a", Private: true},
		{Topics: []string{"priv/b"}, Data: "secret-b", Private: true},
		{Topics: []string{"news/1", "priv/b"}, Data: "secret-nb", Private: true},
	} {
		stored, err := srv.Hub().Publish(context.Background(), u)
		if err != nil {
			f.Fatal(err)
		}
		if firstID == "" {
			firstID = stored.ID
		}
	}
	for _, s := range []struct{ query, lastID, authorization string }{
		{"topic=priv/{x}&lastEventID=earliest", "", "Bearer " + allowA},
		{"topic=*", "earliest", ""},
		{"topic=news/1&authorization=" + allowNews, "earliest", ""},
		{"topic=%2A&topic=priv/b&lastEventID=" + firstID, "", "Bearer " + fuzzToken(f, "forged", subClaims("*"))},
		{"topic=*&topic=news/{id}", firstID, "Bearer " + fuzzToken(f, subscriberKey, jwt.MapClaims{"mercure": map[string]any{"subscribe": "*"}})},
		{"topic=priv/b", "unknown-id", "Bearer " + fuzzToken(f, subscriberKey, jwt.MapClaims{"exp": 1})},
		{"topic=books/{id", "", ""},
		{strings.Repeat("topic=a&", 100), "", ""},
		{"topic=a&authorization=&authorization=x", "", "Basic x"},
		{"", "", ""},
		{"topic={%2Bx}&lastEventID=%ff", "#", "Bearer a.b.c"},
	} {
		f.Add(s.query, s.lastID, s.authorization)
	}
	f.Fuzz(func(t *testing.T, query, lastID, authorization string) {
		req := httptest.NewRequest(http.MethodGet, "/", nil)
		req.URL.Path, req.URL.RawQuery = "/.well-known/mercure", query
		for k, v := range map[string]string{"Last-Event-ID": lastID, "Authorization": authorization} {
			if v != "" {
				req.Header.Set(k, v)
			}
		}
		ctx, leave := context.WithCancel(context.Background())
		defer leave()
		rec := leavingRecorder{httptest.NewRecorder(), leave}
		srv.Handler().ServeHTTP(rec, req.WithContext(ctx))
		if n := srv.Hub().Subscribers(); n != 0 {
			t.Fatalf("%d subscribers left registered after the client left", n)
		}
		if rec.Code != http.StatusOK {
			if rec.Code == http.StatusTooManyRequests {
				t.Fatalf("429 (%q): an earlier subscription's slot was not released", rec.Body.String())
			}
			checkRefusal(t, req.Method, rec.ResponseRecorder)
			return
		}
		if ct := rec.Header().Get("Content-Type"); ct != "text/event-stream" {
			t.Fatalf("200 with Content-Type %q", ct)
		}
		credentials := query + " " + authorization
		for secret, readers := range secrets {
			if strings.Contains(rec.Body.String(), "data: "+secret+"\n") &&
				!slices.ContainsFunc(readers, func(tok string) bool { return strings.Contains(credentials, tok) }) {
				t.Fatalf("private %s reached a subscriber without a token for it: %q", secret, rec.Body.String())
			}
		}
	})
}

// candidateTokens returns every string a request could present as its
// token: the Authorization header's words, the authorization query
// parameter's values and the cookie's values.
func candidateTokens(r *http.Request) []string {
	out := strings.Fields(r.Header.Get("Authorization"))
	out = append(out, r.URL.Query()["authorization"]...)
	for _, c := range r.Cookies() {
		out = append(out, c.Value)
	}
	return out
}

// mayPublish is the fuzz oracle of publisher authorization, independent of
// the auth package: a token signed with HS256 by the publisher key, not
// expired, whose mercure.publish has a selector matching topic.
func mayPublish(r *http.Request, topic string) bool {
	for _, tok := range candidateTokens(r) {
		claims := struct {
			jwt.RegisteredClaims
			Mercure struct {
				Publish []string `json:"publish"`
			} `json:"mercure"`
		}{}
		_, err := jwt.ParseWithClaims(tok, &claims, func(*jwt.Token) (any, error) { return []byte(publisherKey), nil },
			jwt.WithValidMethods([]string{"HS256"}))
		if err != nil {
			continue
		}
		for _, s := range claims.Mercure.Publish {
			if sel, err := hub.ParseSelector(s); err == nil && sel.Match(topic) {
				return true
			}
		}
	}
	return false
}

// newestUpdate returns the id of the log's newest update, "" if none.
func newestUpdate(t *testing.T, srv *Node) string {
	t.Helper()
	var last string
	if _, err := srv.Hub().Log().Since(context.Background(), eventlog.Earliest, func(u eventlog.Update) bool {
		last = u.ID
		return true
	}); err != nil {
		t.Fatal(err)
	}
	return last
}

// FuzzPublishToken publishes one update with arbitrary credentials (the
// Authorization header, the query, the cookie, the Origin) to an arbitrary
// topic: an update is stored only when a token signed by the publisher key
// allows the topic, and every refusal is a one-line 4xx that stores
// nothing.
func FuzzPublishToken(f *testing.F) {
	srv := fuzzNode(f, Config{RetainCount: 8})
	all := fuzzToken(f, publisherKey, pubClaims("*"))
	books := fuzzToken(f, publisherKey, pubClaims("books/{id}"))
	none := func() string {
		s, err := jwt.NewWithClaims(jwt.SigningMethodNone, pubClaims("*")).SignedString(jwt.UnsafeAllowNoneSignatureType)
		if err != nil {
			f.Fatal(err)
		}
		return s
	}()
	hs384, err := jwt.NewWithClaims(jwt.SigningMethodHS384, pubClaims("*")).SignedString([]byte(publisherKey))
	if err != nil {
		f.Fatal(err)
	}
	for _, s := range []struct{ authorization, query, cookie, origin, topic string }{
		{"Bearer " + all, "", "", "", "a"},
		{"Bearer " + books, "", "", "", "books/1"},
		{"Bearer " + books, "", "", "", "authors/1"},
		{"", "authorization=" + all, "", "", "a"},
		{"", "", "mercureAuthorization=" + all, "", "a"},
		{"", "", "mercureAuthorization=" + all, "https://evil.example", "a"},
		{"", "", "mercureAuthorization=" + all, "http://example.com", "a"},
		{"Bearer " + fuzzToken(f, publisherKey, pubClaims()), "", "", "", "a"},
		{"Bearer " + fuzzToken(f, subscriberKey, pubClaims("*")), "", "", "", "a"},
		{"Bearer " + fuzzToken(f, publisherKey, jwt.MapClaims{"mercure": map[string]any{"publish": []string{"*"}}, "exp": 1}), "", "", "", "a"},
		{"Bearer " + fuzzToken(f, publisherKey, jwt.MapClaims{"mercure": map[string]any{"publish": "*"}}), "", "", "", "a"},
		{"Bearer " + none, "", "", "", "a"},
		{"Bearer " + hs384, "", "", "", "a"},
		{"Bearer " + all, "authorization=" + books, "", "", "authors/1"},
		{"Basic " + all, "", "", "", "a"},
		{"Bearer", "authorization=&authorization=", "mercureAuthorization=", "null", ""},
	} {
		f.Add(s.authorization, s.query, s.cookie, s.origin, s.topic)
	}
	f.Fuzz(func(t *testing.T, authorization, query, cookie, origin, topic string) {
		before := newestUpdate(t, srv)
		body := url.Values{"topic": {topic}, "data": {"x"}}.Encode()
		req := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(body))
		req.URL.Path, req.URL.RawQuery = "/.well-known/mercure", query
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		for k, v := range map[string]string{"Authorization": authorization, "Cookie": cookie, "Origin": origin} {
			if v != "" {
				req.Header.Set(k, v)
			}
		}
		rec := httptest.NewRecorder()
		srv.Handler().ServeHTTP(rec, req)
		after := newestUpdate(t, srv)
		if rec.Code != http.StatusOK {
			checkRefusal(t, req.Method, rec)
			if after != before {
				t.Fatalf("refused with %d (%q) but stored %s", rec.Code, rec.Body.String(), after)
			}
			return
		}
		if id := rec.Body.String(); id != after || after == before {
			t.Fatalf("answered id %q, the log's newest is %q (before: %q)", id, after, before)
		}
		if !mayPublish(req, topic) {
			t.Fatalf("published to %q without a publisher token allowing it", topic)
		}
	})
}

// jobStates returns every job's recorded state: its snapshot without what
// is computed at read time (percent, rate, ETA). A report is recorded at
// once even when its event is published later, so this changes with every
// accepted request.
func jobStates(t *testing.T, srv *Node) map[string]string {
	t.Helper()
	out := make(map[string]string)
	for _, s := range srv.Jobs().List() {
		s.Percent, s.Rate, s.ETA = nil, nil, nil
		b, err := json.Marshal(s)
		if err != nil {
			t.Fatal(err)
		}
		out[s.ID] = string(b)
	}
	return out
}

// FuzzJobsRequest sends arbitrary methods, paths, credentials, content types
// and bodies to the jobs API of a node with a public job "a" and a private
// job "p". No answer is a 5xx; a refusal is a one-line 4xx that changes no
// job, and a read changes none either; and a successful answer holds job
// p's snapshot only for a request carrying a token that may read or publish
// it.
func FuzzJobsRequest(f *testing.F) {
	pubAll := fuzzToken(f, publisherKey, pubClaims("*"))
	pubA := fuzzToken(f, publisherKey, pubClaims("jobs/a"))
	subP := fuzzToken(f, subscriberKey, subClaims("jobs/p"))
	subA := fuzzToken(f, subscriberKey, subClaims("jobs/a"))
	subAll := fuzzToken(f, subscriberKey, subClaims("*"))
	// Tokens that may see job p's snapshot: read it, cancel it, or publish
	// to it.
	readersOfP := []string{pubAll, subP, subAll}
	methods := [...]string{http.MethodGet, http.MethodPost, http.MethodHead, http.MethodPut, http.MethodDelete, http.MethodOptions}
	contentTypes := [...]string{"application/json", "application/x-www-form-urlencoded", "", "text/plain", "application/json; charset=utf-8"}
	for _, s := range []struct {
		method      uint8
		path, token string
		ct          uint8
		body        string
	}{
		{1, "", pubAll, 0, `{"id":"import","title":"Import","stages":[{"name":"read","weight":1},{"name":"save","weight":3}],"total":10}`},
		{1, "", pubA, 1, "id=a&stage=x:2&stage=y&total=10&private=on"},
		{1, "/a/progress", pubA, 0, `{"stage":"y","done":5,"total":10}`},
		{1, "/a/progress", pubAll, 0, `{"done":11}`},
		{1, "/a/progress", pubAll, 0, `{"stage":"nope","done":1}`},
		{1, "/a/progress", pubAll, 0, `{"done":`},
		{1, "/a/progress", pubAll, 0, `{"dne":1}`},
		{1, "/a/progress", pubAll, 1, ` {"stage":"y","done":5}`},
		{1, "/a/progress", "", 0, `{"done":1}`},
		{1, "/a/progress", fuzzToken(f, "forged", pubClaims("*")), 0, `{"done":1}`},
		{1, "/a/progress", fuzzToken(f, publisherKey, pubClaims("orders/{id}")), 0, `{"done":1}`},
		{1, "/nope/progress", pubAll, 0, `{"done":1}`},
		{1, "/a/finish", pubAll, 0, `{"state":"done"}`},
		{1, "/a/finish", pubAll, 1, "state=succeeded&result=%7Boops"},
		{1, "/p/finish", pubA, 1, "state=failed&error=boom"},
		{1, "", pubAll, 0, `{"id":"a"}`},
		{1, "", pubAll, 0, `{"id":"a b"}`},
		{1, "/p/cancel", subP, 2, ""},
		{1, "/p/cancel", subA, 2, ""},
		{1, "/a/cancel", "", 2, ""},
		{0, "/p", subAll, 2, ""},
		{0, "/p", subA, 2, ""},
		{0, "/p", "", 2, ""},
		{0, "", subP, 2, ""},
		{0, "", pubAll, 2, ""},
		{2, "/a", "", 2, ""},
		{3, "/a", pubAll, 0, "{}"},
		{5, "", "", 2, ""},
		{0, "/../p", subP, 2, ""},
		{1, "/a/progress", pubAll, 3, `{"done":1}`},
		{1, "/a/progress", pubAll, 4, `{"done":1}{"done":2}`},
	} {
		authorization := ""
		if s.token != "" {
			authorization = "Bearer " + s.token
		}
		f.Add(s.method, s.path, authorization, s.ct, s.body)
	}
	// A request that changes a job gets a fresh node for the next one, so
	// every input meets the same two jobs, and no change recorded now but
	// published later is taken for one made by a later request. A node may
	// serve for minutes: its jobs must not stall meanwhile (a stall is a
	// change no request made).
	dir := f.TempDir()
	var srv *Node
	var initial map[string]string
	f.Cleanup(func() {
		if srv != nil {
			closeFuzzNode(srv)
		}
	})
	f.Fuzz(func(t *testing.T, method uint8, path, authorization string, ct uint8, body string) {
		if srv == nil {
			srv = newFuzzNode(t, Config{RetainCount: 16, DataDir: dir, JobStallAfter: 24 * time.Hour})
			for _, spec := range []jobs.Spec{
				{ID: "a", Stages: []jobs.Stage{{Name: "x"}, {Name: "y", Weight: 2}}, Total: 10},
				{ID: "p", Private: true, Total: 4},
			} {
				if _, err := srv.Jobs().Create(context.Background(), spec); err != nil {
					t.Fatal(err)
				}
			}
			initial = jobStates(t, srv)
		}
		if path != "" && path[0] != '/' {
			path = "/" + path
		}
		req := httptest.NewRequest(http.MethodGet, "/", strings.NewReader(body))
		req.Method, req.URL.Path = methods[int(method)%len(methods)], "/api/jobs"+path
		if c := contentTypes[int(ct)%len(contentTypes)]; c != "" {
			req.Header.Set("Content-Type", c)
		}
		if authorization != "" {
			req.Header.Set("Authorization", authorization)
		}
		rec := httptest.NewRecorder()
		srv.Handler().ServeHTTP(rec, req)
		after := jobStates(t, srv)
		changed := !maps.Equal(after, initial)
		if changed {
			defer func() { closeFuzzNode(srv); srv = nil }()
		}
		switch {
		case rec.Code >= 400:
			checkRefusal(t, req.Method, rec)
			if changed {
				t.Fatalf("refused with %d (%q) but the jobs changed: %v → %v", rec.Code, rec.Body.String(), initial, after)
			}
			return
		case req.Method == http.MethodGet || req.Method == http.MethodHead || req.Method == http.MethodOptions:
			if changed {
				t.Fatalf("a %s changed the jobs: %v → %v", req.Method, initial, after)
			}
		}
		if rec.Code/100 == 2 && showsJob(rec.Body.Bytes(), "p") &&
			!slices.ContainsFunc(readersOfP, func(tok string) bool { return strings.Contains(authorization, tok) }) {
			t.Fatalf("%s %s answered private job p's snapshot without a token for it: %s", req.Method, req.URL.Path, rec.Body.String())
		}
	})
}

// jobRef is the part of a snapshot that names its job.
type jobRef struct {
	ID string `json:"id"`
}

// showsJob reports whether a JSON answer is, or lists, the snapshot of job
// id.
func showsJob(body []byte, id string) bool {
	var answer struct {
		jobRef
		Jobs []jobRef `json:"jobs"`
	}
	if json.Unmarshal(body, &answer) != nil {
		return false
	}
	return answer.ID == id || slices.Contains(answer.Jobs, jobRef{id})
}
