package jobs

// Sub-jobs: a job created with a parent is one of the parent's children.
// The parent's snapshot lists them; its percent and ETA roll up from them
// by weight; it ends when they all have (or, fail-fast, when one fails);
// cancelling it cancels them. The node on which a child changes publishes
// the parent's new state; every node keeps the list from the events it
// observes, so a cluster's replay rebuilds the tree.

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"
)

// maxChildren bounds a parent's children, which every one of its
// snapshots lists.
const maxChildren = 500

// Child is a sub-job as its parent's snapshot lists it: its state, percent
// and ETA as of its last event (numbered Seq), and its weight.
type Child struct {
	ID      string   `json:"id"`
	State   State    `json:"state"`
	Percent *float64 `json:"percent"`
	ETA     *float64 `json:"eta"`
	Weight  float64  `json:"weight"`
	Seq     uint64   `json:"seq"`
}

// supersedes reports whether c is newer than cur, as Snapshot.Supersedes.
func (c *Child) supersedes(cur *Child) bool {
	return c.Seq > cur.Seq || c.Seq == cur.Seq && c.State.Final() && !cur.State.Final()
}

// adoptable returns nil if a job may be created under parent (none, or an
// unfinished job with room for another child); the caller holds m.mu.
func (m *Manager) adoptable(parent string) error {
	if parent == "" {
		return nil
	}
	p, ok := m.jobs[parent]
	switch {
	case !ok:
		return fmt.Errorf("%w: parent %q: no such job", ErrInvalid, parent)
	case p.snap.State.Final():
		return fmt.Errorf("%w: parent %q is already %s", ErrInvalid, parent, p.snap.State)
	case len(p.snap.Children) >= maxChildren:
		return fmt.Errorf("%w: parent %q has %d sub-jobs, the most a job may have", ErrInvalid, parent, maxChildren)
	}
	return nil
}

// noteChild records, at now, a child's snapshot s in the parent e's list if
// it is newer than what the list holds, and reports whether the child is
// new there or changed state; the caller holds the manager's lock.
func (e *entry) noteChild(s Snapshot, now time.Time) (changed bool) {
	c := Child{ID: s.ID, State: s.State, Percent: s.Percent, ETA: s.ETA, Weight: s.Weight, Seq: s.Seq}
	e.lastSeen = now
	if e.snap.State == Stalled && !c.State.Final() && c.State != Stalled {
		e.snap.State, changed = Running, true // work goes on below it
	}
	// Snapshots handed out share the list: change a copy.
	e.snap.Children = slices.Clone(e.snap.Children)
	for i := range e.snap.Children {
		cur := &e.snap.Children[i]
		if cur.ID != c.ID {
			continue
		}
		if !c.supersedes(cur) {
			return changed
		}
		changed = changed || cur.State != c.State
		*cur = c
		return changed
	}
	e.snap.Children = append(e.snap.Children, c)
	return true
}

// mergeChildren returns the children of both lists, each in its newest
// form, in the order of mine then those only theirs has.
func mergeChildren(mine, theirs []Child) []Child {
	out := append([]Child(nil), mine...)
	for _, c := range theirs {
		found := false
		for i := range out {
			if out[i].ID == c.ID {
				found = true
				if c.supersedes(&out[i]) {
					out[i] = c
				}
				break
			}
		}
		if !found {
			out = append(out, c)
		}
	}
	return out
}

// childChanged rolls a child's newly published snapshot s up into its
// parent, on the node that published it: the parent ends if its policy
// says so, and is published at once when a child arrives or changes state
// (with the timer otherwise).
func (m *Manager) childChanged(ctx context.Context, s Snapshot) {
	now := m.cfg.Now()
	m.mu.Lock()
	p, ok := m.jobs[s.Parent]
	if !ok || p.snap.State.Final() {
		m.mu.Unlock()
		return
	}
	changed := p.noteChild(s, now)
	var end *Outcome
	var cancel []string
	switch {
	case s.State == Failed && p.snap.Policy == FailFast:
		end = &Outcome{State: Failed, Error: clip(fmt.Sprintf("sub-job %q failed: %s", s.ID, s.Error))}
		cancel = unfinishedChildren(p.snap.Children)
	case settled(p.snap.Children):
		o := p.snap.settledOutcome()
		end = &o
	case changed:
		p.local = true
		snap := p.claim(now)
		m.mu.Unlock()
		if _, err := m.send(ctx, p, snap, false); err != nil {
			m.cfg.Logger.Warn("parent job event not published; will retry", "job", s.Parent, "err", err)
		}
		return
	default:
		p.dirty, p.local = true, true
	}
	m.mu.Unlock()
	if end != nil {
		if _, err := m.Finish(ctx, s.Parent, *end); err != nil {
			m.cfg.Logger.Warn("parent job not finished", "job", s.Parent, "err", err)
		}
	}
	m.cancelChildren(ctx, cancel)
}

// settled reports whether every child has finished.
func settled(children []Child) bool {
	for _, c := range children {
		if !c.State.Final() {
			return false
		}
	}
	return len(children) > 0
}

// settledOutcome is how a parent ends once every child has: failed if one
// failed, cancelled if one was cancelled or the parent's cancellation was
// requested, succeeded otherwise.
func (s *Snapshot) settledOutcome() Outcome {
	var failed, cancelled []string
	for _, c := range s.Children {
		switch c.State {
		case Failed:
			failed = append(failed, c.ID)
		case Cancelled:
			cancelled = append(cancelled, c.ID)
		}
	}
	switch {
	case len(failed) > 0:
		return Outcome{State: Failed, Error: clip(fmt.Sprintf("%d of %d sub-jobs failed: %s",
			len(failed), len(s.Children), strings.Join(failed, ", ")))}
	case len(cancelled) > 0 || s.CancelRequested:
		return Outcome{State: Cancelled}
	}
	return Outcome{State: Succeeded}
}

// unfinishedChildren returns the ids of the children still running.
func unfinishedChildren(children []Child) []string {
	var ids []string
	for _, c := range children {
		if !c.State.Final() {
			ids = append(ids, c.ID)
		}
	}
	return ids
}

// cancelChildren requests the cancellation of each child; one finished or
// forgotten meanwhile is skipped.
func (m *Manager) cancelChildren(ctx context.Context, ids []string) {
	for _, id := range ids {
		if _, err := m.Cancel(ctx, id); err != nil {
			m.cfg.Logger.Debug("sub-job not cancelled", "job", id, "err", err)
		}
	}
}

// rollUp computes a parent's Percent and ETA from its children: the
// weighted mean of their percents (a finished child counts as whole, one
// with no percent yet as nothing), and the longest ETA of those still
// running as they last reported it, unknown if one of them has none.
func (s *Snapshot) rollUp() {
	var done, all, eta float64
	etaKnown := true
	for _, c := range s.Children {
		w := weightOf(c.Weight)
		all += w
		switch {
		case c.State.Final():
			done += w
			continue
		case c.Percent != nil:
			done += w * min(max(*c.Percent, 0), 100) / 100
		}
		if c.ETA == nil {
			etaKnown = false
		} else {
			eta = max(eta, *c.ETA)
		}
	}
	s.Percent = rounded(done/all*100, 1)
	if etaKnown && !s.State.Final() && s.State != Stalled {
		s.ETA = rounded(eta, 1)
	}
}

// clip cuts text to what a snapshot may hold.
func clip(text string) string {
	if len(text) > maxTextBytes {
		text = strings.ToValidUTF8(text[:maxTextBytes], "")
	}
	return text
}
