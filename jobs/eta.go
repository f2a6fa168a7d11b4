package jobs

import (
	"math"
	"time"
)

// Estimator turns progress observations (a fraction of the whole, 0 to 1,
// at a time) into a smoothed rate and an ETA. It samples at most every
// minSample, so a burst of reports counts as one observation over the time
// it really took, and smooths the rate with an exponential moving average
// whose weight depends on the time elapsed (tau), so the estimate settles
// instead of jumping. Its zero value is ready; its fields are exported so
// it can travel inside a snapshot (JSON) to another node.
type Estimator struct {
	// Rate is the smoothed progress, in fractions of the whole per second.
	Rate float64 `json:"rate"`
	// AnchorFrac and AnchorAt are the last sample.
	AnchorFrac float64   `json:"anchorFrac"`
	AnchorAt   time.Time `json:"anchorAt"`
	// Samples counts the samples taken.
	Samples int `json:"samples"`
}

const (
	minSample  = 500 * time.Millisecond // shortest interval between samples
	tau        = 5 * time.Second        // smoothing time constant
	minRuntime = 1 * time.Second        // history needed before an ETA
)

// Observe records that frac of the work was done at t.
func (e *Estimator) Observe(frac float64, t time.Time) {
	if e.AnchorAt.IsZero() {
		e.AnchorFrac, e.AnchorAt = frac, t
		return
	}
	dt := t.Sub(e.AnchorAt)
	if dt < minSample {
		return
	}
	inst := (frac - e.AnchorFrac) / dt.Seconds()
	if inst < 0 {
		inst = 0 // the total grew: progress restarts from here
	}
	if e.Samples == 0 {
		e.Rate = inst
	} else {
		alpha := 1 - math.Exp(-dt.Seconds()/tau.Seconds())
		e.Rate += alpha * (inst - e.Rate)
	}
	e.Samples++
	e.AnchorFrac, e.AnchorAt = frac, t
}

// Reset forgets the history, for when progress is no longer comparable
// (the total changed).
func (e *Estimator) Reset(frac float64, t time.Time) {
	*e = Estimator{AnchorFrac: frac, AnchorAt: t}
}

// ETA returns the estimated time left at now for work frac done, and false
// when it cannot honestly say: too little history, or no progress.
func (e *Estimator) ETA(frac float64, start, now time.Time) (time.Duration, bool) {
	if e.Samples == 0 || now.Sub(start) < minRuntime || e.Rate <= 0 || frac < 0 || frac > 1 {
		return 0, false
	}
	left := (1 - frac) / e.Rate
	if left > 365*24*3600 {
		return 0, false
	}
	return time.Duration(left * float64(time.Second)), true
}
