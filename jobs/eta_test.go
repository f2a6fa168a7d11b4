package jobs

import (
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
