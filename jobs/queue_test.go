package jobs

import (
	"encoding/json"
	"fmt"
	"net/url"
	"slices"
	"testing"
	"time"
)

// positions returns the queue positions a node gives the jobs ids (0 for
// none).
func positions(n *node, ids ...string) []int {
	out := make([]int, len(ids))
	for i, id := range ids {
		if s, err := n.m.Get(id); err == nil && s.QueuePosition != nil {
			out[i] = *s.QueuePosition
		}
	}
	return out
}

// agree waits until every node gives the jobs ids the positions want.
func agree(t *testing.T, sub *subscriber, nodes []*node, want []int, ids ...string) {
	t.Helper()
	sub.waitFor(t, 15*time.Second, fmt.Sprintf("positions %v of %v on every node", want, ids), func([]Snapshot) bool {
		for _, n := range nodes {
			if !slices.Equal(positions(n, ids...), want) {
				return false
			}
		}
		return true
	})
}

// latestOf returns the last snapshot of job id received, and whether any was.
func latestOf(snaps []Snapshot, id string) (Snapshot, bool) {
	for i := len(snaps) - 1; i >= 0; i-- {
		if snaps[i].ID == id {
			return snaps[i], true
		}
	}
	return Snapshot{}, false
}

func TestQueuePositionsAgreeAcrossNodesAndMoveUpAsJobsAheadStartOrAreCancelled(t *testing.T) {
	nodes, sub := newCluster(t, 2, Config{StallAfter: time.Hour})
	a, b := nodes[0], nodes[1]
	ctx := t.Context()
	for i, n := range []*node{a, b, a, b} {
		id := fmt.Sprintf("q%d", i+1)
		s, err := n.m.Create(ctx, Spec{ID: id, Queue: "imports"})
		if err != nil {
			t.Fatal(err)
		}
		if s.State != Queued || s.QueuePosition == nil || *s.QueuePosition != i+1 {
			t.Fatalf("created %s: state %s position %v, want queued at %d", id, s.State, s.QueuePosition, i+1)
		}
		want := make([]int, i+1)
		for j := range want {
			want[j] = j + 1
		}
		agree(t, sub, nodes, want, []string{"q1", "q2", "q3", "q4"}[:i+1]...)
	}

	// q1 starts on node b: the jobs behind are published with their new
	// positions, and both nodes agree.
	s, err := b.m.Begin(ctx, "q1")
	if err != nil || s.State != Running || s.QueuePosition != nil || s.Started == nil {
		t.Fatalf("begin q1: %+v, %v; want it running, out of the queue", s, err)
	}
	sub.waitFor(t, 15*time.Second, "q2..q4 published one place up", func(snaps []Snapshot) bool {
		for i, id := range []string{"q2", "q3", "q4"} {
			s, ok := latestOf(snaps, id)
			if !ok || s.QueuePosition == nil || *s.QueuePosition != i+1 {
				return false
			}
		}
		return true
	})
	agree(t, sub, nodes, []int{0, 1, 2, 3}, "q1", "q2", "q3", "q4")

	// q2 is cancelled on node a: it ends at once, no worker having it.
	s, err = a.m.Cancel(ctx, "q2")
	if err != nil || s.State != Cancelled {
		t.Fatalf("cancel queued q2: %s, %v; want cancelled at once", s.State, err)
	}
	sub.waitFor(t, 15*time.Second, "q3 and q4 published one place up", func(snaps []Snapshot) bool {
		s3, ok3 := latestOf(snaps, "q3")
		s4, ok4 := latestOf(snaps, "q4")
		return ok3 && ok4 && s3.QueuePosition != nil && *s3.QueuePosition == 1 && s4.QueuePosition != nil && *s4.QueuePosition == 2
	})
	agree(t, sub, nodes, []int{0, 0, 1, 2}, "q1", "q2", "q3", "q4")

	// q3's first report starts it.
	s, err = b.m.Progress(ctx, "q3", Report{Done: 1, Total: num(10)})
	if err != nil || s.State != Running || s.Started == nil {
		t.Fatalf("first report to q3: %+v, %v; want it running", s, err)
	}
	agree(t, sub, nodes, []int{0, 0, 0, 1}, "q1", "q2", "q3", "q4")
	if s, _ := a.m.Begin(ctx, "q1"); s.State != Running {
		t.Fatalf("begin a running job again: %s, want it still running", s.State)
	}
}

