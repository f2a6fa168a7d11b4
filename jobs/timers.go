package jobs

// The node's timer: it publishes the reports coalesced since the last
// event, marks silent jobs stalled, and forgets finished and long-stalled
// jobs.

import (
	"context"
	"time"
)

// ticker runs the node's timer until Close.
func (m *Manager) ticker() {
	defer m.wg.Done()
	t := time.NewTicker(max(min(m.cfg.MinInterval, m.cfg.StallAfter/4), time.Millisecond))
	defer t.Stop()
	for {
		select {
		case <-m.stop:
			return
		case <-t.C:
			m.flush(false)
		}
	}
}

// flush publishes what is due (with all, every unpublished change), marks
// silent jobs stalled and forgets old ones.
func (m *Manager) flush(all bool) {
	now := m.cfg.Now()
	var due []claimed
	m.mu.Lock()
	for id, e := range m.jobs {
		silent := now.Sub(e.lastSeen)
		stallAfter := m.cfg.StallAfter
		if !e.local {
			stallAfter *= 2 // the node that wrote it last goes first
		}
		switch {
		case e.snap.State.Final() && !e.ended.IsZero() && now.Sub(e.ended) > m.cfg.KeepFinished,
			e.snap.State == Stalled && silent > m.cfg.ForgetStalled:
			delete(m.jobs, id)
			m.untrack(&e.snap)
			e.log.wake() // its log's readers end
		case e.dirty && (all || now.Sub(e.published) >= m.cfg.MinInterval):
			due = append(due, claimed{e, e.claim(now)})
		case e.snap.State == Running && silent >= stallAfter:
			e.snap.State, e.snap.Updated = Stalled, now
			e.local = true
			due = append(due, claimed{e, e.claim(now)})
		}
	}
	m.mu.Unlock()
	for _, c := range due {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		if _, err := m.send(ctx, c.e, c.snap, false); err != nil {
			m.cfg.Logger.Warn("job event not published; will retry", "job", c.snap.ID, "err", err)
		}
		cancel()
	}
}

// claimed is an entry's snapshot claimed for publication (entry.claim).
type claimed struct {
	e    *entry
	snap Snapshot
}
