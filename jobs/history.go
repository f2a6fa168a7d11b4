package jobs

// ETA ranges learned from history: when a job of a kind succeeds, the node
// that finished it publishes how long each of its stages took, on the
// kind's history topic; every node keeps the last runs of each kind from
// the log, and gives a running job of that kind the range of what is left
// that those runs suggest.

import (
	"encoding/json"
	"math"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/heraldhub/herald/eventlog"
)

// EventHistory is the type of a history record's event, published on
// HistoryTopic(kind) when a job of that kind succeeds.
const EventHistory = "history"

// HistoryTopic returns the topic on which the runs of a kind of job are
// recorded: "jobs/_history/{kind}". No job's topic looks like it.
func HistoryTopic(kind string) string { return TopicPrefix + "_history/" + kind }

// Bounds on the history kept by every node.
const (
	historyRuns  = 200  // runs kept per kind, the newest
	historyKinds = 1000 // kinds kept; runs of further kinds are ignored
	historyMin   = 5    // runs needed before a range is given
	rangeLow     = 0.10 // the quantiles of the range
	rangeHigh    = 0.90
)

// Run is one successful run of a kind of job, as its history record says:
// how many seconds each of its stages took.
type Run struct {
	Kind    string    `json:"kind"`
	Job     string    `json:"job"`
	Stages  []string  `json:"stages,omitempty"`
	Seconds []float64 `json:"seconds"`
}

// runs is the recent history of one kind: the last historyRuns runs, oldest
// first, each once.
type runs struct {
	list []Run
	jobs map[string]bool
}

// recordRun adds a run to its kind's history unless it is there already
// (an update replayed and followed both) or malformed.
func (m *Manager) recordRun(r Run) {
	if !validID(r.Kind) || !validID(r.Job) || len(r.Seconds) == 0 || len(r.Seconds) > maxStages ||
		len(r.Stages) != 0 && len(r.Stages) != len(r.Seconds) {
		return
	}
	for _, s := range r.Seconds {
		if !(s >= 0) || !finite(s) {
			return
		}
	}
	m.hmu.Lock()
	defer m.hmu.Unlock()
	h := m.history[r.Kind]
	if h == nil {
		if len(m.history) >= historyKinds {
			return
		}
		h = &runs{jobs: map[string]bool{}}
		m.history[r.Kind] = h
	}
	if h.jobs[r.Job] {
		return
	}
	if len(h.list) >= historyRuns {
		delete(h.jobs, h.list[0].Job)
		h.list = slices.Delete(h.list, 0, 1)
	}
	h.list = append(h.list, r)
	h.jobs[r.Job] = true
}

// observeHistory takes in a history record read from the log.
func (m *Manager) observeHistory(u eventlog.Update) {
	if len(u.Topics) == 0 || !strings.HasPrefix(u.Topics[0], TopicPrefix+"_history/") {
		return
	}
	var r Run
	if json.Unmarshal([]byte(u.Data), &r) != nil || u.Topics[0] != HistoryTopic(r.Kind) {
		return
	}
	m.recordRun(r)
}

// History returns the recorded runs of a kind, oldest first.
func (m *Manager) History(kind string) []Run {
	m.hmu.Lock()
	defer m.hmu.Unlock()
	if h := m.history[kind]; h != nil {
		return slices.Clone(h.list)
	}
	return nil
}

// runOf returns the history record of a job that just succeeded, and
// false if it has no kind.
func (s *Snapshot) runOf() (Run, bool) {
	if s.Kind == "" || s.State != Succeeded || len(s.StageSeconds) == 0 {
		return Run{}, false
	}
	r := Run{Kind: s.Kind, Job: s.ID, Seconds: s.StageSeconds}
	if len(s.Stages) > 0 {
		r.Stages = make([]string, len(s.Stages))
		for i, st := range s.Stages {
			r.Stages[i] = st.Name
		}
	}
	return r, true
}

// historyEvent returns the update that records r on its kind's topic,
// private so that only those allowed the history see it.
func historyEvent(r Run) (eventlog.Update, error) {
	data, err := json.Marshal(r)
	if err != nil {
		return eventlog.Update{}, err
	}
	return eventlog.Update{Topics: []string{HistoryTopic(r.Kind)}, Type: EventHistory, Data: string(data), Private: true}, nil
}

// stageIndex returns the index of the job's current stage in its stages
// (0 for a job without stages), and false if it is not one of them.
func (s *Snapshot) stageIndex() (int, bool) {
	if len(s.Stages) == 0 {
		return 0, true
	}
	for i, st := range s.Stages {
		if st.Name == s.Stage {
			return i, true
		}
	}
	return 0, false
}

