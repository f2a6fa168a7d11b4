package jobs

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/heraldhub/herald/eventlog"
)

// discard is a Publisher that keeps nothing.
type discard struct{}

func (discard) Publish(_ context.Context, u eventlog.Update) (eventlog.Update, error) { return u, nil }

// checkInvariants fails if a snapshot is one no client should ever see.
func checkInvariants(t *testing.T, s Snapshot) {
	t.Helper()
	if _, err := json.Marshal(s); err != nil {
		t.Fatalf("snapshot does not encode: %v", err)
	}
	if s.Percent != nil && (*s.Percent < 0 || *s.Percent > 100) {
		t.Fatalf("percent %v out of 0..100: %+v", *s.Percent, s)
	}
	if s.ETA != nil && *s.ETA < 0 {
		t.Fatalf("negative ETA %v", *s.ETA)
	}
	if s.ETALow != nil && (*s.ETALow < 0 || s.ETAHigh == nil || *s.ETAHigh < *s.ETALow) {
		t.Fatalf("ETA range %v..%v", *s.ETALow, s.ETAHigh)
	}
	if s.Total > 0 && s.Done > s.Total {
		t.Fatalf("done %v > total %v", s.Done, s.Total)
	}
}

// FuzzJobsAPI sends arbitrary bodies to the writing endpoints: every answer
// is a known status, refusals are one line, and no job ever holds a state
// that breaks the snapshot's invariants.
func FuzzJobsAPI(f *testing.F) {
	seeds := []struct {
		endpoint uint8
		form     bool
		body     string
	}{
		{0, false, `{"id":"a","title":"t","stages":[{"name":"x","weight":2},{"name":"y"}],"total":10}`},
		{0, true, "id=a&stage=x:2&stage=y&total=10&private=on"},
		{0, false, `{"id":"a","kind":"import","queue":"q","stages":[{"name":"x"}]}`},
		{0, true, "id=a&queue=q&kind=k%2Fx"},
		{1, false, `{"stage":"y","done":5,"total":8,"message":"m"}`},
		{1, true, "done=3&total=1e308"},
		{1, true, "done=NaN"},
		{1, false, `{"done":1}{"done":2}`},
		{1, false, `{"done":1e309}`},
		{2, false, `{"state":"succeeded","result":{"rows":[1,2]}}`},
		{2, true, "state=failed&error=boom"},
		{2, true, "state=succeeded&result={oops"},
		{0, false, `{"id":"` + strings.Repeat("z", 200) + `"}`},
		{0, false, `{"stages":[{"name":"x","weight":1e308},{"name":"y","weight":1e308}]}`},
	}
	for _, s := range seeds {
		f.Add(s.endpoint, s.form, s.body)
	}
	m, err := NewManager(Config{Publisher: discard{}, MinInterval: time.Nanosecond})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { m.Close() })
	h := m.Handler(tokens{})
	f.Fuzz(func(t *testing.T, endpoint uint8, form bool, body string) {
		m.mu.Lock()
		clear(m.jobs)
		m.mu.Unlock()
		if _, err := m.Create(t.Context(), Spec{ID: "a", Stages: []Stage{{Name: "x"}, {Name: "y", Weight: 2}}, Total: 10}); err != nil {
			t.Fatal(err)
		}
		path := [...]string{"/api/jobs", "/api/jobs/a/progress", "/api/jobs/a/finish", "/api/jobs/a/cancel", "/api/jobs/a/start"}[endpoint%5]
		req := httptest.NewRequest("POST", path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer pub")
		if form {
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		} else {
			req.Header.Set("Content-Type", "application/json")
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		switch w.Code {
		case http.StatusOK, http.StatusCreated, http.StatusAccepted:
		case http.StatusBadRequest, http.StatusConflict, http.StatusRequestEntityTooLarge:
			if strings.Count(strings.TrimSpace(w.Body.String()), "\n") > 0 {
				t.Fatalf("refusal on more than one line: %q", w.Body.String())
			}
		default:
			t.Fatalf("status %d for %s %q: %s", w.Code, path, body, w.Body.String())
		}
		for _, s := range m.List() {
			checkInvariants(t, s)
		}
	})
}

// FuzzObserve feeds arbitrary updates, as another node or a corrupt log
// could hold them, to Observe: nothing panics, and what is kept is a
// well-formed job.
func FuzzObserve(f *testing.F) {
	good := Snapshot{ID: "a", Topic: "jobs/a", State: Running, Seq: 3, Done: 1, Total: 2, Stages: []Stage{{Name: "x", Weight: 1}}, Stage: "x"}
	b, _ := json.Marshal(good)
	f.Add("jobs/a", "progress", string(b))
	f.Add("jobs/a", "done", strings.Replace(string(b), `"running"`, `"succeeded"`, 1))
	f.Add("jobs/a", "progress", `{"id":"a","topic":"jobs/a","state":"weird","seq":9}`)
	f.Add("jobs/b", "progress", string(b))
	f.Add("jobs/a", "progress", `{"id":"a","topic":"jobs/a","state":"running","seq":1,"done":5,"total":1}`)
	f.Add("jobs/a", "progress", "{")
	f.Add("news", "message", "hello")
	queued := good
	queued.State, queued.Queue, queued.Kind = Queued, "q", "import"
	qb, _ := json.Marshal(queued)
	f.Add("jobs/a", "progress", string(qb))
	f.Add("jobs/_history/import", "history", `{"kind":"import","job":"a","stages":["x"],"seconds":[3]}`)
	f.Add("jobs/_history/import", "history", `{"kind":"import","job":"b","stages":["x","y"],"seconds":[-1]}`)
	f.Add("jobs/_history/x/y", "history", `{"kind":"x/y","job":"b","seconds":[1e308,1e308]}`)
	m, err := NewManager(Config{Publisher: discard{}})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { m.Close() })
	f.Fuzz(func(t *testing.T, topic, typ, data string) {
		m.mu.Lock()
		clear(m.jobs)
		m.mu.Unlock()
		m.Observe(eventlog.Update{Topics: []string{topic}, Type: typ, Data: data})
		for _, s := range m.List() {
			if s.Topic != topic || s.Topic != TopicPrefix+s.ID || eventType(s.State) != typ {
				t.Fatalf("kept %+v from an update on %q of type %q", s, topic, typ)
			}
			if _, err := json.Marshal(s); err != nil {
				t.Fatalf("kept a snapshot that does not encode: %v", err)
			}
			if s.Percent != nil && (*s.Percent < 0 || *s.Percent > 100) || s.ETA != nil && *s.ETA < 0 {
				t.Fatalf("percent %v, ETA %v from %q", s.Percent, s.ETA, data)
			}
		}
		m.Snapshots(func(string) bool { return true })
		m.hmu.Lock()
		defer m.hmu.Unlock()
		for kind, h := range m.history {
			for _, r := range h.list {
				if r.Kind != kind || !validID(kind) || HistoryTopic(kind) != topic || typ != EventHistory {
					t.Fatalf("kept run %+v from an update on %q of type %q", r, topic, typ)
				}
				for _, sec := range r.Seconds {
					if !(sec >= 0) || !finite(sec) {
						t.Fatalf("kept a run with %v seconds", sec)
					}
				}
			}
		}
		clear(m.history)
	})
}
