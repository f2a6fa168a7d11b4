package jobs

import (
	"context"
	"encoding/json"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/heraldhub/herald/eventlog"
)

// node is a manager publishing into a shared log and fed, like the hub
// feeds it, with every update the log's live tail reads.
type node struct {
	m    *Manager
	sent chan eventlog.Update // what this node published, in order
}

// logPublisher appends to the shared log and tells what it published.
type logPublisher struct {
	log  eventlog.Log
	sent chan eventlog.Update
}

func (p logPublisher) Publish(ctx context.Context, u eventlog.Update) (eventlog.Update, error) {
	stored, err := p.log.Append(ctx, u)
	if err == nil {
		p.sent <- stored
	}
	return stored, err
}

// subscriber collects every update of a shared log, as a hub subscriber to
// every job topic would receive it.
type subscriber struct {
	mu      sync.Mutex
	updates []eventlog.Update
	added   chan struct{}
}

func (s *subscriber) add(u eventlog.Update) {
	s.mu.Lock()
	s.updates = append(s.updates, u)
	s.mu.Unlock()
	select {
	case s.added <- struct{}{}:
	default:
	}
}

// waitFor waits until cond holds on the snapshots received, or fails.
func (s *subscriber) waitFor(t *testing.T, within time.Duration, what string, cond func([]Snapshot) bool) []Snapshot {
	t.Helper()
	deadline := time.After(within)
	poll := time.NewTicker(10 * time.Millisecond) // cond may read the managers too
	defer poll.Stop()
	for {
		s.mu.Lock()
		snaps := make([]Snapshot, 0, len(s.updates))
		for _, u := range s.updates {
			if u.Type == EventHistory {
				continue // not a job's snapshot
			}
			var snap Snapshot
			if err := json.Unmarshal([]byte(u.Data), &snap); err != nil {
				s.mu.Unlock()
				t.Fatal(err)
			}
			snaps = append(snaps, snap)
		}
		s.mu.Unlock()
		if cond(snaps) {
			return snaps
		}
		select {
		case <-s.added:
		case <-poll.C:
		case <-deadline:
			t.Fatalf("timed out waiting for %s; received %d events", what, len(snaps))
		}
	}
}

// newCluster starts n managers on one in-memory log, each following it,
// and a subscriber that sees every update.
func newCluster(t *testing.T, n int, cfg Config) ([]*node, *subscriber) {
	t.Helper()
	log := eventlog.NewMemory(1 << 16)
	ctx, cancel := context.WithCancel(context.Background())
	var tails []<-chan struct{}
	t.Cleanup(func() {
		cancel()
		for _, d := range tails {
			<-d
		}
		log.Close()
	})
	sub := &subscriber{added: make(chan struct{}, 1)}
	done, err := log.Follow(ctx, sub.add)
	if err != nil {
		t.Fatal(err)
	}
	tails = append(tails, done)
	var nodes []*node
	for range n {
		sent := make(chan eventlog.Update, 1<<16)
		c := cfg
		c.Publisher = logPublisher{log: log, sent: sent}
		m, err := NewManager(c)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { m.Close() })
		done, err := log.Follow(ctx, m.Observe)
		if err != nil {
			t.Fatal(err)
		}
		tails = append(tails, done)
		nodes = append(nodes, &node{m: m, sent: sent})
	}
	return nodes, sub
}

func TestABurstOfReportsReachesASubscriberAsAHandfulOfEventsTheLastExact(t *testing.T) {
	nodes, sub := newCluster(t, 1, Config{MinInterval: 200 * time.Millisecond})
	m := nodes[0].m
	ctx := t.Context()
	job, err := m.Start(ctx, Spec{ID: "flood", Stages: []Stage{{Name: "copy"}, {Name: "check"}}})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	for i := 1; i <= 10_000; i++ {
		stage := "copy"
		if i > 5000 {
			stage = "check"
		}
		if err := job.Progress(ctx, stage, float64((i-1)%5000+1), 5000, ""); err != nil {
			t.Fatal(err)
		}
	}
	elapsed := time.Since(start)
	got := sub.waitFor(t, 15*time.Second, "the last report", func(s []Snapshot) bool {
		return last(s).Stage == "check" && last(s).Done == 5000
	})
	// One event to create, one per stage change, and at most one per
	// MinInterval besides (and one for the last report).
	limit := 3 + int(elapsed/(200*time.Millisecond)) + 2
	if len(got) > limit {
		t.Fatalf("10,000 reports in %v reached the subscriber as %d events, want at most %d", elapsed, len(got), limit)
	}
	var stages []string
	for i, s := range got {
		if i > 0 && s.Seq <= got[i-1].Seq {
			t.Fatalf("event %d has seq %d after %d", i, s.Seq, got[i-1].Seq)
		}
		if len(stages) == 0 || stages[len(stages)-1] != s.Stage {
			stages = append(stages, s.Stage)
		}
	}
	if len(stages) != 2 {
		t.Fatalf("stages seen in order %v, want copy then check (a stage change is never coalesced away)", stages)
	}
	if last := got[len(got)-1]; last.Percent == nil || *last.Percent != 100 || last.State != Running {
		t.Fatalf("last event %+v, want the exact last report: 100%% and running", last)
	}
	if err := job.Succeed(ctx, "ok"); err != nil {
		t.Fatal(err)
	}
	sub.waitFor(t, 15*time.Second, "the final event", func(s []Snapshot) bool { return last(s).State == Succeeded })
}

