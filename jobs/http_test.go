package jobs

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/heraldhub/herald/auth"
)

// tokens is an Authorizer for tests: the bearer token names the caller.
//
//	pub    may publish to every job
//	pub-a  may publish to jobs/a only
//	sub    may subscribe to every job, private ones too
//	sub-b  is a valid subscriber token that may read public jobs only
//	bad    is an invalid token
type tokens struct{}

func bearer(r *http.Request) string {
	return strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
}

func (tokens) AuthenticatePublisher(r *http.Request) error {
	switch bearer(r) {
	case "":
		return auth.ErrNoToken
	case "pub", "pub-a":
		return nil
	}
	return fmt.Errorf("%w: signature", auth.ErrInvalidToken)
}

func (tokens) AuthorizePublish(r *http.Request, topic string) error {
	switch bearer(r) {
	case "":
		return auth.ErrNoToken
	case "pub":
		return nil
	case "pub-a":
		if topic == "jobs/a" {
			return nil
		}
	case "sub":
	default:
		return fmt.Errorf("%w: signature", auth.ErrInvalidToken)
	}
	return fmt.Errorf("%w: may not publish to %q", auth.ErrForbidden, topic)
}

func (tokens) AuthorizeSubscribe(r *http.Request, topic string, private bool) error {
	switch bearer(r) {
	case "sub", "pub":
		return nil
	case "":
		if private {
			return fmt.Errorf("%w: %q is private", auth.ErrNoToken, topic)
		}
		return nil
	case "bad":
		return fmt.Errorf("%w: signature", auth.ErrInvalidToken)
	}
	if private {
		return fmt.Errorf("%w: may not read %q", auth.ErrForbidden, topic)
	}
	return nil
}

// api is a manager behind its HTTP handler.
type api struct {
	m   *Manager
	rec *recorder
	srv *httptest.Server
}

func newAPI(t *testing.T) *api {
	t.Helper()
	m, rec := newManager(t, Config{MinInterval: time.Nanosecond})
	srv := httptest.NewServer(m.Handler(tokens{}))
	t.Cleanup(srv.Close)
	return &api{m: m, rec: rec, srv: srv}
}

// do sends a request and returns its status, body and headers.
func (a *api) do(t *testing.T, method, path, token, contentType, body string) (int, string, http.Header) {
	t.Helper()
	req, err := http.NewRequest(method, a.srv.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := a.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), resp.Header
}

const jsonType = "application/json"

