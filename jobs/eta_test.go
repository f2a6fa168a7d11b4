package jobs

import (
	"sync"
	"testing"
	"time"
)

// script feeds an estimator (fraction, seconds since start) observations
// and returns its ETA after each, in seconds (-1 when unknown).
func script(obs [][2]float64) []float64 {
	var e Estimator
	start := time.Unix(1000, 0)
	var out []float64
	for _, o := range obs {
		now := start.Add(time.Duration(o[1] * float64(time.Second)))
		e.Observe(o[0], now)
		if d, ok := e.ETA(o[0], start, now); ok {
			out = append(out, d.Seconds())
		} else {
			out = append(out, -1)
		}
	}
	return out
}

func TestETASteadyProgressPredictsTheRemainingTime(t *testing.T) {
	var obs [][2]float64
	for s := 0.0; s <= 50; s++ { // 2% a second: 50 s in all
		obs = append(obs, [2]float64{s / 50, s})
	}
	etas := script(obs)
	for i, eta := range etas {
		if i < 2 {
			continue
		}
		want := 50 - float64(i)
		if eta < 0 || eta < want-1 || eta > want+1 {
			t.Fatalf("at %ds the ETA is %.1fs, want %.0fs±1", i, eta, want)
		}
	}
}

func TestETASettlesUnderBurstyProgress(t *testing.T) {
	// Progress arrives in bursts every 2 s: ten reports within 50 ms, then
	// silence. The true rate is steady (1% a second, 100 s in all).
	var obs [][2]float64
	for burst := 0.0; burst < 60; burst += 2 {
		for k := range 10 {
			at := burst + float64(k)*0.005
			obs = append(obs, [2]float64{(burst + 2*float64(k+1)/10) / 100, at})
		}
	}
	etas := script(obs)
	var prev float64 = -1
	for i, eta := range etas {
		at := obs[i][1]
		if at < 10 || eta < 0 {
			continue
		}
		want := 100 - at
		if eta < want*0.7 || eta > want*1.3 {
			t.Fatalf("at %.2fs the ETA is %.1fs, want within 30%% of %.0fs", at, eta, want)
		}
		if prev >= 0 && (eta > prev+3 || eta < prev-5) {
			t.Fatalf("at %.2fs the ETA jumped from %.1fs to %.1fs", at, prev, eta)
		}
		prev = eta
	}
}

func TestETAIsUnknownWithoutHistory(t *testing.T) {
	etas := script([][2]float64{{0, 0}, {0.1, 0.2}})
	for i, eta := range etas {
		if eta != -1 {
			t.Fatalf("observation %d: ETA %.1fs with too little history, want unknown", i, eta)
		}
	}
	if etas := script([][2]float64{{0, 0}, {0, 1}, {0, 2}}); etas[2] != -1 {
		t.Fatalf("ETA %.1fs with no progress at all, want unknown", etas[2])
	}
}

func TestETAGrowsWhenProgressStalls(t *testing.T) {
	var e Estimator
	start := time.Unix(0, 0)
	for s := range 11 {
		e.Observe(float64(s)/100, start.Add(time.Duration(s)*time.Second))
	}
	before, _ := e.ETA(0.10, start, start.Add(10*time.Second))
	// Nothing for 20 s, then a report with the same fraction.
	e.Observe(0.10, start.Add(30*time.Second))
	after, ok := e.ETA(0.10, start, start.Add(30*time.Second))
	if !ok || after <= before {
		t.Fatalf("after a 20 s stall the ETA went from %v to %v (known %v), want it to grow", before, after, ok)
	}
}

func TestSnapshotWeightsStagesAndHandlesUnknownTotals(t *testing.T) {
	s := Snapshot{State: Running, Stages: []Stage{{Name: "load", Weight: 1}, {Name: "filter", Weight: 3}}, Stage: "filter", Done: 50, Total: 100}
	if f, ok := s.fraction(); !ok || f != (1+3*0.5)/4 {
		t.Fatalf("fraction %v (known %v), want 0.625", f, ok)
	}
	s.Total = 0
	if _, ok := s.fraction(); ok {
		t.Fatal("fraction known with no total for the current stage")
	}
	s.compute(time.Now())
	if s.Percent != nil || s.ETA != nil {
		t.Fatalf("percent %v and ETA %v with no total, want both unknown (null)", s.Percent, s.ETA)
	}
	plain := Snapshot{State: Running, Done: 3, Total: 4}
	if f, ok := plain.fraction(); !ok || f != 0.75 {
		t.Fatalf("fraction without stages %v, want 0.75", f)
	}
}

// clock is a settable time for scripted jobs.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) set(sec float64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = time.Unix(1000, 0).Add(time.Duration(sec * float64(time.Second)))
}

// step is one scripted report: at seconds after creation, done of total
// (nil: unchanged) in stage (empty: unchanged).
type step struct {
	at    float64
	stage string
	done  float64
	total *float64
}

func num(x float64) *float64 { return &x }

// runScript creates a job at time 0 on a manager with a scripted clock,
// makes each report at its time, and returns the snapshot after each.
func runScript(t *testing.T, spec Spec, steps []step) []Snapshot {
	t.Helper()
	c := &clock{}
	c.set(0)
	m, _ := newManager(t, Config{Now: c.Now, StallAfter: time.Hour, MinInterval: time.Hour})
	if _, err := m.Create(t.Context(), spec); err != nil {
		t.Fatal(err)
	}
	var out []Snapshot
	for _, s := range steps {
		c.set(s.at)
		snap, err := m.Progress(t.Context(), spec.ID, Report{Stage: s.stage, Done: s.done, Total: s.total})
		if err != nil {
			t.Fatalf("report at %.1fs: %v", s.at, err)
		}
		out = append(out, snap)
	}
	return out
}

