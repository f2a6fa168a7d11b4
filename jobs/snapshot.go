package jobs

import (
	"encoding/json"
	"math"
	"time"
)

// State is where a job is in its life.
type State string

// The states of a job. Succeeded, Failed and Cancelled are final.
const (
	Queued    State = "queued" // waiting in its queue to be started
	Running   State = "running"
	Stalled   State = "stalled"
	Succeeded State = "succeeded"
	Failed    State = "failed"
	Cancelled State = "cancelled"
)

// Final reports whether s ends the job.
func (s State) Final() bool { return s == Succeeded || s == Failed || s == Cancelled }

// Event types published on a job's topic. Every event carries the full
// snapshot as its data.
const (
	EventProgress  = "progress"  // queued, running or stalled
	EventDone      = "done"      // succeeded, with its result
	EventFailed    = "failed"    // failed, with its error
	EventCancelled = "cancelled" // cancelled
)

func eventType(s State) string {
	switch s {
	case Succeeded:
		return EventDone
	case Failed:
		return EventFailed
	case Cancelled:
		return EventCancelled
	default:
		return EventProgress
	}
}

// Stage is one named part of a job; Weight is its share of the whole
// (default 1), so a long stage can count for more than a short one.
type Stage struct {
	Name   string  `json:"name"`
	Weight float64 `json:"weight"`
}

// Snapshot is a job's whole state, as every event carries it and as
// GET /api/jobs/{id} answers it. Seq grows with every event of the job, so
// a client keeps the last snapshot it applied and drops one that does not
// supersede it (see Supersedes): a stale or repeated one.
type Snapshot struct {
	ID      string  `json:"id"`
	Topic   string  `json:"topic"`
	Title   string  `json:"title,omitempty"`
	State   State   `json:"state"`
	Seq     uint64  `json:"seq"`
	Stages  []Stage `json:"stages,omitempty"`
	Stage   string  `json:"stage,omitempty"`
	Done    float64 `json:"done"`
	Total   float64 `json:"total,omitempty"`
	Message string  `json:"message,omitempty"`
	// Percent of the whole job (weighted by stage), null when unknown.
	Percent *float64 `json:"percent"`
	// Rate is the current stage's smoothed pace, in units of done per
	// second (with or without a total), null until there is history.
	Rate *float64 `json:"rate"`
	// ETA is the estimated time left for the whole job, in seconds, null
	// when unknown: no total, too little history, or stalled.
	ETA *float64 `json:"eta"`
	// ETALow and ETAHigh are the range of the time left, in seconds, that
	// the recent runs of the job's kind suggest (their 10th and 90th
	// percentiles), absent without enough history; ETASource says where
	// the ETA comes from: "rate", "history" (the runs' median, before the
	// rate is known) or "both".
	ETALow    *float64 `json:"eta_low,omitempty"`
	ETAHigh   *float64 `json:"eta_high,omitempty"`
	ETASource string   `json:"eta_source,omitempty"`
	// Kind names what sort of work the job is, for its history.
	Kind string `json:"kind,omitempty"`
	// Queue is the queue a job was created in; QueuePosition (from 1) and
	// StartsIn (seconds, from the queue's recent starts) are a queued
	// job's place in it, as this node reads the log.
	Queue         string   `json:"queue,omitempty"`
	QueuePosition *int     `json:"queue_position,omitempty"`
	StartsIn      *float64 `json:"starts_in,omitempty"`
	// Started is when the job started running (left its queue).
	Started         *time.Time      `json:"started,omitempty"`
	CancelRequested bool            `json:"cancelRequested,omitempty"`
	Result          json.RawMessage `json:"result,omitempty"`
	Error           string          `json:"error,omitempty"`
	Private         bool            `json:"private,omitempty"`
	// Parent is the job this one is a part of; Weight its share there.
	Parent string  `json:"parent,omitempty"`
	Weight float64 `json:"weight,omitempty"`
	// Policy and Children are a parent's: how it ends when a child fails,
	// and its children in the order they were created.
	Policy Policy `json:"policy,omitempty"`
	// Callback is the job's completion webhook URL (Spec.Callback).
	Callback string     `json:"callback,omitempty"`
	Children []Child    `json:"children,omitempty"`
	Created  time.Time  `json:"created"`
	Updated  time.Time  `json:"updated"`
	Finished *time.Time `json:"finished,omitempty"`
	// Estimator (over the whole job's fraction done) and StageEstimator
	// (over the current stage's units) carry the smoothing state to
	// whichever node receives the next report.
	Estimator      Estimator `json:"estimator"`
	StageEstimator Estimator `json:"stageEstimator"`
	StageStarted   time.Time `json:"stageStarted"`
	// StageSeconds is the time spent in each stage before the current
	// one, in seconds (one entry for a job without stages): the run's
	// history once it succeeds.
	StageSeconds []float64 `json:"stageSeconds,omitempty"`
}