func TestEveryJobsEndpointAnswersWithTheSnapshot(t *testing.T) {
	a := newAPI(t)
	decodeSnap := func(body string) Snapshot {
		t.Helper()
		var s Snapshot
		if err := json.Unmarshal([]byte(body), &s); err != nil {
			t.Fatalf("answer %q: %v", body, err)
		}
		return s
	}
	st, body, _ := a.do(t, "POST", "/api/jobs", "pub", jsonType, `{"id":"a","title":"Import","stages":[{"name":"read"},{"name":"save","weight":3}],"total":8}`)
	if s := decodeSnap(body); st != 201 || s.ID != "a" || s.Topic != "jobs/a" || s.Stage != "read" || s.Seq != 1 || s.State != Running {
		t.Fatalf("create: %d %s", st, body)
	}
	st, body, _ = a.do(t, "POST", "/api/jobs", "pub", jsonType, `{"title":"generated id"}`)
	if s := decodeSnap(body); st != 201 || !validID(s.ID) || s.Topic != TopicPrefix+s.ID {
		t.Fatalf("create with a generated id: %d %s", st, body)
	}
	st, body, hdr := a.do(t, "POST", "/api/jobs/a/progress", "pub", jsonType, `{"stage":"save","done":4,"total":8,"message":"half"}`)
	if s := decodeSnap(body); st != 200 || s.Stage != "save" || s.Percent == nil || *s.Percent != 62.5 || s.Message != "half" || hdr.Get("Herald-Cancel-Requested") != "" {
		t.Fatalf("progress: %d %s", st, body)
	}
	// Form-encoded reports are read too.
	st, body, _ = a.do(t, "POST", "/api/jobs/a/progress", "pub-a", "application/x-www-form-urlencoded", "done=6&message=six")
	if s := decodeSnap(body); st != 200 || s.Done != 6 || s.Total != 8 || s.Message != "six" {
		t.Fatalf("form progress: %d %s", st, body)
	}
	st, body, _ = a.do(t, "GET", "/api/jobs/a", "", "", "")
	if s := decodeSnap(body); st != 200 || s.Done != 6 || s.Seq != 3 {
		t.Fatalf("get: %d %s", st, body)
	}
	st, body, _ = a.do(t, "GET", "/api/jobs", "", "", "")
	var list struct{ Jobs []Snapshot }
	if json.Unmarshal([]byte(body), &list); st != 200 || len(list.Jobs) != 2 {
		t.Fatalf("list: %d %s", st, body)
	}
	st, body, _ = a.do(t, "POST", "/api/jobs/a/cancel", "sub", "", "")
	if s := decodeSnap(body); st != 202 || !s.CancelRequested {
		t.Fatalf("cancel by a subscriber: %d %s", st, body)
	}
	st, body, hdr = a.do(t, "POST", "/api/jobs/a/progress", "pub", jsonType, `{"done":7}`)
	if st != 200 || hdr.Get("Herald-Cancel-Requested") != "true" || decodeSnap(body).Done != 7 {
		t.Fatalf("progress after a cancel request: %d %s %v, want it recorded and the worker told", st, body, hdr)
	}
	st, body, _ = a.do(t, "POST", "/api/jobs/a/finish", "pub", jsonType, `{"state":"cancelled"}`)
	if s := decodeSnap(body); st != 200 || s.State != Cancelled || s.Finished == nil {
		t.Fatalf("finish: %d %s", st, body)
	}
	st, body, _ = a.do(t, "POST", "/api/jobs/a/finish", "pub", jsonType, `{"state":"cancelled"}`)
	if st != 200 {
		t.Fatalf("the same finish again: %d %s, want 200", st, body)
	}
	id := decodeSnap(mustGet(t, a, "/api/jobs")).ID
	st, body, _ = a.do(t, "POST", "/api/jobs/"+id+"/finish", "pub", "application/x-www-form-urlencoded", `state=succeeded&result={"n":1}`)
	if s := decodeSnap(body); st != 200 || s.State != Succeeded || string(s.Result) != `{"n":1}` || *s.Percent != 100 {
		t.Fatalf("form finish with a result: %d %s", st, body)
	}
	types := map[string]int{}
	for _, u := range a.rec.updates {
		types[u.Type]++
	}
	if types[EventProgress] != 6 || types[EventCancelled] != 1 || types[EventDone] != 1 {
		t.Fatalf("event types published %v, want 6 progress, 1 cancelled, 1 done", types)
	}
}

// mustGet returns the first job of GET /api/jobs as JSON.
func mustGet(t *testing.T, a *api, path string) string {
	t.Helper()
	_, body, _ := a.do(t, "GET", path, "", "", "")
	var list struct{ Jobs []json.RawMessage }
	if err := json.Unmarshal([]byte(body), &list); err != nil || len(list.Jobs) == 0 {
		t.Fatalf("list %q: %v", body, err)
	}
	return string(list.Jobs[0])
}