func TestACancelOnAnotherNodeIsNotLostToAConcurrentReport(t *testing.T) {
	// Two nodes number their events independently: node b's cancel request
	// and node a's report can carry the same seq. Neither may be lost.
	a, recA := newManager(t, Config{MinInterval: time.Nanosecond})
	b, recB := newManager(t, Config{})
	ctx := t.Context()
	if _, err := a.Create(ctx, Spec{ID: "race", Total: 10}); err != nil {
		t.Fatal(err)
	}
	b.Observe(recA.at(0))
	if _, err := a.Progress(ctx, "race", Report{Done: 1}); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Cancel(ctx, "race"); err != nil {
		t.Fatal(err)
	}
	progress, cancel := recA.at(1), recB.at(0)
	var ps, cs Snapshot
	json.Unmarshal([]byte(progress.Data), &ps)
	json.Unmarshal([]byte(cancel.Data), &cs)
	if ps.Seq != cs.Seq {
		t.Fatalf("seqs %d and %d: the test needs a collision", ps.Seq, cs.Seq)
	}
	a.Observe(cancel)
	b.Observe(progress)
	if _, err := a.Progress(ctx, "race", Report{Done: 2}); !errors.Is(err, ErrCancelRequested) {
		t.Fatalf("the worker's next report on node a: %v, want ErrCancelRequested", err)
	}
	if s, _ := b.Get("race"); !s.CancelRequested {
		t.Fatal("node b forgot the cancel request it published")
	}
}

func TestAFinalEventFromAnotherNodeWinsASeqTie(t *testing.T) {
	a, recA := newManager(t, Config{MinInterval: time.Nanosecond})
	b, recB := newManager(t, Config{})
	ctx := t.Context()
	a.Create(ctx, Spec{ID: "tie", Total: 10})
	b.Observe(recA.at(0))
	a.Progress(ctx, "tie", Report{Done: 5})
	if _, err := b.Finish(ctx, "tie", Outcome{State: Failed, Error: "disk full"}); err != nil {
		t.Fatal(err)
	}
	a.Observe(recB.at(0))
	b.Observe(recA.at(1))
	for name, m := range map[string]*Manager{"a": a, "b": b} {
		if s, _ := m.Get("tie"); s.State != Failed || s.Error != "disk full" {
			t.Fatalf("node %s: %s %q, want failed with the error", name, s.State, s.Error)
		}
	}
	if _, err := a.Progress(ctx, "tie", Report{Done: 6}); !errors.Is(err, ErrFinished) {
		t.Fatalf("a report after the job failed elsewhere: %v, want ErrFinished", err)
	}
}

func TestAnyNodeContinuesAJobAndItsEstimate(t *testing.T) {
	c := &clock{}
	c.set(0)
	cfg := Config{Now: c.Now, MinInterval: time.Nanosecond, StallAfter: time.Hour}
	nodes, sub := newCluster(t, 2, cfg)
	a, b := nodes[0].m, nodes[1].m
	ctx := t.Context()
	a.Create(ctx, Spec{ID: "roam", Total: 100})
	for s := 1.0; s <= 10; s++ {
		c.set(s)
		// Reports alternate between the nodes, as behind a load balancer.
		m := a
		if int(s)%2 == 0 {
			m = b
		}
		sub.waitFor(t, 15*time.Second, "the previous report on every node", func([]Snapshot) bool {
			sa, _ := a.Get("roam")
			sb, _ := b.Get("roam")
			return sa.Seq == sb.Seq && sa.Seq == uint64(s)
		})
		if _, err := m.Progress(ctx, "roam", Report{Done: 5 * s}); err != nil {
			t.Fatal(err)
		}
	}
	got := sub.waitFor(t, 15*time.Second, "the last report", func(s []Snapshot) bool { return last(s).Done == 50 })
	last := got[len(got)-1]
	// 5 units a second, 50 left: 10 s.
	if last.ETA == nil || *last.ETA < 9 || *last.ETA > 11 {
		t.Fatalf("ETA %v after reports alternating between nodes, want 10 s ± 1", last.ETA)
	}
}

