package jobs

import (
	"context"
	"encoding/json"
	"errors"
	"math"
	"sync"
	"testing"
	"time"

	"github.com/heraldhub/herald/eventlog"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// recorder is a Publisher that keeps what was published.
type recorder struct {
	mu      sync.Mutex
	updates []eventlog.Update
	fail    bool
	added   chan struct{}
}

func newRecorder() *recorder { return &recorder{added: make(chan struct{}, 1<<16)} }

func (r *recorder) Publish(_ context.Context, u eventlog.Update) (eventlog.Update, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.fail {
		return u, eventlog.ErrUnavailable
	}
	r.updates = append(r.updates, u)
	r.added <- struct{}{}
	return u, nil
}

// at returns the i-th update published.
func (r *recorder) at(i int) eventlog.Update {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.updates[i]
}

func (r *recorder) snapshots(t *testing.T) []Snapshot {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]Snapshot, len(r.updates))
	for i, u := range r.updates {
		if err := json.Unmarshal([]byte(u.Data), &out[i]); err != nil {
			t.Fatal(err)
		}
	}
	return out
}

// waitFor waits until cond holds on the published snapshots.
func (r *recorder) waitFor(t *testing.T, what string, cond func([]Snapshot) bool) []Snapshot {
	t.Helper()
	deadline := time.After(5 * time.Second)
	for {
		if s := r.snapshots(t); cond(s) {
			return s
		}
		select {
		case <-r.added:
		case <-deadline:
			t.Fatalf("timed out waiting for %s; published %+v", what, r.snapshots(t))
		}
	}
}

