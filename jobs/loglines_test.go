package jobs

import (
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/heraldhub/herald/sse"
)

func TestLogLinesAreNumberedPerJobAndPublishedOnTheirOwnTopic(t *testing.T) {
	m, rec := newManager(t, Config{})
	ctx := t.Context()
	m.Create(ctx, Spec{ID: "build"})
	m.Create(ctx, Spec{ID: "other"})
	first, last, err := m.Log(ctx, "build", "compiling\nlinking\n", "done\r\n")
	if err != nil || first != 1 || last != 3 {
		t.Fatalf("Log = %d..%d, %v; want lines 1..3", first, last, err)
	}
	if first, _, _ := m.Log(ctx, "other", "x"); first != 1 {
		t.Fatalf("another job's first line is %d, want 1: numbers are per job", first)
	}
	if first, last, _ := m.Log(ctx, "build", "tests"); first != 4 || last != 4 {
		t.Fatalf("the next line is %d..%d, want 4", first, last)
	}
	var got []string
	for i := range 7 {
		u := rec.at(i)
		if u.Type == EventLog && u.Topics[0] == "jobs/build/log" {
			got = append(got, u.ID+" "+u.Data)
		}
	}
	want := []string{
		`build/log/1 {"n":1,"line":"compiling"}`, `build/log/2 {"n":2,"line":"linking"}`,
		`build/log/3 {"n":3,"line":"done"}`, `build/log/4 {"n":4,"line":"tests"}`,
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("published %q, want %q", got, want)
	}
	m.Finish(ctx, "build", Outcome{State: Succeeded})
	if _, _, err := m.Log(ctx, "build", "late"); !errors.Is(err, ErrFinished) {
		t.Fatalf("a line to a finished job: %v, want ErrFinished", err)
	}
}

func TestOnlyTheLastLinesAreRetainedAndPagingSaysHowManyWereDropped(t *testing.T) {
	m, _ := newManager(t, Config{LogLines: 5})
	ctx := t.Context()
	m.Create(ctx, Spec{ID: "j"})
	for i := 1; i <= 8; i++ {
		m.Log(ctx, "j", fmt.Sprint("line ", i))
	}
	page, err := m.Lines("j", 1, 100)
	if err != nil || page.Dropped != 3 || len(page.Lines) != 5 || page.Lines[0].N != 4 || page.Next != 9 {
		t.Fatalf("from 1: %+v, %v; want 3 dropped, then lines 4 to 8, next 9", page, err)
	}
	page, _ = m.Lines("j", 5, 2)
	if page.Dropped != 0 || len(page.Lines) != 2 || page.Lines[0].Text != "line 5" || page.Lines[1].N != 6 || page.Next != 7 {
		t.Fatalf("from 5, 2 lines: %+v; want lines 5 and 6, next 7", page)
	}
	page, _ = m.Lines("j", 9, 100)
	if len(page.Lines) != 0 || page.Next != 9 || page.Final {
		t.Fatalf("from 9: %+v; want nothing yet, next 9", page)
	}
}

func TestALongLineIsCutWithAMarkAndInvalidUTF8Replaced(t *testing.T) {
	m, _ := newManager(t, Config{})
	ctx := t.Context()
	m.Create(ctx, Spec{ID: "j"})
	m.Log(ctx, "j", strings.Repeat("é", MaxLineBytes), "bad \xff byte")
	page, _ := m.Lines("j", 1, 10)
	long := page.Lines[0].Text
	if len(long) > MaxLineBytes || !strings.HasSuffix(long, TruncatedMark) || !strings.HasPrefix(long, "éé") {
		t.Fatalf("a long line became %d bytes ending %q; want at most %d ending with the mark", len(long), long[len(long)-20:], MaxLineBytes)
	}
	if page.Lines[1].Text != "bad \uFFFD byte" {
		t.Fatalf("invalid UTF-8 became %q", page.Lines[1].Text)
	}
}

func TestTheLogEndpointsTakeAndServeLines(t *testing.T) {
	a := newAPI(t)
	a.m.Create(t.Context(), Spec{ID: "a"})
	a.m.Create(t.Context(), Spec{ID: "p", Private: true})
	if code, body, _ := a.do(t, "POST", "/api/jobs/a/log", "pub-a", "text/plain", "one\ntwo\n"); code != 200 || !strings.Contains(body, `"first":1,"last":2`) {
		t.Fatalf("text post: %d %s", code, body)
	}
	if code, body, _ := a.do(t, "POST", "/api/jobs/a/log", "pub", jsonType, `{"lines":["three","four"]}`); code != 200 || !strings.Contains(body, `"first":3,"last":4`) {
		t.Fatalf("JSON post: %d %s", code, body)
	}
	code, body, h := a.do(t, "GET", "/api/jobs/a/log?from=2", "", "", "")
	if code != 200 || body != "two\nthree\nfour\n" || h.Get("Herald-Log-First") != "2" || h.Get("Herald-Log-Next") != "5" {
		t.Fatalf("GET from=2: %d %q first %s next %s", code, body, h.Get("Herald-Log-First"), h.Get("Herald-Log-Next"))
	}
	if _, body, _ := a.do(t, "GET", "/api/jobs/a/log?tail=1", "", "", ""); body != "four\n" {
		t.Fatalf("GET tail=1: %q", body)
	}
	for _, c := range []struct {
		name, method, path, token, ctype, body string
		status                                 int
	}{
		{"no token", "POST", "/api/jobs/a/log", "", "text/plain", "x", http.StatusUnauthorized},
		{"another job's token", "POST", "/api/jobs/p/log", "pub-a", "text/plain", "x", http.StatusForbidden},
		{"too many lines", "POST", "/api/jobs/a/log", "pub", "text/plain", strings.Repeat("x\n", MaxLinesPerRequest+1), http.StatusRequestEntityTooLarge},
		{"a body over the limit", "POST", "/api/jobs/a/log", "pub", "text/plain", strings.Repeat("x", maxBody+1), http.StatusRequestEntityTooLarge},
		{"no lines", "POST", "/api/jobs/a/log", "pub", "text/plain", "", http.StatusBadRequest},
		{"malformed JSON", "POST", "/api/jobs/a/log", "pub", jsonType, `{"lines":"x"}`, http.StatusBadRequest},
		{"a form", "POST", "/api/jobs/a/log", "pub", "application/x-www-form-urlencoded", "line=x", http.StatusUnsupportedMediaType},
		{"an unknown job", "POST", "/api/jobs/nope/log", "pub", "text/plain", "x", http.StatusNotFound},
		{"a private job's log without a token", "GET", "/api/jobs/p/log", "", "", "", http.StatusUnauthorized},
		{"a bad from", "GET", "/api/jobs/a/log?from=x", "", "", "", http.StatusBadRequest},
		{"a bad tail", "GET", "/api/jobs/a/log/stream?tail=-1", "", "", "", http.StatusBadRequest},
	} {
		code, body, _ := a.do(t, c.method, c.path, c.token, c.ctype, c.body)
		if code != c.status || strings.Count(strings.TrimSpace(body), "\n") > 0 {
			t.Errorf("%s: %d %q, want %d with a one-line reason", c.name, code, body, c.status)
		}
	}
	if _, body, _ := a.do(t, "GET", "/api/jobs/a/log?from=1", "", "", ""); body != "one\ntwo\nthree\nfour\n" {
		t.Fatalf("refused requests changed the log: %q", body)
	}
}