func TestTheNodeThatWroteASilentJobMarksItStalledAndAnotherTakesOver(t *testing.T) {
	const stall = 300 * time.Millisecond
	nodes, sub := newCluster(t, 2, Config{MinInterval: 10 * time.Millisecond, StallAfter: stall})
	a, b := nodes[0], nodes[1]
	ctx := t.Context()
	if _, err := a.m.Create(ctx, Spec{ID: "quiet-a", Total: 10}); err != nil {
		t.Fatal(err)
	}
	got := sub.waitFor(t, 15*time.Second, "the stalled state", func(s []Snapshot) bool { return last(s).State == Stalled })
	if len(got) != 2 {
		t.Fatalf("%d events, want created then stalled, once", len(got))
	}
	if len(b.sent) != 0 {
		t.Fatal("node b published a stall of a job node a wrote and was watching")
	}
	// Node a goes away: node b marks its next silent job stalled itself,
	// after twice the interval.
	if _, err := a.m.Create(ctx, Spec{ID: "quiet-b", Total: 10}); err != nil {
		t.Fatal(err)
	}
	sub.waitFor(t, 15*time.Second, "the job on node b", func([]Snapshot) bool { _, err := b.m.Get("quiet-b"); return err == nil })
	a.m.Close() // its timer stops: it watches nothing any more
	start := time.Now()
	sub.waitFor(t, 15*time.Second, "node b's stall", func(s []Snapshot) bool {
		return last(s).ID == "quiet-b" && last(s).State == Stalled
	})
	// The log's followers may see the stall before the publisher returns.
	select {
	case u := <-b.sent:
		var s Snapshot
		if err := json.Unmarshal([]byte(u.Data), &s); err != nil || s.ID != "quiet-b" || s.State != Stalled {
			t.Fatalf("node b published %s, want the stall of quiet-b", u.Data)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("node b did not publish the stall the subscriber received")
	}
	if n := len(b.sent); n != 0 {
		t.Fatalf("node b published %d more events, want only the stall", n)
	}
	if waited := time.Since(start); waited < stall*3/2 {
		t.Fatalf("node b took over after %v, want after about %v", waited, 2*stall)
	}
}

func TestRecoverRebuildsJobsFromTheLog(t *testing.T) {
	log := eventlog.NewMemory(100)
	t.Cleanup(func() { log.Close() })
	a := writerOn(t, log)
	ctx := t.Context()
	a.Create(ctx, Spec{ID: "old", Total: 1})
	a.Finish(ctx, "old", Outcome{State: Succeeded})
	a.Create(ctx, Spec{ID: "live", Total: 10})
	a.Progress(ctx, "live", Report{Done: 4, Message: "four"})
	a.Close()
	log.Append(ctx, eventlog.Update{Topics: []string{"jobs/garbage"}, Type: "progress", Data: "{"})
	log.Append(ctx, eventlog.Update{Topics: []string{"news"}, Data: "not a job"})

	b, rec := newManager(t, Config{})
	if err := b.Recover(ctx, log); err != nil {
		t.Fatal(err)
	}
	s, err := b.Get("live")
	if err != nil || s.Done != 4 || s.Message != "four" || s.Seq != 2 {
		t.Fatalf("recovered %+v, %v; want the job as last published", s, err)
	}
	if s, _ := b.Get("old"); s.State != Succeeded {
		t.Fatalf("recovered finished job: %s, want succeeded", s.State)
	}
	if len(b.List()) != 2 {
		t.Fatalf("recovered %d jobs, want 2 (garbage ignored)", len(b.List()))
	}
	if _, err := b.Progress(ctx, "live", Report{Done: 5}); err != nil {
		t.Fatal(err)
	}
	got := rec.waitFor(t, "the coalesced report", func(s []Snapshot) bool { return len(s) > 0 })
	if len(got) != 1 || got[0].Seq != 3 || got[0].Done != 5 {
		t.Fatalf("published %+v after recovery, want seq 3", got)
	}
}

// writerOn returns a manager that publishes to log, and is not fed by it:
// a node whose history another node recovers.
func writerOn(t *testing.T, log eventlog.Log) *Manager {
	t.Helper()
	m, err := NewManager(Config{Publisher: logPublisher{log: log, sent: make(chan eventlog.Update, 100)}, MinInterval: time.Nanosecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

// last returns the last snapshot of s, or a zero one.
func last(s []Snapshot) Snapshot {
	if len(s) == 0 {
		return Snapshot{}
	}
	return s[len(s)-1]
}
