package jobs

// The jobs as the log tells them, from every node: events observed from
// the hub's tail, recovery from the retained history at start, and the
// snapshots a new subscriber receives first.

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/heraldhub/herald/eventlog"
)

// Observe takes an update the hub read from the log, from any node: a job
// event newer than this node's snapshot (Snapshot.Supersedes) replaces it.
// A cancellation request is never lost to a concurrent event that did not
// carry it, and a report this node has not published yet is kept. Observe
// does no I/O and holds the manager's lock briefly; the hub calls it from
// its tail, in log order.
func (m *Manager) Observe(u eventlog.Update) {
	switch u.Type {
	case EventLog:
		m.observeLine(u)
		return
	case EventHistory:
		m.observeHistory(u)
		return
	}
	s, ok := decodeEvent(u)
	if !ok {
		return
	}
	now := m.cfg.Now()
	m.mu.Lock()
	defer m.mu.Unlock()
	if e, ok := m.jobs[s.ID]; ok {
		e.merge(s, now)
		m.track(e, &s)
	} else if e := m.adopt(s, now); e != nil {
		m.track(e, &s)
	}
	if p, ok := m.jobs[s.Parent]; ok && s.Parent != "" {
		p.noteChild(s, now)
	}
}

// decodeEvent returns the snapshot a job event carries, and false if u is
// not a well-formed job event: on a job's topic, typed by its state.
func decodeEvent(u eventlog.Update) (Snapshot, bool) {
	if len(u.Topics) == 0 || !strings.HasPrefix(u.Topics[0], TopicPrefix) {
		return Snapshot{}, false
	}
	switch u.Type {
	case EventProgress, EventDone, EventFailed, EventCancelled:
	default:
		return Snapshot{}, false
	}
	var s Snapshot
	if err := json.Unmarshal([]byte(u.Data), &s); err != nil || s.Topic != u.Topics[0] || s.Topic != TopicPrefix+s.ID || !validID(s.ID) {
		return Snapshot{}, false
	}
	switch s.State {
	case Queued, Running, Stalled, Succeeded, Failed, Cancelled:
	default:
		return Snapshot{}, false
	}
	return s, eventType(s.State) == u.Type
}

// adopt takes in, at now, a job this node did not know, unless it finished
// so long ago that it would be forgotten already, and returns its entry
// (nil if not taken in); the caller holds m.mu.
func (m *Manager) adopt(s Snapshot, now time.Time) *entry {
	if s.State.Final() && s.Finished != nil && now.Sub(*s.Finished) > m.cfg.KeepFinished {
		return nil // a replayed job that would be forgotten already
	}
	e := &entry{snap: s, lastSeen: now, published: now}
	if s.State.Final() {
		e.ended = now
	}
	m.jobs[s.ID] = e
	return e
}

// merge takes in, at now, an observed snapshot s of a job this node knows;
// the caller holds the manager's lock.
func (e *entry) merge(s Snapshot, now time.Time) {
	cur := &e.snap
	s.Children = mergeChildren(cur.Children, s.Children)
	switch {
	case !s.Supersedes(cur):
		cur.Children = s.Children
		if s.CancelRequested && !cur.CancelRequested && !cur.State.Final() {
			cur.CancelRequested = true
		}
		return
	case e.dirty && !s.State.Final() && !cur.State.Final() && cur.State != Queued:
		// This node holds a newer report it has not published: keep it,
		// take the other node's numbering and cancellation request.
		cur.Seq, cur.Children = s.Seq, s.Children
		cur.CancelRequested = cur.CancelRequested || s.CancelRequested
	default:
		cancel := cur.CancelRequested && !s.State.Final()
		e.snap = s
		e.snap.CancelRequested = e.snap.CancelRequested || cancel
		e.dirty, e.local = false, false
		if s.State.Final() && e.ended.IsZero() {
			e.ended = now
			e.log.wake()
		}
	}
	e.lastSeen = now
}

// Snapshots returns, as updates without an id, the current snapshot of
// every job whose topic match accepts, oldest job first: what a new
// subscriber receives before live events. match is called with the
// manager's lock held and must not block.
func (m *Manager) Snapshots(match func(topic string) bool) []eventlog.Update {
	snaps := m.collect(match)
	out := make([]eventlog.Update, 0, len(snaps))
	for i := len(snaps) - 1; i >= 0; i-- { // the newest job last
		u, err := snaps[i].event()
		if err != nil {
			continue
		}
		out = append(out, u)
	}
	return out
}

// Replayer replays a log's retained updates; every eventlog.Log is one.
type Replayer interface {
	Since(ctx context.Context, id string, fn func(eventlog.Update) bool) (from eventlog.Update, err error)
}

// Recover rebuilds the manager's snapshots from the retained history of
// the log, for a node that starts while jobs are under way: call it once
// the hub follows the log, so that nothing falls between the replay and the
// live tail (an update seen twice changes nothing). Jobs recovered this way
// are watched for stalls like those another node wrote.
func (m *Manager) Recover(ctx context.Context, log Replayer) error {
	_, err := log.Since(ctx, eventlog.Earliest, func(u eventlog.Update) bool {
		m.Observe(u)
		return ctx.Err() == nil
	})
	if err != nil {
		return fmt.Errorf("recover jobs from the log: %w", err)
	}
	return ctx.Err()
}