func TestTheTextLogStartsWithTheDropMarker(t *testing.T) {
	m, _ := newManager(t, Config{LogLines: 2})
	srv := newAPIFor(t, m)
	m.Create(t.Context(), Spec{ID: "a"})
	m.Log(t.Context(), "a", "1", "2", "3", "4")
	_, body, h := srv.do(t, "GET", "/api/jobs/a/log?from=1", "", "", "")
	if body != "… 2 earlier lines dropped\n3\n4\n" || h.Get("Herald-Log-First") != "3" {
		t.Fatalf("from=1 over a cut log: %q first %s", body, h.Get("Herald-Log-First"))
	}
}

// stream reads a job's log stream from the API's server.
type stream struct {
	resp *http.Response
	dec  *sse.Decoder
}

func openStream(t *testing.T, a *api, query, lastID string) *stream {
	t.Helper()
	req, _ := http.NewRequestWithContext(t.Context(), "GET", a.srv.URL+"/api/jobs/a/log/stream"+query, nil)
	if lastID != "" {
		req.Header.Set("Last-Event-ID", lastID)
	}
	resp, err := a.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("stream: %s %s", resp.Status, resp.Header.Get("Content-Type"))
	}
	t.Cleanup(func() { resp.Body.Close() })
	return &stream{resp: resp, dec: sse.NewDecoder(resp.Body)}
}

// next returns the next n events as "type id data".
func (s *stream) next(t *testing.T, n int) []string {
	t.Helper()
	var got []string
	for range n {
		ev, err := s.dec.Next()
		if err != nil {
			t.Fatalf("after %q: %v", got, err)
		}
		got = append(got, ev.Type+" "+ev.ID+" "+ev.Data)
	}
	return got
}

func TestALogStreamSendsTheTailThenFollowsAndResumesWithNoRepeatOrGap(t *testing.T) {
	a := newAPI(t)
	ctx := t.Context()
	a.m.Create(ctx, Spec{ID: "a"})
	a.m.Log(ctx, "a", "l1", "l2", "l3", "l4", "l5")
	first := openStream(t, a, "?tail=2", "")
	got := first.next(t, 2)
	a.m.Log(ctx, "a", "l6", "l7")
	got = append(got, first.next(t, 2)...)
	want := []string{"log a/log/4 l4", "log a/log/5 l5", "log a/log/6 l6", "log a/log/7 l7"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("tail then live: %q, want %q", got, want)
	}
	first.resp.Body.Close()

	// A reload resumes after the last line it received, as EventSource does.
	a.m.Log(ctx, "a", "l8")
	again := openStream(t, a, "?tail=100", "a/log/6")
	got = again.next(t, 2)
	a.m.Log(ctx, "a", "l9")
	got = append(got, again.next(t, 1)...)
	a.m.Finish(ctx, "a", Outcome{State: Succeeded})
	got = append(got, again.next(t, 1)...)
	want = []string{"log a/log/7 l7", "log a/log/8 l8", "log a/log/9 l9", "end a/log/9 succeeded"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("resumed: %q, want %q", got, want)
	}
	if _, err := again.dec.Next(); err == nil {
		t.Fatal("the stream goes on after the end of a finished job")
	}
}

func TestALogStreamSaysHowManyLinesItCannotSend(t *testing.T) {
	m, _ := newManager(t, Config{LogLines: 3, MinInterval: time.Nanosecond})
	a := newAPIFor(t, m)
	m.Create(t.Context(), Spec{ID: "a"})
	m.Log(t.Context(), "a", "1", "2", "3", "4", "5")
	got := openStream(t, a, "", "a/log/1").next(t, 2)
	if want := []string{"dropped  … 1 earlier line dropped", "log a/log/3 3"}; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("resuming past the retained lines: %q, want %q", got, want)
	}
}

// newAPIFor serves m's jobs API.
func newAPIFor(t *testing.T, m *Manager) *api {
	t.Helper()
	a := &api{m: m}
	a.srv = httptest.NewServer(m.Handler(tokens{}))
	t.Cleanup(a.srv.Close)
	return a
}