func TestBadJobRequestsGetAClearRefusalAndChangeNothing(t *testing.T) {
	a := newAPI(t)
	a.do(t, "POST", "/api/jobs", "pub", jsonType, `{"id":"a","stages":[{"name":"one"},{"name":"two"}],"total":10}`)
	a.do(t, "POST", "/api/jobs", "pub", jsonType, `{"id":"secret","private":true}`)
	a.do(t, "POST", "/api/jobs", "pub", jsonType, `{"id":"over"}`)
	a.do(t, "POST", "/api/jobs/over/finish", "pub", jsonType, `{"state":"failed","error":"boom"}`)
	form := "application/x-www-form-urlencoded"
	cases := []struct {
		name, method, path, token, ctype, body string
		status                                 int
		reason                                 string
	}{
		{"missing token", "POST", "/api/jobs/a/progress", "", jsonType, `{"done":1}`, 401, "no token"},
		{"invalid token", "POST", "/api/jobs/a/progress", "bad", jsonType, `{"done":1}`, 401, "invalid token"},
		{"token for another job", "POST", "/api/jobs", "pub-a", jsonType, `{"id":"b"}`, 403, "jobs/b"},
		{"subscriber token to publish", "POST", "/api/jobs/a/finish", "sub", jsonType, `{"state":"succeeded"}`, 403, "not allowed"},
		{"create without a token", "POST", "/api/jobs", "", jsonType, `{"id":"c"}`, 401, "no token"},
		{"unknown job", "POST", "/api/jobs/nope/progress", "pub", jsonType, `{"done":1}`, 404, "no such job"},
		{"unknown job finished", "POST", "/api/jobs/nope/finish", "pub", jsonType, `{"state":"succeeded"}`, 404, "no such job"},
		{"unknown job cancelled", "POST", "/api/jobs/nope/cancel", "pub", "", "", 404, "no such job"},
		{"unknown job read", "GET", "/api/jobs/nope", "", "", "", 404, "no such job"},
		{"progress after finish", "POST", "/api/jobs/over/progress", "pub", jsonType, `{"done":1}`, 409, "already finished"},
		{"another outcome after finish", "POST", "/api/jobs/over/finish", "pub", jsonType, `{"state":"succeeded"}`, 409, "already finished"},
		{"cancel after finish", "POST", "/api/jobs/over/cancel", "pub", "", "", 409, "already finished"},
		{"done > total", "POST", "/api/jobs/a/progress", "pub", jsonType, `{"done":11}`, 400, "greater than total"},
		{"done > new total", "POST", "/api/jobs/a/progress", "pub", jsonType, `{"done":6,"total":5}`, 400, "greater than total"},
		{"negative done", "POST", "/api/jobs/a/progress", "pub", jsonType, `{"done":-1}`, 400, "negative"},
		{"unknown stage", "POST", "/api/jobs/a/progress", "pub", jsonType, `{"stage":"three","done":1}`, 400, "one, two"},
		{"done as a string", "POST", "/api/jobs/a/progress", "pub", jsonType, `{"done":"1"}`, 400, "JSON"},
		{"form done not a number", "POST", "/api/jobs/a/progress", "pub", form, `done=lots`, 400, "number"},
		{"form done NaN", "POST", "/api/jobs/a/progress", "pub", form, `done=NaN`, 400, "finite"},
		{"malformed JSON", "POST", "/api/jobs/a/progress", "pub", jsonType, `{"done":`, 400, "JSON"},
		{"unknown field", "POST", "/api/jobs/a/progress", "pub", jsonType, `{"dnoe":1}`, 400, "dnoe"},
		{"two JSON values", "POST", "/api/jobs/a/progress", "pub", jsonType, `{"done":1}{"done":2}`, 400, "JSON"},
		{"XML", "POST", "/api/jobs/a/progress", "pub", "application/xml", `<done>1</done>`, 415, "Content-Type"},
		{"body too large", "POST", "/api/jobs/a/progress", "pub", jsonType, `{"message":"` + strings.Repeat("x", maxBody) + `"}`, 413, "too large"},
		{"message too long", "POST", "/api/jobs/a/progress", "pub", jsonType, `{"done":1,"message":"` + strings.Repeat("x", maxTextBytes+1) + `"}`, 400, "message"},
		{"non-JSON result", "POST", "/api/jobs/a/finish", "pub", form, `state=succeeded&result={oops`, 400, "not valid JSON"},
		{"result of a failed job", "POST", "/api/jobs/a/finish", "pub", jsonType, `{"state":"failed","result":1}`, 400, "only a succeeded job"},
		{"bad final state", "POST", "/api/jobs/a/finish", "pub", jsonType, `{"state":"done"}`, 400, "succeeded, failed or cancelled"},
		{"finish as running", "POST", "/api/jobs/a/finish", "pub", jsonType, `{"state":"running"}`, 400, "succeeded, failed or cancelled"},
		{"duplicate id", "POST", "/api/jobs", "pub", jsonType, `{"id":"a"}`, 409, "already exists"},
		{"id with a slash", "POST", "/api/jobs", "pub", jsonType, `{"id":"a/b"}`, 400, "id"},
		{"id too long", "POST", "/api/jobs", "pub", jsonType, `{"id":"` + strings.Repeat("a", 129) + `"}`, 400, "id"},
		{"stage without a name", "POST", "/api/jobs", "pub", jsonType, `{"id":"c","stages":[{"weight":2}]}`, 400, "name"},
		{"repeated stage", "POST", "/api/jobs", "pub", jsonType, `{"id":"c","stages":[{"name":"x"},{"name":"x"}]}`, 400, "unique"},
		{"negative weight", "POST", "/api/jobs", "pub", jsonType, `{"id":"c","stages":[{"name":"x","weight":-1}]}`, 400, "weight"},
		{"negative total", "POST", "/api/jobs", "pub", jsonType, `{"id":"c","total":-5}`, 400, "total"},
		{"anonymous cancel", "POST", "/api/jobs/a/cancel", "", "", "", 401, "no token"},
		{"private job read anonymously", "GET", "/api/jobs/secret", "", "", "", 401, "private"},
		{"private job cancelled anonymously", "POST", "/api/jobs/secret/cancel", "", "", "", 401, "no token"},
		{"cancel by a subscriber token without the job", "POST", "/api/jobs/secret/cancel", "sub-b", "", "", 403, "not allowed"},
		{"cancel by a publisher token for another job", "POST", "/api/jobs/secret/cancel", "pub-a", "", "", 403, "not allowed"},
		{"wrong method", "DELETE", "/api/jobs/a", "pub", "", "", 405, ""},
	}
	before := a.m.List()
	published := len(a.rec.snapshots(t))
	for _, tt := range cases {
		t.Run(tt.name, func(t *testing.T) {
			st, body, hdr := a.do(t, tt.method, tt.path, tt.token, tt.ctype, tt.body)
			if st != tt.status || !strings.Contains(body, tt.reason) || strings.Count(strings.TrimSpace(body), "\n") > 0 {
				t.Errorf("%d %q, want %d with a one-line reason mentioning %q", st, body, tt.status, tt.reason)
			}
			if st == 401 && hdr.Get("WWW-Authenticate") == "" {
				t.Error("a 401 without WWW-Authenticate")
			}
			if st >= 400 && (hdr.Get("X-Content-Type-Options") != "nosniff" || !strings.HasPrefix(hdr.Get("Content-Type"), "text/plain")) {
				t.Errorf("an error answered with Content-Type %q and X-Content-Type-Options %q, want the Mercure handler's text/plain and nosniff",
					hdr.Get("Content-Type"), hdr.Get("X-Content-Type-Options"))
			}
		})
	}
	after := a.m.List()
	if n := len(a.rec.snapshots(t)); n != published {
		t.Fatalf("bad requests published %d events", n-published)
	}
	if len(after) != len(before) {
		t.Fatalf("bad requests changed the jobs: %d → %d", len(before), len(after))
	}
	for i := range before {
		b, _ := json.Marshal(before[i])
		c, _ := json.Marshal(after[i])
		if before[i].ETA == nil && after[i].ETA == nil && string(b) != string(c) {
			t.Errorf("job %s changed:\n%s\n%s", before[i].ID, b, c)
		}
	}
}

