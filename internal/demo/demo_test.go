package demo

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/heraldhub/herald/eventlog"
	"github.com/heraldhub/herald/jobs"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// loopback is a Publisher that hands every update straight back to the
// manager, as the hub does from its log's tail, and keeps them.
type loopback struct {
	mu      sync.Mutex
	m       *jobs.Manager
	updates []eventlog.Update
}

func (l *loopback) Publish(_ context.Context, u eventlog.Update) (eventlog.Update, error) {
	l.mu.Lock()
	l.updates = append(l.updates, u)
	m := l.m
	l.mu.Unlock()
	if m != nil {
		m.Observe(u)
	}
	return u, nil
}

func (l *loopback) types() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	for _, u := range l.updates {
		out = append(out, u.Type)
	}
	return out
}

// newSite starts the pages with a fast demo.
func newSite(t *testing.T, cfg Config) (*Site, *jobs.Manager, *loopback, *httptest.Server) {
	t.Helper()
	pub := &loopback{}
	m, err := jobs.NewManager(jobs.Config{Publisher: pub})
	if err != nil {
		t.Fatal(err)
	}
	pub.mu.Lock()
	pub.m = m
	pub.mu.Unlock()
	cfg.Jobs = m
	cfg.Logger = slog.New(slog.DiscardHandler)
	if cfg.Pace == 0 {
		cfg.Pace = time.Millisecond
	}
	site, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(site.Handler())
	t.Cleanup(func() {
		srv.Close()
		site.Close()
		m.Close()
	})
	return site, m, pub, srv
}

// query posts a bounding box (or raw body) to the demo, as the demo page
// does.
func query(t *testing.T, srv *httptest.Server, body string) (int, map[string]any, string) {
	t.Helper()
	return queryWith(t, srv, body, http.Header{"Origin": {srv.URL}})
}

// queryWith posts body to the demo with the given headers.
func queryWith(t *testing.T, srv *httptest.Server, body string, header http.Header) (int, map[string]any, string) {
	t.Helper()
	req, _ := http.NewRequest("POST", srv.URL+"/api/demo/query", strings.NewReader(body))
	req.Header = header
	req.Header.Set("Content-Type", "application/json")
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var answer map[string]any
	json.Unmarshal(b, &answer)
	return resp.StatusCode, answer, string(b)
}

// waitFinished waits until the job has finished and returns it.
func waitFinished(t *testing.T, m *jobs.Manager, id string) jobs.Snapshot {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		s, err := m.Get(id)
		if err != nil {
			t.Fatal(err)
		}
		if s.State.Final() {
			return s
		}
		if time.Now().After(deadline) {
			t.Fatalf("job %s still %s at %v%%", id, s.State, s.Percent)
		}
		time.Sleep(5 * time.Millisecond) // polling a condition, bounded by the deadline
	}
}

func TestTheDatasetIsTheSameOnEveryStart(t *testing.T) {
	a, b := Dataset(), Dataset()
	if len(a) != DatasetSize || len(b) != DatasetSize {
		t.Fatalf("%d and %d places, want %d", len(a), len(b), DatasetSize)
	}
	perCategory := map[string]int{}
	for i := range a {
		if a[i] != b[i] {
			t.Fatalf("place %d differs between two generations: %+v, %+v", i, a[i], b[i])
		}
		p := a[i]
		if p.Lat < Europe.MinLat || p.Lat > Europe.MaxLat || p.Lon < Europe.MinLon || p.Lon > Europe.MaxLon || p.Value <= 0 {
			t.Fatalf("place %d %+v outside the default box or without a value", i, p)
		}
		perCategory[p.Category]++
	}
	for _, c := range Categories {
		if n := perCategory[c]; n < DatasetSize/len(Categories)*8/10 {
			t.Fatalf("category %s has %d places, want about a fifth", c, n)
		}
	}
}

