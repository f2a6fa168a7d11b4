package jobs

import (
	"context"
	"math"
	"math/rand/v2"
	"path/filepath"
	"testing"
	"time"

	"github.com/heraldhub/herald/eventlog"
	"github.com/heraldhub/herald/eventlog/boltlog"
)

// stageDist draws one stage's duration, in seconds.
type stageDist func(r *rand.Rand) float64

func lognormal(median, sigma float64) stageDist {
	return func(r *rand.Rand) float64 { return median * math.Exp(sigma*r.NormFloat64()) }
}

func uniform(lo, hi float64) stageDist {
	return func(r *rand.Rand) float64 { return lo + (hi-lo)*r.Float64() }
}

func drawRun(r *rand.Rand, dists []stageDist) []float64 {
	d := make([]float64, len(dists))
	for i, f := range dists {
		d[i] = f(r)
	}
	return d
}

func TestTheHistoryRangeCoversTheTrueTimeLeftAtItsStatedRate(t *testing.T) {
	// Jobs whose stages take lognormal and uniform times, each progressing
	// evenly through a stage: at each point, 10-90 ranges drawn from 200
	// past runs must hold the true time left 80% of the time, give or take
	// 5 points, with about as many misses below as above.
	dists := []stageDist{lognormal(10, 0.5), uniform(5, 25), lognormal(30, 0.8)}
	points := []struct {
		name    string
		stage   int
		frac    float64 // of the stage done, when known
		known   bool
		elapsed float64 // seconds in the stage, when the fraction is not known
	}{
		{name: "start, before any rate", stage: 0, known: true},
		{name: "half the first stage", stage: 0, frac: 0.5, known: true},
		{name: "a fifth of the second", stage: 1, frac: 0.2, known: true},
		{name: "most of the last", stage: 2, frac: 0.9, known: true},
		{name: "8s into the first, no total", stage: 0, elapsed: 8},
		{name: "12s into the second, no total", stage: 1, elapsed: 12},
	}
	rng := rand.New(rand.NewPCG(14, 3))
	const jobs, history = 2000, historyRuns
	past := make([][]float64, history)
	for _, p := range points {
		var n, covered, below, above int
		for j := range jobs {
			if j%10 == 0 { // a new history every ten jobs
				for i := range past {
					past[i] = drawRun(rng, dists)
				}
			}
			truth := drawRun(rng, dists)
			if !p.known && truth[p.stage] <= p.elapsed {
				continue // this job left the stage before the point
			}
			left := truth[p.stage] * (1 - p.frac)
			if !p.known {
				left = truth[p.stage] - p.elapsed
			}
			for _, d := range truth[p.stage+1:] {
				left += d
			}
			low, mid, high, ok := historyRange(past, p.stage, p.frac, p.known, p.elapsed)
			if !ok || !(low <= mid && mid <= high) {
				t.Fatalf("%s: range %g..%g (median %g, ok %v), want an ordered range", p.name, low, high, mid, ok)
			}
			n++
			switch {
			case left < low:
				below++
			case left > high:
				above++
			default:
				covered++
			}
		}
		if n < jobs/2 {
			t.Fatalf("%s: only %d of %d jobs reached it", p.name, n, jobs)
		}
		rate := float64(covered) / float64(n)
		t.Logf("%s: %.1f%% covered, %d below, %d above, of %d", p.name, 100*rate, below, above, n)
		if math.Abs(rate-0.80) > 0.05 {
			t.Errorf("%s: the 10-90 range held the time left in %.1f%% of %d jobs, want 80%% ± 5", p.name, 100*rate, n)
		}
		for side, misses := range map[string]int{"below": below, "above": above} {
			if r := float64(misses) / float64(n); math.Abs(r-0.10) > 0.05 {
				t.Errorf("%s: the time left fell %s the range in %.1f%% of jobs, want 10%% ± 5", p.name, side, 100*r)
			}
		}
	}
}