func newManager(t *testing.T, cfg Config) (*Manager, *recorder) {
	t.Helper()
	rec := newRecorder()
	cfg.Publisher = rec
	m, err := NewManager(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return m, rec
}

func TestABurstOfReportsIsCoalescedAndTheLastIsExact(t *testing.T) {
	m, rec := newManager(t, Config{MinInterval: 100 * time.Millisecond})
	ctx := context.Background()
	job, err := m.Start(ctx, Spec{ID: "burst", Total: 10000})
	if err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= 10000; i++ {
		if err := job.Progress(ctx, "", float64(i), 10000, ""); err != nil {
			t.Fatal(err)
		}
	}
	got := rec.waitFor(t, "the last report", func(s []Snapshot) bool { return len(s) > 0 && s[len(s)-1].Done == 10000 })
	if len(got) > 10 {
		t.Fatalf("10,000 reports in a burst published %d events, want a handful", len(got))
	}
	for i := 1; i < len(got); i++ {
		if got[i].Seq <= got[i-1].Seq {
			t.Fatalf("seq went from %d to %d", got[i-1].Seq, got[i].Seq)
		}
	}
	if err := job.Succeed(ctx, map[string]int{"rows": 10000}); err != nil {
		t.Fatal(err)
	}
	last := rec.waitFor(t, "the final event", func(s []Snapshot) bool { return s[len(s)-1].State == Succeeded })
	final := last[len(last)-1]
	if string(final.Result) != `{"rows":10000}` || *final.Percent != 100 {
		t.Fatalf("final snapshot %+v, want the result and 100%%", final)
	}
}

func TestAStageChangeIsPublishedAtOnce(t *testing.T) {
	m, rec := newManager(t, Config{MinInterval: time.Hour})
	ctx := context.Background()
	job, _ := m.Start(ctx, Spec{ID: "stages", Stages: []Stage{{Name: "load"}, {Name: "filter", Weight: 2}}})
	job.Progress(ctx, "load", 1, 10, "")
	job.Progress(ctx, "filter", 5, 10, "")
	got := rec.waitFor(t, "the filter stage", func(s []Snapshot) bool { return s[len(s)-1].Stage == "filter" })
	if p := got[len(got)-1].Percent; p == nil || *p != 50 { // load (1) done + half of filter (2) = 2 of 3... weighted: (1+2*0.5)/3
		if p == nil || *p != 66.7 {
			t.Fatalf("percent %v, want 66.7 for a half-done stage of weight 2 after a stage of weight 1", p)
		}
	}
}

func TestASilentJobIsStalledAndRecovers(t *testing.T) {
	m, rec := newManager(t, Config{MinInterval: 10 * time.Millisecond, StallAfter: 100 * time.Millisecond})
	ctx := context.Background()
	job, _ := m.Start(ctx, Spec{ID: "silent", Total: 10})
	rec.waitFor(t, "the stalled state", func(s []Snapshot) bool { return s[len(s)-1].State == Stalled })
	if err := job.Progress(ctx, "", 1, 10, ""); err != nil {
		t.Fatal(err)
	}
	rec.waitFor(t, "running again", func(s []Snapshot) bool { return s[len(s)-1].State == Running && s[len(s)-1].Done == 1 })
}

func TestCancellationReachesTheWorkerOnItsNextReport(t *testing.T) {
	m, rec := newManager(t, Config{})
	ctx := context.Background()
	job, _ := m.Start(ctx, Spec{ID: "cancel-me", Total: 10})
	if _, err := m.Cancel(ctx, "cancel-me"); err != nil {
		t.Fatal(err)
	}
	if err := job.Progress(ctx, "", 2, 10, ""); !errors.Is(err, ErrCancelRequested) {
		t.Fatalf("progress after a cancel request: %v, want ErrCancelRequested", err)
	}
	if err := job.FinishCancelled(ctx); err != nil {
		t.Fatal(err)
	}
	got := rec.waitFor(t, "the cancelled state", func(s []Snapshot) bool { return s[len(s)-1].State == Cancelled })
	if typ := rec.at(len(got) - 1).Type; typ != EventCancelled {
		t.Fatalf("final event type %q, want %q", typ, EventCancelled)
	}
}

func TestBadReportsChangeNothing(t *testing.T) {
	m, _ := newManager(t, Config{})
	ctx := context.Background()
	m.Create(ctx, Spec{ID: "j", Total: 10, Stages: []Stage{{Name: "a"}}})
	before, _ := m.Get("j")
	ten := 5.0
	bad := map[string]func() error{
		"done > total":     func() error { _, err := m.Progress(ctx, "j", Report{Done: 11}); return err },
		"negative done":    func() error { _, err := m.Progress(ctx, "j", Report{Done: -1}); return err },
		"done > new total": func() error { _, err := m.Progress(ctx, "j", Report{Done: 6, Total: &ten}); return err },
		"unknown stage":    func() error { _, err := m.Progress(ctx, "j", Report{Stage: "zzz", Done: 1}); return err },
		"non-JSON result": func() error {
			_, err := m.Finish(ctx, "j", Outcome{State: Succeeded, Result: json.RawMessage("{not json")})
			return err
		},
		"not a final state": func() error { _, err := m.Finish(ctx, "j", Outcome{State: Running}); return err },
		"bad id":            func() error { _, err := m.Create(ctx, Spec{ID: "a/b"}); return err },
		"duplicate id":      func() error { _, err := m.Create(ctx, Spec{ID: "j"}); return err },
	}
	for name, f := range bad {
		if err := f(); err == nil {
			t.Errorf("%s: accepted, want an error", name)
		}
	}
	after, _ := m.Get("j")
	if after.Seq != before.Seq || after.Done != before.Done || after.State != before.State {
		t.Fatalf("bad reports changed the job: %+v → %+v", before, after)
	}
	m.Finish(ctx, "j", Outcome{State: Failed, Error: "boom"})
	if _, err := m.Progress(ctx, "j", Report{Done: 1}); !errors.Is(err, ErrFinished) {
		t.Fatalf("progress after finish: %v, want ErrFinished", err)
	}
}

func TestObservedEventsFromAnotherNodeUpdateSnapshots(t *testing.T) {
	a, recA := newManager(t, Config{})
	b, recB := newManager(t, Config{})
	ctx := context.Background()
	a.Create(ctx, Spec{ID: "shared", Total: 4})
	a.Progress(ctx, "shared", Report{Done: 2})
	recA.waitFor(t, "the coalesced report", func(s []Snapshot) bool { return s[len(s)-1].Done == 2 })
	for i := range len(recA.snapshots(t)) {
		b.Observe(recA.at(i))
	}
	s, err := b.Get("shared")
	if err != nil || s.Done != 2 {
		t.Fatalf("node b's snapshot %+v, %v; want done 2 from node a's events", s, err)
	}
	// Node b continues the job; its event carries a higher seq.
	if _, err := b.Progress(ctx, "shared", Report{Done: 3}); err != nil {
		t.Fatal(err)
	}
	got := recB.waitFor(t, "node b's event", func(ss []Snapshot) bool { return len(ss) > 0 && ss[len(ss)-1].Done == 3 })
	if last := got[len(got)-1]; last.Seq <= s.Seq {
		t.Fatalf("seq %d in node b's event, want above %d", last.Seq, s.Seq)
	}
}

// waitGone waits until the job is forgotten.
func waitGone(t *testing.T, m *Manager, id string, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		if _, err := m.Get(id); errors.Is(err, ErrUnknownJob) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("job %q still known after %v", id, within)
		}
		time.Sleep(5 * time.Millisecond) // polling a condition, bounded by the deadline
	}
}