func TestADemoQueryFiltersAggregatesAndAClickWhileItRunsJoinsIt(t *testing.T) {
	_, m, pub, srv := newSite(t, Config{Pace: 3 * time.Millisecond})
	box := BBox{MinLat: 48, MaxLat: 53, MinLon: -1, MaxLon: 14} // Paris to Berlin
	body, _ := json.Marshal(box)
	st, first, raw := query(t, srv, string(body))
	if st != http.StatusOK || first["joined"] != false || !strings.HasPrefix(first["topic"].(string), "jobs/demo-") {
		t.Fatalf("first query: %d %s", st, raw)
	}
	st, second, raw := query(t, srv, `{"minLat":0,"maxLat":1,"minLon":0,"maxLon":1}`)
	if st != http.StatusOK || second["job"] != first["job"] || second["joined"] != true {
		t.Fatalf("a click while the query runs: %d %s, want the running job %v, joined", st, raw, first["job"])
	}
	s := waitFinished(t, m, first["job"].(string))
	if s.State != jobs.Succeeded || *s.Percent != 100 {
		t.Fatalf("query ended %s at %v%%: %s", s.State, s.Percent, s.Error)
	}
	var res Result
	if err := json.Unmarshal(s.Result, &res); err != nil {
		t.Fatal(err)
	}
	want := map[string]int{}
	matched := 0
	for _, p := range Dataset() {
		if p.Lat >= box.MinLat && p.Lat <= box.MaxLat && p.Lon >= box.MinLon && p.Lon <= box.MaxLon {
			want[p.Category]++
			matched++
		}
	}
	if res.Matched != matched || res.BBox != box || len(res.Points) == 0 || len(res.Points) > 500 {
		t.Fatalf("result matched %d of box %+v with %d points, want %d in %+v and a sample", res.Matched, res.BBox, len(res.Points), matched, box)
	}
	for _, c := range res.Categories {
		if c.Count != want[c.Category] || c.Count > 0 && c.Average <= 0 {
			t.Fatalf("category %+v, want %d places and an average", c, want[c.Category])
		}
	}
	// The stages went by in order, each reported.
	types := pub.types()
	if types[len(types)-1] != jobs.EventDone {
		t.Fatalf("last event %q, want done", types[len(types)-1])
	}
	// The next click starts a new query.
	st, third, raw := query(t, srv, "")
	if st != http.StatusOK || third["job"] == first["job"] || third["joined"] != false {
		t.Fatalf("a click after the query: %d %s, want a new job", st, raw)
	}
	waitFinished(t, m, third["job"].(string))
}

func TestTheDemoQueryRunsOnlyForTheDemoPageItself(t *testing.T) {
	_, m, _, srv := newSite(t, Config{Pace: time.Hour})
	cases := []struct {
		name   string
		header http.Header
		status int
	}{
		{"a script without Origin", http.Header{}, 403},
		{"another site", http.Header{"Origin": {"https://evil.example"}}, 403},
		{"another site, said by the browser", http.Header{"Origin": {srv.URL}, "Sec-Fetch-Site": {"cross-site"}}, 403},
		{"a sibling subdomain", http.Header{"Sec-Fetch-Site": {"same-site"}}, 403},
		{"an opaque origin", http.Header{"Origin": {"null"}}, 403},
		{"the page itself, by Origin", http.Header{"Origin": {srv.URL}}, 200},
		{"the page itself, by Sec-Fetch-Site", http.Header{"Sec-Fetch-Site": {"same-origin"}}, 200},
	}
	for _, tt := range cases {
		t.Run(tt.name, func(t *testing.T) {
			st, _, body := queryWith(t, srv, "", tt.header)
			if st != tt.status {
				t.Fatalf("%d %q, want %d", st, body, tt.status)
			}
			if st == 403 && !strings.Contains(body, "demo page") {
				t.Errorf("refusal %q does not say where the query may come from", body)
			}
		})
	}
	if n := len(m.List()); n != 1 {
		t.Errorf("%d jobs started, want 1 (the page's own queries join the running one)", n)
	}
}