func TestAJobSlowerThanEveryRunSoFarGetsARangeThatEndsSoon(t *testing.T) {
	past := [][]float64{{5, 10}, {6, 11}, {7, 12}, {8, 13}, {9, 14}}
	low, _, high, ok := historyRange(past, 0, 0, false, 60)
	if !ok || low != 10.4 || high != 13.6 {
		t.Fatalf("range %g..%g (ok %v), want what the later stage takes: 10.4..13.6", low, high, ok)
	}
	if _, _, _, ok := historyRange(past[:4], 0, 0, true, 0); ok {
		t.Fatal("a range from 4 runs, want none before 5")
	}
}

// finishRuns runs jobs of kind "import" to success on m, each with a load
// stage of load[i] seconds and a save stage of 10 seconds, on clock c from
// second at; their ids are prefix then a, b, c….
func finishRuns(t *testing.T, m *Manager, c *clock, prefix string, at float64, load ...float64) float64 {
	t.Helper()
	ctx := t.Context()
	for i, l := range load {
		id := prefix + string(rune('a'+i))
		c.set(at)
		if _, err := m.Create(ctx, Spec{ID: id, Kind: "import", Stages: []Stage{{Name: "load"}, {Name: "save"}}}); err != nil {
			t.Fatal(err)
		}
		c.set(at + l)
		if _, err := m.Progress(ctx, id, Report{Stage: "save", Done: 0}); err != nil {
			t.Fatal(err)
		}
		c.set(at + l + 10)
		if _, err := m.Finish(ctx, id, Outcome{State: Succeeded}); err != nil {
			t.Fatal(err)
		}
		at += l + 20
	}
	return at
}

func TestAJobOfAKindGetsAnETARangeFromItsHistoryBeforeItsRate(t *testing.T) {
	c := &clock{}
	m, rec := newManager(t, Config{Now: c.Now, StallAfter: time.Hour})
	at := finishRuns(t, m, c, "run", 0, 10, 20, 30, 40, 50)
	var recorded int
	for _, u := range rec.updates {
		if u.Type == EventHistory && u.Topics[0] == "jobs/_history/import" && u.Private {
			recorded++
			m.Observe(u) // as the hub's tail does
		}
	}
	if recorded != 5 {
		t.Fatalf("%d private history records on jobs/_history/import, want one per run (5)", recorded)
	}
	c.set(at)
	s, err := m.Create(t.Context(), Spec{ID: "next", Kind: "import", Stages: []Stage{{Name: "load"}, {Name: "save"}}})
	if err != nil {
		t.Fatal(err)
	}
	// Time left at the start: 20..60 plus 10 for saving; 10th and 90th
	// percentiles of 20, 30, 40, 50, 60.
	if s.ETASource != "history" || s.ETALow == nil || *s.ETALow != 24 || *s.ETAHigh != 56 || s.ETA == nil || *s.ETA != 40 {
		t.Fatalf("new job: eta %v range %v..%v from %q, want 40 in 24..56 from history", val(s.ETA), val(s.ETALow), val(s.ETAHigh), s.ETASource)
	}
	for i := 1; i <= 4; i++ {
		c.set(at + float64(i))
		s, err = m.Progress(t.Context(), "next", Report{Done: float64(i), Total: num(100)})
		if err != nil {
			t.Fatal(err)
		}
	}
	if s.ETASource != "both" || s.ETA == nil || s.ETALow == nil {
		t.Fatalf("with a rate: eta %v range %v..%v from %q, want the rate's ETA and the range, from both", val(s.ETA), val(s.ETALow), val(s.ETAHigh), s.ETASource)
	}
	if s, _ := m.Create(t.Context(), Spec{ID: "other", Kind: "export"}); s.ETALow != nil || s.ETA != nil || s.ETASource != "" {
		t.Fatalf("a kind without history: eta %v range %v from %q, want none", val(s.ETA), val(s.ETALow), s.ETASource)
	}
}

func val(x *float64) any {
	if x == nil {
		return nil
	}
	return *x
}

// appender publishes straight into a log.
type appender struct{ log eventlog.Log }

func (a appender) Publish(ctx context.Context, u eventlog.Update) (eventlog.Update, error) {
	return a.log.Append(ctx, u)
}