// clocked adds the time spent in the current stage, up to now, to the
// job's per-stage seconds; the snapshot's slice is replaced, not changed,
// since snapshots handed out share it.
func (s *Snapshot) clocked(now time.Time) {
	i, ok := s.stageIndex()
	if !ok || s.StageStarted.IsZero() {
		return
	}
	secs := make([]float64, max(len(s.Stages), 1))
	copy(secs, s.StageSeconds)
	secs[i] += max(now.Sub(s.StageStarted).Seconds(), 0)
	s.StageSeconds = secs
}

// aligned returns the runs' durations as the job's stages name them (a
// stage a run did not have took it no time), for historyRange.
func aligned(list []Run, stages []Stage) [][]float64 {
	out := make([][]float64, 0, len(list))
	n := max(len(stages), 1)
	for _, r := range list {
		d := make([]float64, n)
		switch {
		case len(stages) == 0 || len(r.Stages) == 0:
			copy(d, r.Seconds)
		default:
			for i, st := range stages {
				if j := slices.Index(r.Stages, st.Name); j >= 0 {
					d[i] = r.Seconds[j]
				}
			}
		}
		out = append(out, d)
	}
	return out
}

// historyRange returns the 10th, 50th and 90th percentiles of the time left
// to a job in stage (an index into each run's durations) that past runs
// suggest, and false with fewer than historyMin runs. With frac known (the
// stage's fraction done) each run says the job has that run's stage
// duration times 1-frac left in the stage; without, runs whose stage took
// longer than elapsed (the seconds spent in it so far) say it has the rest
// of their duration left, and when none took that long it could end at
// any moment. The stages after the current one add up their durations
// run by run, so runs slow throughout stay slow. It does no I/O.
func historyRange(durations [][]float64, stage int, frac float64, known bool, elapsed float64) (low, mid, high float64, ok bool) {
	if len(durations) < historyMin || stage < 0 {
		return 0, 0, 0, false
	}
	left := make([]float64, 0, len(durations))
	for _, d := range durations {
		if stage >= len(d) {
			continue
		}
		in := d[stage] * (1 - frac)
		if !known {
			if d[stage] <= elapsed {
				continue
			}
			in = d[stage] - elapsed
		}
		for _, later := range d[stage+1:] {
			in += later
		}
		left = append(left, in)
	}
	if len(left) == 0 && !known {
		// Slower than every run so far: the stage could end at any moment.
		for _, d := range durations {
			rest := 0.0
			for _, later := range d[min(stage+1, len(d)):] {
				rest += later
			}
			left = append(left, rest)
		}
	}
	if len(left) == 0 {
		return 0, 0, 0, false
	}
	sort.Float64s(left)
	return quantile(left, rangeLow), quantile(left, 0.5), quantile(left, rangeHigh), true
}

// quantile returns the q-quantile of sorted values, interpolating between
// neighbours.
func quantile(sorted []float64, q float64) float64 {
	pos := q * float64(len(sorted)-1)
	i := int(math.Floor(pos))
	if i+1 >= len(sorted) {
		return sorted[len(sorted)-1]
	}
	return sorted[i] + (pos-float64(i))*(sorted[i+1]-sorted[i])
}

// withHistory gives s, computed at now, the range of its kind's history,
// and says where its estimate comes from: a point ETA from the rate alone
// is "rate"; with a range, "both"; before the rate is known the history's
// median stands for the point ETA and the source is "history"; a queued
// job gets the range its run should take once started, and no ETA. A
// stalled job has neither. The caller does not hold m.hmu.
func (m *Manager) withHistory(s *Snapshot, now time.Time) {
	s.ETALow, s.ETAHigh, s.ETASource = nil, nil, ""
	if s.ETA != nil {
		s.ETASource = "rate"
	}
	if s.Kind == "" || s.State.Final() || s.State == Stalled || len(s.Children) > 0 {
		return
	}
	stage, ok := s.stageIndex()
	if !ok {
		return
	}
	m.hmu.Lock()
	var durations [][]float64
	if h := m.history[s.Kind]; h != nil {
		durations = aligned(h.list, s.Stages)
	}
	m.hmu.Unlock()
	frac, known := 0.0, s.Total > 0
	if known {
		frac = min(max(s.Done/s.Total, 0), 1)
	}
	elapsed, since := 0.0, 0.0
	if s.State != Queued {
		elapsed = max(now.Sub(s.StageStarted).Seconds(), 0)
		since = max(now.Sub(s.Updated).Seconds(), 0)
	}
	if !known {
		since = 0 // the elapsed time already counts it
	}
	low, mid, high, ok := historyRange(durations, stage, frac, known, elapsed)
	if !ok {
		return
	}
	s.ETALow, s.ETAHigh = rounded(max(low-since, 0), 1), rounded(max(high-since, 0), 1)
	switch {
	case s.ETA != nil:
		s.ETASource = "both"
	case s.State == Queued:
		s.ETASource = "history" // the range of its run, once it starts
	default:
		s.ETA, s.ETASource = rounded(max(mid-since, 0), 1), "history"
	}
}