func TestADemoQueryRefusesABadBox(t *testing.T) {
	_, m, _, srv := newSite(t, Config{})
	for _, body := range []string{
		`{"minLat":`,
		`{"minLat":50,"maxLat":40,"minLon":0,"maxLon":1}`,
		`{"minLat":0,"maxLat":1,"minLon":-200,"maxLon":1}`,
		`"box"`,
	} {
		if st, _, raw := query(t, srv, body); st != http.StatusBadRequest || strings.Count(strings.TrimSpace(raw), "\n") > 0 {
			t.Errorf("box %s: %d %q, want 400 with a one-line reason", body, st, raw)
		}
	}
	if n := len(m.List()); n != 0 {
		t.Fatalf("bad boxes started %d jobs", n)
	}
}

func TestClosingTheSiteCancelsARunningQuery(t *testing.T) {
	site, m, _, srv := newSite(t, Config{Pace: time.Second})
	_, answer, _ := query(t, srv, "")
	site.Close()
	s, err := m.Get(answer["job"].(string))
	if err != nil || s.State != jobs.Cancelled || s.Error != "interrupted: the hub shut down" {
		t.Fatalf("after Close the query is %s %q (%v), want cancelled, saying it was interrupted", s.State, s.Error, err)
	}
	if st, _, _ := query(t, srv, ""); st != http.StatusServiceUnavailable {
		t.Fatalf("a query after Close: %d, want 503", st)
	}
}

func TestTheDemoCancelsOnlyItsRunningQueryForItsOwnPage(t *testing.T) {
	_, m, _, srv := newSite(t, Config{Pace: 50 * time.Millisecond})
	_, answer, _ := query(t, srv, "")
	id := answer["job"].(string)
	cancel := func(body string, header http.Header) (int, string) {
		req, _ := http.NewRequest("POST", srv.URL+"/api/demo/cancel", strings.NewReader(body))
		req.Header = header
		resp, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	page := http.Header{"Origin": {srv.URL}}
	for _, c := range []struct {
		body   string
		header http.Header
		want   int
	}{
		{`{"job":"` + id + `"}`, http.Header{"Sec-Fetch-Site": {"cross-site"}}, http.StatusForbidden},
		{`{"job":"demo-other"}`, page, http.StatusConflict},
		{`{"job":`, page, http.StatusBadRequest},
	} {
		if st, body := cancel(c.body, c.header); st != c.want {
			t.Errorf("cancel %s: %d %q, want %d", c.body, st, body, c.want)
		}
	}
	if st, body := cancel(`{"job":"`+id+`"}`, page); st != http.StatusAccepted {
		t.Fatalf("cancel from the page: %d %q, want 202", st, body)
	}
	if s := waitFinished(t, m, id); s.State != jobs.Cancelled || s.Error != "" {
		t.Fatalf("the cancelled query ended %s %q, want cancelled", s.State, s.Error)
	}
	lines, err := m.Lines(id, 1, 100)
	if err != nil || len(lines.Lines) == 0 || lines.Lines[len(lines.Lines)-1].Text != "cancelled on request" {
		t.Fatalf("the query's log %+v (%v), want it to end with the cancellation", lines, err)
	}
}

func TestThePagesAreServed(t *testing.T) {
	_, _, _, srv := newSite(t, Config{})
	for path, want := range map[string][]string{
		"/":        {"text/html", `<button id="update">Update Data</button>`, `Status: <em id="status">`, "#status { color: red; font-weight: bold; }"},
		"/demo.js": {"javascript", "/api/demo/query"},
	} {
		resp, err := srv.Client().Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || !strings.Contains(resp.Header.Get("Content-Type"), want[0]) {
			t.Errorf("%s: %s %q", path, resp.Status, resp.Header.Get("Content-Type"))
		}
		for _, w := range want[1:] {
			if !strings.Contains(string(b), w) {
				t.Errorf("%s lacks %q", path, w)
			}
		}
	}
	for _, path := range []string{"/nothing-here", "/herald.js"} {
		resp, err := srv.Client().Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 404 {
			t.Errorf("%s: %s, want 404 (herald.js is package web's)", path, resp.Status)
		}
	}
}

func TestTheDemoNeedsAJobsManager(t *testing.T) {
	if _, err := New(Config{}); err == nil {
		t.Error("the demo without a jobs manager was accepted")
	}
}
