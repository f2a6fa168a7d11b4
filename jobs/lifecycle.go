package jobs

// A job's life on the node that takes its calls: created, reported on,
// asked to cancel, finished; and how each change is numbered and published.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"github.com/heraldhub/herald/eventlog"
)

// Create starts a job and publishes its first event. An empty spec.ID is
// replaced by a generated one. A job with a queue starts queued (see
// Begin).
func (m *Manager) Create(ctx context.Context, spec Spec) (Snapshot, error) {
	if spec.ID == "" {
		spec.ID = newJobID()
	}
	if err := checkSpec(spec); err != nil {
		return Snapshot{}, err
	}
	if err := m.checkCallback(spec.Callback); err != nil {
		return Snapshot{}, err
	}
	now := m.cfg.Now()
	s := newSnapshot(spec, now)
	m.mu.Lock()
	if _, ok := m.jobs[spec.ID]; ok {
		m.mu.Unlock()
		return Snapshot{}, fmt.Errorf("%w: %q", ErrJobExists, spec.ID)
	}
	if err := m.adoptable(spec.Parent); err != nil {
		m.mu.Unlock()
		return Snapshot{}, err
	}
	e := &entry{snap: s, lastSeen: now, local: true}
	m.jobs[spec.ID] = e
	snap := e.claim(now)
	m.mu.Unlock()
	return m.send(ctx, e, snap, true)
}

// newSnapshot returns the first snapshot of a job created at now from a
// checked spec: running, in its first stage, each stage weighing 1 unless
// given.
func newSnapshot(spec Spec, now time.Time) Snapshot {
	stages := slices.Clone(spec.Stages)
	for i := range stages {
		if stages[i].Weight == 0 {
			stages[i].Weight = 1
		}
	}
	s := Snapshot{
		ID: spec.ID, Topic: TopicPrefix + spec.ID, Title: spec.Title, State: Running,
		Stages: stages, Total: spec.Total, Private: spec.Private,
		Parent: spec.Parent, Policy: spec.Policy, Kind: spec.Kind, Queue: spec.Queue, Callback: spec.Callback,
		Created: now, Updated: now, StageStarted: now, Started: &now,
	}
	if spec.Queue != "" {
		s.State, s.Started = Queued, nil
	}
	if spec.Parent != "" {
		s.Weight = spec.Weight
		if s.Weight == 0 {
			s.Weight = 1
		}
	}
	if len(stages) > 0 {
		s.Stage = stages[0].Name
	}
	s.startEstimates(now)
	return s
}

// Progress records a report. Reports are published at most every
// MinInterval per job (the latest wins; the timer publishes the last one),
// except that a change of stage and a return from stalled are published at
// once. If a cancellation was
// requested, the report is still recorded and Progress returns the
// snapshot with ErrCancelRequested.
func (m *Manager) Progress(ctx context.Context, id string, r Report) (Snapshot, error) {
	if err := checkReport(r); err != nil {
		return Snapshot{}, err
	}
	now := m.cfg.Now()
	m.mu.Lock()
	e, err := m.unfinished(id)
	if err != nil {
		m.mu.Unlock()
		return Snapshot{}, err
	}
	s := &e.snap
	total, stageChanged, err := s.admit(r)
	if err != nil {
		m.mu.Unlock()
		return Snapshot{}, err
	}
	wasStalled, wasQueued := s.State == Stalled, s.State == Queued
	if wasQueued {
		s.begin(now) // the first report starts a queued job
	}
	s.apply(r, total, stageChanged, now)
	e.lastSeen, e.local, e.dirty = now, true, true
	behind := m.track(e, nil)
	cancel := s.CancelRequested
	var snap Snapshot
	if stageChanged || wasStalled || wasQueued || now.Sub(e.published) >= m.cfg.MinInterval {
		snap = e.claim(now)
		m.mu.Unlock()
		snap, err = m.send(ctx, e, snap, false)
	} else {
		snap = e.snap
		m.mu.Unlock()
		m.view(&snap, now)
	}
	m.requeue(ctx, behind)
	if err == nil && cancel {
		err = ErrCancelRequested
	}
	return snap, err
}

// apply records an admitted report at now: the job runs (again), in the
// report's stage, with its done, total and message, and its estimates
// take the report in.
func (s *Snapshot) apply(r Report, total float64, stageChanged bool, now time.Time) {
	lastReport, oldTotal := s.Updated, s.Total
	if stageChanged {
		s.clocked(now)
		s.Stage, s.StageStarted = r.Stage, now
	}
	s.Done, s.Total, s.State, s.Updated = r.Done, total, Running, now
	if r.Message != "" {
		s.Message = r.Message
	}
	s.estimate(now, lastReport, oldTotal, stageChanged)
}

