package jobs

import (
	"math"
	"time"
)

// Estimator turns progress observations (an amount of work done at a time)
// into a smoothed rate and an ETA. It samples at most every minSample, so a
// burst of reports counts as one observation over the time it really took,
// and smooths the rate with an exponential moving average whose weight
// grows with the time elapsed since the previous sample (alpha = 1 -
// exp(-dt/tau)), so the estimate settles instead of jumping whether reports
// come ten times a second or once a minute. Its zero value is ready; its
// fields are exported so that it travels inside a snapshot (JSON) to
// whichever node receives the job's next report.
//
// A job keeps two: one over the whole job's fraction done (0 to 1, stages
// weighted), which gives the ETA, and one over the current stage's units of
// work, which gives the rate shown to people ("120 rows/s").
type Estimator struct {
	// Rate is the smoothed progress, in units per second.
	Rate float64 `json:"rate"`
	// AnchorDone and AnchorAt are the last sample.
	AnchorDone float64   `json:"anchorDone"`
	AnchorAt   time.Time `json:"anchorAt"`
	// Samples counts the samples taken since the estimator started.
	Samples int `json:"samples"`
}

const (
	minSample  = 500 * time.Millisecond // shortest interval between samples
	tau        = 5 * time.Second        // smoothing time constant
	minRuntime = 1 * time.Second        // history needed before an ETA
	maxETA     = 366 * 24 * time.Hour   // longer than this is "unknown"
)

// Observe records that done units were done at t. An observation less
// than minSample after the last sample is not a sample of its own: the next
// sample spans it. Progress that goes backwards counts as none.
func (e *Estimator) Observe(done float64, t time.Time) {
	if e.AnchorAt.IsZero() {
		e.AnchorDone, e.AnchorAt = done, t
		return
	}
	dt := t.Sub(e.AnchorAt)
	if dt < minSample {
		return
	}
	inst := max((done-e.AnchorDone)/dt.Seconds(), 0)
	if e.Samples == 0 {
		e.Rate = inst
	} else {
		alpha := 1 - math.Exp(-dt.Seconds()/tau.Seconds())
		e.Rate += alpha * (inst - e.Rate)
	}
	e.Samples++
	e.AnchorDone, e.AnchorAt = done, t
}

// Rebase moves the estimator to done at t without counting the move as
// progress, and multiplies its rate by scale: for when the amount of work
// changed (a total of 100 became 200: the same work per second is half the
// fraction per second, so scale is 100/200). The smoothed history is kept,
// so the estimate does not start over.
func (e *Estimator) Rebase(done float64, t time.Time, scale float64) {
	if scale > 0 && !math.IsInf(scale, 0) {
		e.Rate *= scale
	}
	e.AnchorDone, e.AnchorAt = done, t
}

// ETA returns the estimated time left at now for a job of which frac (0 to
// 1) is done and which started at start, and false when it cannot honestly
// say: too little history (no sample yet, or under minRuntime since start),
// no progress at all, or an estimate beyond a year.
func (e *Estimator) ETA(frac float64, start, now time.Time) (time.Duration, bool) {
	if e.Samples == 0 || now.Sub(start) < minRuntime || !(e.Rate > 0) || !(frac >= 0 && frac <= 1) {
		return 0, false
	}
	left := (1 - frac) / e.Rate
	if left > maxETA.Seconds() || math.IsNaN(left) {
		return 0, false
	}
	return time.Duration(left * float64(time.Second)), true
}

// startEstimates starts both of a new job's estimators at now, from
// nothing done.
func (s *Snapshot) startEstimates(now time.Time) {
	s.Estimator.Observe(0, now)
	s.StageEstimator.Observe(0, now)
}

// estimate feeds the report s just recorded at now to its estimators;
// lastReport and oldTotal are the time and the stage total of the report
// before. A new stage's estimator starts from the previous report, since
// the new stage's work happened after it. A total that changed within a
// stage rebases the job's estimator instead of counting the jump in its
// fraction as progress: the same work is now a different share of the
// whole.
func (s *Snapshot) estimate(now, lastReport time.Time, oldTotal float64, stageChanged bool) {
	if stageChanged {
		s.StageEstimator = Estimator{}
		s.StageEstimator.Observe(0, lastReport)
	}
	s.StageEstimator.Observe(s.Done, now)
	frac, known := s.fraction()
	if !known {
		return
	}
	if !stageChanged && oldTotal > 0 && s.Total > 0 && s.Total != oldTotal {
		s.Estimator.Rebase(frac, now, oldTotal/s.Total)
	} else {
		s.Estimator.Observe(frac, now)
	}
}