func TestFinishedJobsAreKeptForTheirTimeThenForgotten(t *testing.T) {
	const keep = 150 * time.Millisecond
	m, _ := newManager(t, Config{MinInterval: 10 * time.Millisecond, KeepFinished: keep, StallAfter: 40 * time.Millisecond, ForgetStalled: keep})
	ctx := t.Context()
	m.Create(ctx, Spec{ID: "finished"})
	m.Create(ctx, Spec{ID: "abandoned"})
	start := time.Now()
	m.Finish(ctx, "finished", Outcome{State: Succeeded, Result: json.RawMessage(`[1, 2]`)})
	if s, err := m.Get("finished"); err != nil || string(s.Result) != "[1,2]" {
		t.Fatalf("a just finished job: %+v, %v; want its result", s, err)
	}
	if got := len(m.Snapshots(func(string) bool { return true })); got != 2 {
		t.Fatalf("%d snapshots for a new subscriber, want both jobs", got)
	}
	waitGone(t, m, "finished", 5*time.Second)
	if d := time.Since(start); d < keep {
		t.Fatalf("a finished job was forgotten after %v, want it kept %v", d, keep)
	}
	// A stalled job is forgotten after ForgetStalled without a report.
	waitGone(t, m, "abandoned", 5*time.Second)
	if got := m.Snapshots(func(string) bool { return true }); len(got) != 0 {
		t.Fatalf("%d snapshots of forgotten jobs", len(got))
	}
}

func TestFinishingTwiceIsIdempotentOnlyWithTheSameOutcome(t *testing.T) {
	m, rec := newManager(t, Config{})
	ctx := t.Context()
	m.Create(ctx, Spec{ID: "twice"})
	if _, err := m.Finish(ctx, "twice", Outcome{State: Succeeded, Result: json.RawMessage(`{"a": 1}`)}); err != nil {
		t.Fatal(err)
	}
	if _, err := m.Finish(ctx, "twice", Outcome{State: Succeeded, Result: json.RawMessage(`{"a":1}`)}); err != nil {
		t.Fatalf("the same outcome again: %v, want success (a retry)", err)
	}
	if _, err := m.Finish(ctx, "twice", Outcome{State: Failed, Error: "late"}); !errors.Is(err, ErrFinished) {
		t.Fatalf("another outcome: %v, want ErrFinished", err)
	}
	if _, err := m.Cancel(ctx, "twice"); !errors.Is(err, ErrFinished) {
		t.Fatalf("cancelling a finished job: %v, want ErrFinished", err)
	}
	if n := len(rec.snapshots(t)); n != 2 {
		t.Fatalf("%d events, want created and succeeded only", n)
	}
}