// Finish ends a job with its outcome, publishing it at once. Finishing a
// finished job again with the same outcome changes nothing and succeeds (a
// worker may retry after an error); with another outcome it is refused.
func (m *Manager) Finish(ctx context.Context, id string, o Outcome) (Snapshot, error) {
	o, err := checkOutcome(o)
	if err != nil {
		return Snapshot{}, err
	}
	now := m.cfg.Now()
	m.mu.Lock()
	e, err := m.lookup(id)
	if err != nil {
		m.mu.Unlock()
		return Snapshot{}, err
	}
	s := &e.snap
	if s.State.Final() {
		same := s.State == o.State && s.Error == o.Error && bytes.Equal(s.Result, o.Result)
		snap := *s
		m.mu.Unlock()
		if same {
			m.view(&snap, now)
			return snap, nil
		}
		return Snapshot{}, fmt.Errorf("%w: %q is %s", ErrFinished, id, snap.State)
	}
	s.end(o, now)
	e.ended, e.lastSeen, e.local = now, now, true
	e.log.wake()
	snap := e.claim(now)
	behind := m.track(e, nil)
	m.mu.Unlock()
	snap, err = m.send(ctx, e, snap, false)
	m.requeue(ctx, behind)
	if err == nil {
		m.recordHistory(ctx, snap)
	}
	return snap, err
}

// recordHistory publishes the stage durations of a job of a kind that
// succeeded. Every node, this one included, records them as it reads them
// from the log (Observe), so all keep the same runs in the same order.
func (m *Manager) recordHistory(ctx context.Context, s Snapshot) {
	r, ok := s.runOf()
	if !ok {
		return
	}
	u, err := historyEvent(r)
	if err == nil {
		_, err = m.cfg.Publisher.Publish(ctx, u)
	}
	if err != nil {
		m.cfg.Logger.Warn("job history not published", "job", s.ID, "kind", s.Kind, "err", err)
	}
}

// end records a checked outcome at now; a job that succeeded has done all
// its work, in its last stage.
func (s *Snapshot) end(o Outcome, now time.Time) {
	s.State, s.Result, s.Error, s.Updated, s.Finished = o.State, o.Result, o.Error, now, &now
	if o.State != Succeeded {
		return
	}
	if s.State == Queued || s.Started == nil {
		s.StageSeconds = nil // never ran: no history
	} else {
		s.clocked(now)
	}
	if s.Total > 0 {
		s.Done = s.Total
	}
	if len(s.Stages) > 0 {
		s.Stage = s.Stages[len(s.Stages)-1].Name
	}
}

// Cancel requests the job's cancellation and publishes the request: the
// job's worker learns it from its next report (ErrCancelRequested), and
// then finishes the job as cancelled (Finish with Cancelled, or
// Job.FinishCancelled). Cancel itself does not finish the job. Cancelling
// a parent cancels its unfinished children too, and the parent ends once
// they have.
func (m *Manager) Cancel(ctx context.Context, id string) (Snapshot, error) {
	m.mu.Lock()
	e, err := m.unfinished(id)
	if err != nil {
		m.mu.Unlock()
		return Snapshot{}, err
	}
	if e.snap.State == Queued {
		// No worker has it yet: it ends now, and leaves its queue.
		m.mu.Unlock()
		return m.Finish(ctx, id, Outcome{State: Cancelled})
	}
	now := m.cfg.Now()
	e.snap.CancelRequested = true
	e.snap.Updated = now
	e.local = true
	snap := e.claim(now)
	children := unfinishedChildren(snap.Children)
	m.mu.Unlock()
	snap, err = m.send(ctx, e, snap, false)
	if err != nil {
		return snap, err
	}
	m.cancelChildren(ctx, children)
	return snap, nil
}

// claim numbers the entry's snapshot for publication; the caller holds
// m.mu and passes the result to send. A change and its claim are made under
// one hold of the lock, so the timer never publishes a change again that a
// caller is already publishing.
func (e *entry) claim(now time.Time) Snapshot {
	e.snap.Seq++
	e.dirty, e.published = false, now
	return e.snap
}

// send publishes a claimed snapshot. Two publications of one job may reach
// the log in either order; readers keep the one with the higher seq
// (Snapshot.Supersedes). If publishing fails, a created job is forgotten
// and any other change is left for the timer to retry.
func (m *Manager) send(ctx context.Context, e *entry, s Snapshot, created bool) (Snapshot, error) {
	m.view(&s, m.cfg.Now())
	u, err := s.event()
	if err == nil {
		_, err = m.cfg.Publisher.Publish(ctx, u)
	}
	if err != nil {
		m.mu.Lock()
		if cur, ok := m.jobs[s.ID]; ok && cur == e {
			if created {
				delete(m.jobs, s.ID)
			} else {
				e.dirty = true // the timer tries again
			}
		}
		m.mu.Unlock()
		return Snapshot{}, fmt.Errorf("publish job %q: %w", s.ID, err)
	}
	if s.Parent != "" {
		m.childChanged(ctx, s)
	}
	if s.State.Final() && m.cfg.Ended != nil {
		m.cfg.Ended(s)
	}
	return s, nil
}

// event returns the update that publishes s: on the job's topic, typed by
// its state, with the snapshot as JSON data.
func (s *Snapshot) event() (eventlog.Update, error) {
	data, err := json.Marshal(s)
	if err != nil {
		return eventlog.Update{}, err
	}
	return eventlog.Update{Topics: []string{s.Topic}, Type: eventType(s.State), Data: string(data), Private: s.Private}, nil
}
