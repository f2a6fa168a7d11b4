package jobs

import (
	"encoding/json"
	"time"
)

// State is where a job is in its life.
type State string

// The states of a job. Succeeded, Failed and Cancelled are final.
const (
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
	EventProgress  = "progress"  // running or stalled
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
// GET /api/jobs/{id} answers it. Seq grows with every event, so a client
// drops a snapshot whose seq is not above the last it applied.
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
	// Rate of the current stage, in units (of done) per second, null when
	// unknown.
	Rate *float64 `json:"rate"`
	// ETA in seconds for the whole job, null when unknown.
	ETA             *float64        `json:"eta"`
	CancelRequested bool            `json:"cancelRequested,omitempty"`
	Result          json.RawMessage `json:"result,omitempty"`
	Error           string          `json:"error,omitempty"`
	Private         bool            `json:"private,omitempty"`
	Created         time.Time       `json:"created"`
	Updated         time.Time       `json:"updated"`
	Finished        *time.Time      `json:"finished,omitempty"`
	// Estimator and StageEstimator carry the smoothing state to whichever
	// node receives the next report.
	Estimator      Estimator `json:"estimator"`
	StageEstimator Estimator `json:"stageEstimator"`
	StageStarted   time.Time `json:"stageStarted"`
}

// fraction returns how much of the whole job is done (0 to 1), weighting
// stages, and false when unknown (no total for the current stage).
func (s *Snapshot) fraction() (float64, bool) {
	if s.State == Succeeded {
		return 1, true
	}
	stageFrac, known := 0.0, s.Total > 0
	if known {
		stageFrac = min(s.Done/s.Total, 1)
	}
	if len(s.Stages) == 0 {
		return stageFrac, known
	}
	var before, weight, all float64
	found := false
	for _, st := range s.Stages {
		w := st.Weight
		if w <= 0 {
			w = 1
		}
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

// compute refreshes Percent, Rate and ETA at now.
func (s *Snapshot) compute(now time.Time) {
	s.Percent, s.Rate, s.ETA = nil, nil, nil
	frac, known := s.fraction()
	if known {
		p := round(frac*100, 1)
		s.Percent = &p
	}
	if s.State.Final() {
		return
	}
	if s.StageEstimator.Samples > 0 && s.Total > 0 {
		r := round(s.StageEstimator.Rate*s.Total, 2)
		s.Rate = &r
	}
	if known {
		if d, ok := s.Estimator.ETA(frac, s.Created, now); ok {
			e := round(d.Seconds(), 1)
			s.ETA = &e
		}
	}
}

func round(x float64, digits int) float64 {
	p := 1.0
	for range digits {
		p *= 10
	}
	return float64(int64(x*p+0.5)) / p
}