func eta(s Snapshot) float64 {
	if s.ETA == nil {
		return -1
	}
	return *s.ETA
}

func TestETAAfterTheTotalChangesMidwayFollowsTheNewTotal(t *testing.T) {
	// 10 units a second throughout. At 5 s (50 done) the total grows from
	// 100 to 200: 150 units, 15 s, are left; later the total shrinks to 150.
	var steps []step
	for s := 1.0; s <= 5; s++ {
		steps = append(steps, step{at: s, done: 10 * s})
	}
	steps = append(steps, step{at: 5.5, done: 55, total: num(200)})
	for s := 6.0; s <= 12; s++ {
		steps = append(steps, step{at: s, done: 10 * s})
	}
	steps = append(steps, step{at: 12.5, done: 125, total: num(150)})
	for s := 13.0; s <= 14; s++ {
		steps = append(steps, step{at: s, done: 10 * s})
	}
	snaps := runScript(t, Spec{ID: "grows", Total: 100}, steps)
	for i, s := range snaps {
		at, done := steps[i].at, steps[i].done
		if at < 2 {
			continue
		}
		want := (s.Total - done) / 10
		if got := eta(s); got < want*0.85-0.5 || got > want*1.15+0.5 {
			t.Errorf("at %.1fs (%g of %g) the ETA is %.1fs, want %.1fs ± 15%%", at, done, s.Total, got, want)
		}
	}
}

func TestETAIsUnknownWithoutATotalButTheRateIsKnown(t *testing.T) {
	var steps []step
	for s := 1.0; s <= 10; s++ {
		steps = append(steps, step{at: s, done: 25 * s})
	}
	snaps := runScript(t, Spec{ID: "open-ended"}, steps)
	for i, s := range snaps {
		if s.ETA != nil || s.Percent != nil {
			t.Fatalf("at %.0fs: ETA %v, percent %v with no total, want both unknown", steps[i].at, s.ETA, s.Percent)
		}
	}
	if r := snaps[len(snaps)-1].Rate; r == nil || *r < 24 || *r > 26 {
		t.Fatalf("rate %v after 10 s at 25 units a second, want 25 ± 1", r)
	}
}

func TestETAOverWeightedStagesStaysWithinBounds(t *testing.T) {
	// "load" (weight 1) takes 4 s, "crunch" (weight 3) takes 12 s: the job
	// advances at the same share of the whole each second, 16 s in all.
	stages := []Stage{{Name: "load", Weight: 1}, {Name: "crunch", Weight: 3}}
	var steps []step
	for s := 0.5; s <= 4; s += 0.5 {
		steps = append(steps, step{at: s, stage: "load", done: s, total: num(4)})
	}
	for s := 4.5; s < 16; s += 0.5 {
		steps = append(steps, step{at: s, stage: "crunch", done: s - 4, total: num(12)})
	}
	snaps := runScript(t, Spec{ID: "weighted", Stages: stages}, steps)
	prev := -1.0
	for i, s := range snaps {
		at := steps[i].at
		if want := at / 16 * 100; s.Percent == nil || *s.Percent < want-0.1 || *s.Percent > want+0.1 {
			t.Fatalf("at %.1fs the percent is %v, want %.1f", at, s.Percent, want)
		}
		if at < 2 {
			continue
		}
		got, want := eta(s), 16-at
		if got < want*0.85-0.5 || got > want*1.15+0.5 {
			t.Fatalf("at %.1fs the ETA is %.1fs, want %.1fs ± 15%%", at, got, want)
		}
		if prev >= 0 && got > prev+0.5 {
			t.Fatalf("at %.1fs the ETA went up from %.1fs to %.1fs under steady progress", at, prev, got)
		}
		prev = got
	}
}

func TestETACountsDownBetweenReportsAndIsUnknownWhenStalled(t *testing.T) {
	c := &clock{}
	c.set(0)
	m, rec := newManager(t, Config{Now: c.Now, MinInterval: time.Hour, StallAfter: time.Hour})
	ctx := t.Context()
	m.Create(ctx, Spec{ID: "quiet", Total: 100})
	for s := 1.0; s <= 10; s++ {
		c.set(s)
		m.Progress(ctx, "quiet", Report{Done: 5 * s})
	}
	at10, _ := m.Get("quiet")
	c.set(13)
	at13, _ := m.Get("quiet")
	if at10.ETA == nil || at13.ETA == nil || *at13.ETA < *at10.ETA-3.5 || *at13.ETA > *at10.ETA-2.5 {
		t.Fatalf("ETA %.1fs at 10 s and %.1fs at 13 s with no report between, want it 3 s lower", eta(at10), eta(at13))
	}
	// The watchdog's view: a stalled job has no ETA.
	m.mu.Lock()
	m.jobs["quiet"].snap.State = Stalled
	m.mu.Unlock()
	if s, _ := m.Get("quiet"); s.ETA != nil || s.Percent == nil {
		t.Fatalf("stalled job: ETA %v, percent %v; want no ETA and the percent kept", s.ETA, s.Percent)
	}
	_ = rec
}
