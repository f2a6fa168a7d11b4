package jobs

// Queued jobs: a job created with a queue name waits, queued, until it is
// started (Manager.Begin, or its first report). Every node orders a queue's
// jobs as the log does, by when it read each one's first event queued, so
// every node of a cluster gives a job the same position; the node that
// starts, cancels or finishes a queued job publishes the jobs behind it
// again, with their new positions.

import (
	"context"
	"slices"
	"time"
)

// Bounds on the queues every node keeps.
const (
	queueStarts = 20   // recent starts kept per queue, for its throughput
	maxQueues   = 1000 // queues kept; further names are not ordered
	maxRequeued = 1000 // jobs behind published again after a start
)

// queue is one queue as this node read it from the log.
type queue struct {
	waiting []string    // the queued jobs, in log order
	starts  []time.Time // the last queueStarts starts, oldest first
	started map[string]bool
}

// queueOf returns the named queue, made if new and there is room; the
// caller holds m.mu.
func (m *Manager) queueOf(name string) *queue {
	q := m.queues[name]
	if q == nil && len(m.queues) < maxQueues {
		q = &queue{started: map[string]bool{}}
		m.queues[name] = q
	}
	return q
}

// track updates the queue of e's job after a change: with seen (the
// event read from the log that made the change), a queued job not yet in line joins its
// end (and this node, if it wrote the job, publishes it again should its
// place differ from the one its event showed); a job no longer queued
// leaves the line, and its start counts for the queue's throughput. It returns the ids of the jobs that were behind
// one that left; the caller holds m.mu.
func (m *Manager) track(e *entry, seen *Snapshot) (behind []string) {
	s := &e.snap
	if s.Queue == "" {
		return nil
	}
	q := m.queueOf(s.Queue)
	if q == nil {
		return nil
	}
	i := slices.Index(q.waiting, s.ID)
	switch {
	case s.State == Queued && i < 0 && seen != nil:
		q.waiting = append(q.waiting, s.ID)
		if e.local && (seen.QueuePosition == nil || *seen.QueuePosition != len(q.waiting)) {
			// Jobs ahead started while its first event was on its way:
			// the timer publishes its place in line.
			e.dirty = true
		}
	case s.State != Queued && i >= 0:
		q.waiting = slices.Delete(q.waiting, i, i+1)
		behind = slices.Clone(q.waiting[i:min(len(q.waiting), i+maxRequeued)])
	}
	if s.Started != nil && !q.started[s.ID] {
		q.recordStart(s.ID, *s.Started)
	}
	return behind
}

// recordStart counts a job's start at t, keeping the last queueStarts in
// order of time.
func (q *queue) recordStart(id string, t time.Time) {
	q.started[id] = true
	at, _ := slices.BinarySearchFunc(q.starts, t, time.Time.Compare)
	q.starts = slices.Insert(q.starts, at, t)
	if len(q.starts) > queueStarts {
		q.starts = q.starts[1:]
	}
	if len(q.started) > 4*queueStarts {
		clear(q.started) // a start seen again later counts twice, at worst
	}
}

// untrack removes a forgotten job from its queue's line; the caller holds
// m.mu.
func (m *Manager) untrack(s *Snapshot) {
	if q := m.queues[s.Queue]; q != nil {
		if i := slices.Index(q.waiting, s.ID); i >= 0 {
			q.waiting = slices.Delete(q.waiting, i, i+1)
		}
	}
}

// place sets a queued job's position (1-based) and the seconds until it is
// expected to start, at now: a job the log has not shown this node yet
// comes after the others. The wait is the queue's mean time between its
// last starts (up to queueStarts) times the position, less the time since
// the last start, but at least that mean times the jobs ahead; unknown
// before two starts. The caller holds m.mu.
func (m *Manager) place(s *Snapshot, now time.Time) {
	s.QueuePosition, s.StartsIn = nil, nil
	if s.State != Queued {
		return
	}
	q := m.queues[s.Queue]
	if q == nil {
		q = &queue{} // the first of its queue
	}
	pos := slices.Index(q.waiting, s.ID) + 1
	if pos == 0 {
		pos = len(q.waiting) + 1
	}
	s.QueuePosition = &pos
	if n := len(q.starts); n >= 2 {
		gap := q.starts[n-1].Sub(q.starts[0]).Seconds() / float64(n-1)
		since := max(now.Sub(q.starts[n-1]).Seconds(), 0)
		s.StartsIn = rounded(max(float64(pos)*gap-since, float64(pos-1)*gap), 1)
	}
}

// Begin starts a queued job: it leaves its queue, runs from now, and the
// jobs behind it are published with their new positions. Beginning a job
// that already runs changes nothing.
func (m *Manager) Begin(ctx context.Context, id string) (Snapshot, error) {
	now := m.cfg.Now()
	m.mu.Lock()
	e, err := m.unfinished(id)
	if err != nil {
		m.mu.Unlock()
		return Snapshot{}, err
	}
	if e.snap.State != Queued {
		snap := e.snap
		m.mu.Unlock()
		m.view(&snap, now)
		return snap, nil
	}
	e.snap.begin(now)
	e.lastSeen, e.local = now, true
	snap := e.claim(now)
	behind := m.track(e, nil)
	m.mu.Unlock()
	snap, err = m.send(ctx, e, snap, false)
	m.requeue(ctx, behind)
	return snap, err
}

// begin moves a queued job to running at now.
func (s *Snapshot) begin(now time.Time) {
	s.State, s.Started, s.StageStarted, s.Updated = Running, &now, now, now
	s.Estimator, s.StageEstimator = Estimator{}, Estimator{}
	s.startEstimates(now)
}

// requeue publishes the queued jobs ids again, with their new positions.
func (m *Manager) requeue(ctx context.Context, ids []string) {
	now := m.cfg.Now()
	var due []claimed
	m.mu.Lock()
	for _, id := range ids {
		if e, ok := m.jobs[id]; ok && e.snap.State == Queued {
			due = append(due, claimed{e, e.claim(now)})
		}
	}
	m.mu.Unlock()
	for _, c := range due {
		if _, err := m.send(ctx, c.e, c.snap, false); err != nil {
			m.cfg.Logger.Warn("queued job not published with its new position", "job", c.snap.ID, "err", err)
		}
	}
}
