package dashboard

import (
	"time"

	"github.com/heraldhub/herald/jobs"
)

// Sample is one point of the charts: [time in Unix milliseconds,
// subscribers, updates per second, deliveries per second].
type Sample [4]float64

// Snapshot is what the dashboard stream sends every Tick, as JSON. Totals
// are the node's counters as /metrics shows them; rates are per second
// over the last Tick.
type Snapshot struct {
	Node                string  `json:"node"`
	Sample              Sample  `json:"sample"`
	Subscribers         float64 `json:"subscribers"`
	UpdatesTotal        float64 `json:"updatesTotal"`
	DeliveriesTotal     float64 `json:"deliveriesTotal"`
	UpdatesPerSecond    float64 `json:"updatesPerSecond"`
	DeliveriesPerSecond float64 `json:"deliveriesPerSecond"`
	SlowDisconnects     float64 `json:"slowDisconnects"`
	Replays             float64 `json:"replays"`
	// PushActive and PushPaused count the push subscriptions this node
	// delivers, by state: a paused one stopped after repeated failures
	// and waits to be resumed.
	PushActive float64 `json:"pushActive"`
	PushPaused float64 `json:"pushPaused"`
	// AppendP50 and AppendP99 are the log append latency's quantiles over
	// the last minute, in seconds; null without appends.
	AppendP50 *float64     `json:"appendP50"`
	AppendP99 *float64     `json:"appendP99"`
	Nodes     []NodeStatus `json:"nodes"`
	Topics    []TopicCount `json:"topics"`
	Jobs      JobsSummary  `json:"jobs"`
	// History is the samples of the last hour, oldest first: in a
	// stream's first snapshot only.
	History []Sample `json:"history,omitempty"`
	// Recent is the recent updates of the stream's topic, newest first;
	// null without a topic or when they did not change since the last
	// snapshot of the stream.
	Recent []RecentUpdate `json:"recent"`
}

func (s *Snapshot) report() Report {
	return Report{Node: s.Node, Subscribers: s.Subscribers, UpdatesPerSecond: s.UpdatesPerSecond, DeliveriesPerSecond: s.DeliveriesPerSecond}
}

// JobsSummary counts the node's jobs by state and lists the unfinished and
// failed ones.
type JobsSummary struct {
	Running int         `json:"running"`
	Stalled int         `json:"stalled"`
	Failed  int         `json:"failed"`
	List    []JobStatus `json:"list"`
}

// JobStatus is one job as the dashboard lists it.
type JobStatus struct {
	ID      string     `json:"id"`
	Title   string     `json:"title,omitempty"`
	State   jobs.State `json:"state"`
	Stage   string     `json:"stage,omitempty"`
	Percent *float64   `json:"percent"`
	Message string     `json:"message,omitempty"`
	topic   string
	private bool
}

// maxJobsListed bounds the jobs a snapshot lists.
const maxJobsListed = 50

func summarize(list []jobs.Snapshot) JobsSummary {
	s := JobsSummary{List: []JobStatus{}}
	for _, j := range list {
		switch j.State {
		case jobs.Running:
			s.Running++
		case jobs.Stalled:
			s.Stalled++
		case jobs.Failed:
			s.Failed++
		default:
			continue
		}
		if len(s.List) < maxJobsListed {
			msg := j.Message
			if j.State == jobs.Failed {
				msg = j.Error
			}
			s.List = append(s.List, JobStatus{ID: j.ID, Title: j.Title, State: j.State, Stage: j.Stage, Percent: j.Percent, Message: msg, topic: j.Topic, private: j.Private})
		}
	}
	return s
}

// appendWindow is how many readings the append latency quantiles span.
const appendWindow = 60

// sampler turns readings of the registry into snapshots: rates from the
// previous reading, quantiles from the one appendWindow readings back.
type sampler struct {
	prev    reading
	prevAt  time.Time
	appends []histogram // ring of appendWindow
	next    int
}

func (s *sampler) take(r reading, now time.Time) *Snapshot {
	snap := &Snapshot{
		Subscribers: r.subscribers, UpdatesTotal: r.updates, DeliveriesTotal: r.deliveries,
		SlowDisconnects: r.slow, Replays: r.replays, PushActive: r.pushActive, PushPaused: r.pushPaused,
	}
	if !s.prevAt.IsZero() {
		if dt := now.Sub(s.prevAt).Seconds(); dt > 0 {
			snap.UpdatesPerSecond = rate(r.updates, s.prev.updates, dt)
			snap.DeliveriesPerSecond = rate(r.deliveries, s.prev.deliveries, dt)
		}
	}
	oldest := histogram{}
	if len(s.appends) == appendWindow {
		oldest = s.appends[s.next]
		s.appends[s.next] = r.appends
		s.next = (s.next + 1) % appendWindow
	} else {
		if len(s.appends) > 0 {
			oldest = s.appends[0]
		}
		s.appends = append(s.appends, r.appends)
	}
	window := r.appends.since(oldest)
	snap.AppendP50, snap.AppendP99 = window.quantile(0.5), window.quantile(0.99)
	snap.Sample = Sample{float64(now.UnixMilli()), r.subscribers, snap.UpdatesPerSecond, snap.DeliveriesPerSecond}
	s.prev, s.prevAt = r, now
	return snap
}

// rate is a counter's increase per second; a counter that went down (a
// restart) counts from zero.
func rate(cur, prev, seconds float64) float64 {
	if cur < prev {
		prev = 0
	}
	return (cur - prev) / seconds
}