func TestJobsListShowsOnlyWhatTheCallerMayRead(t *testing.T) {
	a := newAPI(t)
	_, body, _ := a.do(t, "GET", "/api/jobs", "", "", "")
	if strings.TrimSpace(body) != `{"jobs":[]}` {
		t.Fatalf("empty list %q, want {\"jobs\":[]}", body)
	}
	a.do(t, "POST", "/api/jobs", "pub", jsonType, `{"id":"open"}`)
	a.do(t, "POST", "/api/jobs", "pub", jsonType, `{"id":"secret","private":true}`)
	for token, want := range map[string]int{"": 1, "sub": 2} {
		_, body, _ := a.do(t, "GET", "/api/jobs", token, "", "")
		var list struct{ Jobs []Snapshot }
		json.Unmarshal([]byte(body), &list)
		if len(list.Jobs) != want {
			t.Errorf("token %q sees %d jobs, want %d", token, len(list.Jobs), want)
		}
	}
	// A forged token is refused, not answered with a list it hides
	// everything from.
	if status, body, _ := a.do(t, "GET", "/api/jobs", "bad", "", ""); status != http.StatusUnauthorized || strings.Contains(body, "jobs") {
		t.Errorf("list with a forged token: %d %q, want 401 with the reason", status, body)
	}
}