func TestTheHistoryOfAKindSurvivesARestart(t *testing.T) {
	path := filepath.Join(t.TempDir(), "herald.db")
	c := &clock{}
	open := func() (*boltlog.Log, *Manager) {
		log, err := boltlog.Open(path, boltlog.Options{})
		if err != nil {
			t.Fatal(err)
		}
		m, err := NewManager(Config{Publisher: appender{log}, Now: c.Now, StallAfter: time.Hour})
		if err != nil {
			t.Fatal(err)
		}
		return log, m
	}
	log, m := open()
	ctx, cancel := context.WithCancel(t.Context())
	read := make(chan struct{}, 100)
	tail, err := log.Follow(ctx, func(u eventlog.Update) {
		m.Observe(u)
		if u.Type == EventHistory {
			read <- struct{}{}
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	at := finishRuns(t, m, c, "run", 0, 10, 20, 30, 40, 50)
	for range 5 {
		select {
		case <-read:
		case <-time.After(5 * time.Second):
			t.Fatalf("the node read %d runs back from its log, want 5", len(m.History("import")))
		}
	}
	before := m.History("import")
	cancel()
	<-tail
	m.Close()
	log.Close()

	log, m = open()
	t.Cleanup(func() { m.Close(); log.Close() })
	if got := m.History("import"); len(got) != 0 {
		t.Fatalf("%d runs before recovering, want none", len(got))
	}
	if err := m.Recover(t.Context(), log); err != nil {
		t.Fatal(err)
	}
	after := m.History("import")
	if len(after) != 5 || len(before) != 5 {
		t.Fatalf("%d runs before the restart, %d after; want 5 and 5", len(before), len(after))
	}
	for i := range after {
		if after[i].Job != before[i].Job || after[i].Seconds[0] != before[i].Seconds[0] || after[i].Seconds[1] != 10 {
			t.Fatalf("run %d after the restart: %+v, before %+v", i, after[i], before[i])
		}
	}
	if err := m.Recover(t.Context(), log); err != nil || len(m.History("import")) != 5 {
		t.Fatalf("a second replay: %d runs (%v), want still 5", len(m.History("import")), err)
	}
	c.set(at)
	s, err := m.Create(t.Context(), Spec{ID: "next", Kind: "import", Stages: []Stage{{Name: "load"}, {Name: "save"}}})
	if err != nil || s.ETALow == nil || s.ETASource != "history" {
		t.Fatalf("a job after the restart: %+v, %v; want a range from history", s, err)
	}
}

func TestTwoNodesOnOneLogAgreeOnAKindsHistory(t *testing.T) {
	c := &clock{}
	nodes, sub := newCluster(t, 2, Config{Now: c.Now, StallAfter: time.Hour})
	a, b := nodes[0].m, nodes[1].m
	at := finishRuns(t, a, c, "a", 0, 10, 20, 30)
	at = finishRuns(t, b, c, "b", at, 40, 50)
	sub.waitFor(t, 15*time.Second, "both nodes to hold the same five runs", func([]Snapshot) bool {
		ha, hb := a.History("import"), b.History("import")
		if len(ha) != 5 || len(hb) != 5 {
			return false
		}
		for i := range ha {
			if ha[i].Job != hb[i].Job || ha[i].Seconds[0] != hb[i].Seconds[0] {
				return false
			}
		}
		return true
	})
	c.set(at)
	spec := Spec{ID: "next", Kind: "import", Stages: []Stage{{Name: "load"}, {Name: "save"}}}
	if _, err := a.Create(t.Context(), spec); err != nil {
		t.Fatal(err)
	}
	sub.waitFor(t, 15*time.Second, "the job on node b", func([]Snapshot) bool {
		_, err := b.Get("next")
		return err == nil
	})
	ga, _ := a.Get("next")
	gb, _ := b.Get("next")
	if ga.ETALow == nil || gb.ETALow == nil || *ga.ETALow != *gb.ETALow || *ga.ETAHigh != *gb.ETAHigh || ga.ETASource != "history" {
		t.Fatalf("ranges on the two nodes: %v..%v and %v..%v, want the same, from history", val(ga.ETALow), val(ga.ETAHigh), val(gb.ETALow), val(gb.ETAHigh))
	}
}