// Supersedes reports whether s is newer than cur, the snapshot a client
// last applied: its seq is higher, or equal and s is final while cur is not
// (two nodes of a cluster can number concurrent events alike; the end of a
// job must never be the one dropped).
func (s *Snapshot) Supersedes(cur *Snapshot) bool {
	return s.Seq > cur.Seq || s.Seq == cur.Seq && s.State.Final() && !cur.State.Final()
}

// fraction returns how much of the whole job is done (0 to 1), weighting
// stages, and false when unknown (no total for the current stage).
func (s *Snapshot) fraction() (float64, bool) {
	if s.State == Succeeded {
		return 1, true
	}
	stageFrac, known := 0.0, s.Total > 0
	if known {
		stageFrac = min(max(s.Done/s.Total, 0), 1)
	}
	if len(s.Stages) == 0 {
		return stageFrac, known
	}
	var before, weight, all float64
	found := false
	for _, st := range s.Stages {
		w := weightOf(st.Weight)
		if st.Name == s.Stage {
			found, weight = true, w
		} else if !found {
			before += w
		}
		all += w
	}
	if !found {
		if s.Stage == "" {
			return 0, true // not started
		}
		return 0, false
	}
	if !known {
		// The stages before are done; the current one has no total.
		return before / all, false
	}
	return (before + weight*stageFrac) / all, true
}

// compute refreshes Percent, Rate and ETA at now. The ETA counts down from
// the last report (so a snapshot read between reports is not stale), and
// is unknown while the job is stalled: nobody can say when it resumes.
func (s *Snapshot) compute(now time.Time) {
	s.Percent, s.Rate, s.ETA = nil, nil, nil
	if len(s.Children) > 0 {
		s.rollUp()
		return
	}
	frac, known := s.fraction()
	if known {
		s.Percent = rounded(frac*100, 1)
	}
	if s.State.Final() {
		return
	}
	if s.StageEstimator.Samples > 0 {
		s.Rate = rounded(s.StageEstimator.Rate, 2)
	}
	if !known || s.State == Stalled {
		return
	}
	if d, ok := s.Estimator.ETA(frac, s.Created, now); ok {
		if since := now.Sub(s.Updated); since > 0 {
			d = max(d-since, 0)
		}
		s.ETA = rounded(d.Seconds(), 1)
	}
}

// rounded returns x rounded to digits decimals, or nil if x is not finite
// (JSON has no NaN or infinity).
func rounded(x float64, digits int) *float64 {
	p := math.Pow10(digits)
	r := math.Round(x*p) / p
	if math.IsNaN(r) || math.IsInf(r, 0) {
		return nil
	}
	return &r
}

// weightOf returns a stage's or a child's weight, 1 unless positive.
func weightOf(w float64) float64 {
	if w <= 0 {
		return 1
	}
	return w
}

// finite reports whether x is an ordinary number (not NaN or infinite).
func finite(x float64) bool { return !math.IsNaN(x) && !math.IsInf(x, 0) }