func TestAQueuedJobStartsInTheQueuesMeanTimeBetweenStarts(t *testing.T) {
	c := &clock{}
	c.set(0)
	nodes, sub := newCluster(t, 1, Config{Now: c.Now, StallAfter: time.Hour})
	m := nodes[0].m
	ctx := t.Context()
	ids := []string{"a", "b", "c", "d", "e"}
	for _, id := range ids {
		if _, err := m.Create(ctx, Spec{ID: id, Queue: "q"}); err != nil {
			t.Fatal(err)
		}
	}
	agree(t, sub, nodes, []int{1, 2, 3, 4, 5}, ids...)
	if s, _ := m.Get("a"); s.StartsIn != nil {
		t.Fatalf("starts in %v before any start, want unknown", *s.StartsIn)
	}
	for i, id := range ids[:3] {
		c.set(float64(10 * i))
		if _, err := m.Begin(ctx, id); err != nil {
			t.Fatal(err)
		}
	}
	c.set(25)
	if err := (&Job{m: m, id: "a"}).Begin(ctx); err != nil {
		t.Fatalf("begin a started job from its handle: %v, want nothing changed", err)
	}
	for id, want := range map[string]float64{"d": 5, "e": 15} {
		s, err := m.Get(id)
		if err != nil || s.StartsIn == nil || *s.StartsIn != want {
			t.Fatalf("%s at 25s, after starts at 0, 10 and 20: starts in %v (%v), want %g", id, val(s.StartsIn), err, want)
		}
	}
}

func TestTheHTTPAPICreatesQueuedJobsOfAKindAndStartsThem(t *testing.T) {
	a := newAPI(t)
	status, body, _ := a.do(t, "POST", "/api/jobs", "pub", jsonType, `{"id":"w","queue":"builds","kind":"build"}`)
	var s Snapshot
	json.Unmarshal([]byte(body), &s)
	if status != 201 || s.State != Queued || s.Queue != "builds" || s.Kind != "build" || s.QueuePosition == nil || *s.QueuePosition != 1 {
		t.Fatalf("create queued: %d %s", status, body)
	}
	form := url.Values{"id": {"x"}, "queue": {"builds"}, "kind": {"build"}}.Encode()
	if status, body, _ := a.do(t, "POST", "/api/jobs", "pub", "application/x-www-form-urlencoded", form); status != 201 || !json.Valid([]byte(body)) {
		t.Fatalf("create queued from a form: %d %s", status, body)
	}
	if status, body, _ := a.do(t, "POST", "/api/jobs/w/start", "sub", "", ""); status != 403 {
		t.Fatalf("start with a subscriber token: %d %s, want 403", status, body)
	}
	status, body, _ = a.do(t, "POST", "/api/jobs/w/start", "pub", "", "")
	s = Snapshot{}
	json.Unmarshal([]byte(body), &s)
	if status != 200 || s.State != Running || s.QueuePosition != nil {
		t.Fatalf("start: %d %s, want 200 and running", status, body)
	}
	for _, c := range []struct{ path, body string }{
		{"/api/jobs", `{"id":"y","queue":"no/slash"}`},
		{"/api/jobs", `{"id":"z","kind":""}` + "x"},
		{"/api/jobs", `{"id":"z","kind":"a b"}`},
	} {
		if status, body, _ := a.do(t, "POST", c.path, "pub", jsonType, c.body); status != 400 {
			t.Errorf("POST %s %s: %d %s, want 400", c.path, c.body, status, body)
		}
	}
	if status, body, _ := a.do(t, "POST", "/api/jobs/nope/start", "pub", "", ""); status != 404 {
		t.Fatalf("start an unknown job: %d %s, want 404", status, body)
	}
	a.do(t, "POST", "/api/jobs/w/finish", "pub", jsonType, `{"state":"succeeded"}`)
	if status, body, _ := a.do(t, "POST", "/api/jobs/w/start", "pub", "", ""); status != 409 {
		t.Fatalf("start a finished job: %d %s, want 409", status, body)
	}
}

func TestAQueuedJobOfAKindShowsTheRangeOfItsRunButNoETA(t *testing.T) {
	c := &clock{}
	m, rec := newManager(t, Config{Now: c.Now, StallAfter: time.Hour})
	at := finishRuns(t, m, c, "run", 0, 10, 20, 30, 40, 50)
	for _, u := range rec.updates {
		if u.Type == EventHistory {
			m.Observe(u)
		}
	}
	c.set(at)
	s, err := m.Create(t.Context(), Spec{ID: "later", Kind: "import", Queue: "q", Stages: []Stage{{Name: "load"}, {Name: "save"}}})
	if err != nil {
		t.Fatal(err)
	}
	if s.ETA != nil || s.ETALow == nil || *s.ETALow != 24 || *s.ETAHigh != 56 || s.ETASource != "history" {
		t.Fatalf("queued: eta %v range %v..%v from %q, want no ETA and the run's range 24..56 from history", val(s.ETA), val(s.ETALow), val(s.ETAHigh), s.ETASource)
	}
	c.set(at + 100)
	if s, _ = m.Begin(t.Context(), "later"); s.ETA == nil || *s.ETA != 40 || s.ETASource != "history" {
		t.Fatalf("started: eta %v from %q, want the runs' median, 40, from history", val(s.ETA), s.ETASource)
	}
}