func TestNumbersThatJSONCannotCarryAreRefused(t *testing.T) {
	m, rec := newManager(t, Config{})
	ctx := t.Context()
	m.Create(ctx, Spec{ID: "n", Total: 10})
	inf, nan := math.Inf(1), math.NaN()
	for name, err := range map[string]error{
		"NaN done":       func() error { _, err := m.Progress(ctx, "n", Report{Done: nan}); return err }(),
		"infinite total": func() error { _, err := m.Progress(ctx, "n", Report{Done: 1, Total: &inf}); return err }(),
		"NaN job total":  func() error { _, err := m.Create(ctx, Spec{ID: "m", Total: nan}); return err }(),
		"NaN weight": func() error {
			_, err := m.Create(ctx, Spec{ID: "m", Stages: []Stage{{Name: "a", Weight: nan}}})
			return err
		}(),
		"huge weight": func() error {
			_, err := m.Create(ctx, Spec{ID: "m", Stages: []Stage{{Name: "a", Weight: 1e300}}})
			return err
		}(),
	} {
		if !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: %v, want ErrInvalid", name, err)
		}
	}
	if _, err := m.Progress(ctx, "n", Report{Done: 1e308, Total: num(1.5e308)}); err != nil {
		t.Fatal(err)
	}
	if _, err := json.Marshal(m.List()); err != nil {
		t.Fatalf("snapshots with huge numbers do not encode: %v", err)
	}
	if n := len(rec.snapshots(t)); n < 1 {
		t.Fatal("nothing published")
	}
}

func TestSnapshotsForANewSubscriberFollowItsTopics(t *testing.T) {
	c := &clock{}
	c.set(0)
	m, _ := newManager(t, Config{Now: c.Now})
	ctx := t.Context()
	for i, id := range []string{"a", "b", "c"} {
		c.set(float64(i))
		m.Create(ctx, Spec{ID: id, Private: id == "b"})
	}
	m.Finish(ctx, "c", Outcome{State: Failed, Error: "no"})
	got := m.Snapshots(func(topic string) bool { return topic != "jobs/a" })
	if len(got) != 2 || got[0].Topics[0] != "jobs/b" || got[1].Topics[0] != "jobs/c" {
		t.Fatalf("snapshots %+v, want jobs/b then jobs/c (oldest first, only matching topics)", got)
	}
	if !got[0].Private || got[1].Type != EventFailed || got[0].Type != EventProgress || got[0].ID != "" || got[0].Seq != 0 {
		t.Fatalf("snapshots %+v, want the private flag, the type of each state, and no id or seq", got)
	}
}

func TestAReportIsPublishedOnceWhileTheTimerRuns(t *testing.T) {
	// The timer publishes what is waiting; a report published at once must
	// not also be waiting for it, or subscribers see it twice.
	c := &clock{}
	c.set(0)
	m, rec := newManager(t, Config{Now: c.Now, MinInterval: time.Nanosecond, StallAfter: time.Hour})
	ctx := t.Context()
	if _, err := m.Create(ctx, Spec{ID: "once", Total: 2000}); err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	flushed := make(chan struct{})
	go func() {
		defer close(flushed)
		for {
			select {
			case <-stop:
				return
			default:
				m.flush(false)
			}
		}
	}()
	const reports = 2000
	for i := 1; i <= reports; i++ {
		c.set(float64(i))
		if _, err := m.Progress(ctx, "once", Report{Done: float64(i)}); err != nil {
			t.Fatal(err)
		}
	}
	close(stop)
	<-flushed
	got := rec.snapshots(t)
	for i, s := range got {
		if s.Seq != uint64(i+1) {
			t.Fatalf("event %d has seq %d: a report was published twice or lost", i, s.Seq)
		}
	}
	if len(got) != reports+1 {
		t.Fatalf("%d events for %d reports and the creation, want one each", len(got), reports)
	}
}
