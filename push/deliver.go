package push

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"time"

	"github.com/heraldhub/herald/eventlog"
	"github.com/heraldhub/herald/internal/outbound"
)

// batchSize bounds the updates read from the log at once for one
// subscription; the log is not held while they are delivered.
const batchSize = 64

// recheck is how often an idle worker looks at the log without being
// woken, in case a read failed.
const recheck = 5 * time.Second

// run delivers s until ctx ends: whenever woken, it delivers every
// matching update after its cursor, in log order.
func (p *Pusher) run(ctx context.Context, s *sub) {
	tick := time.NewTicker(recheck)
	defer tick.Stop()
	for {
		p.mu.Lock()
		active := s.state == Active
		p.mu.Unlock()
		if active {
			p.catchUp(ctx, s)
		}
		select {
		case <-ctx.Done():
			return
		case <-s.wake:
		case <-tick.C:
		}
	}
}

// catchUp delivers the matching updates after s's last scanned one until
// the end of the log, a pause, or ctx's end.
func (p *Pusher) catchUp(ctx context.Context, s *sub) {
	for ctx.Err() == nil {
		p.mu.Lock()
		from, fromSeq := s.scanned, s.scannedSeq
		p.mu.Unlock()
		batch, last, err := p.pending(ctx, s, from, fromSeq)
		if errors.Is(err, eventlog.ErrUnknownID) {
			// Retention dropped the cursor: deliver what is retained.
			p.cfg.Logger.Warn("push subscription's cursor is gone from the log; delivering the retained history", "id", s.def.ID, "cursor", from)
			p.setScanned(s, eventlog.Update{ID: eventlog.Earliest, Seq: fromSeq})
			continue
		}
		if err != nil {
			if ctx.Err() == nil {
				p.cfg.Logger.Warn("push subscription cannot read the log", "id", s.def.ID, "err", err)
			}
			return
		}
		for _, u := range batch {
			if !p.deliver(ctx, s, u) {
				return
			}
		}
		if last.ID == "" {
			return
		}
		p.setScanned(s, last)
	}
}

// setScanned records the last update s's worker read.
func (p *Pusher) setScanned(s *sub, last eventlog.Update) {
	p.mu.Lock()
	s.scanned, s.scannedSeq = last.ID, last.Seq
	p.mu.Unlock()
}

// pending reads, after from, up to batchSize updates that s matches, and
// returns them with the last update read (zero at the end). Updates at or
// below fromSeq are skipped: a reused id resumes after its first
// occurrence, and what came after it until fromSeq was read already.
func (p *Pusher) pending(ctx context.Context, s *sub, from string, fromSeq uint64) (batch []eventlog.Update, last eventlog.Update, err error) {
	_, err = p.cfg.Log.Since(ctx, from, func(u eventlog.Update) bool {
		if u.Seq <= fromSeq {
			return true
		}
		last = eventlog.Update{ID: u.ID, Seq: u.Seq}
		if !reserved(u.Topics) && s.sels.MatchAny(u.Topics) {
			u.Topics = slices.Clone(u.Topics)
			batch = append(batch, u)
		}
		return len(batch) < batchSize
	})
	return batch, last, err
}

// deliver sends u to s's callback until it is acknowledged, then moves the
// cursor past it; if the delivery is given up, it pauses s. It returns
// whether the worker may go on.
func (p *Pusher) deliver(ctx context.Context, s *sub, u eventlog.Update) bool {
	body, err := json.Marshal(Message{ID: u.ID, Topics: u.Topics, Data: u.Data, Type: u.Type, Private: u.Private})
	if err != nil {
		return false
	}
	target := outbound.Target{URL: s.def.Callback, Secret: []byte(s.def.Secret)}
	err = p.engine.Deliver(ctx, target, u.ID, body, func(a outbound.Attempt) {
		s.history.Add(a)
		p.mu.Lock()
		if a.OK() {
			s.failures = 0
		} else {
			s.failures++
		}
		p.mu.Unlock()
	})
	if ctx.Err() != nil {
		return false
	}
	if err != nil {
		p.cfg.Logger.Warn("push subscription paused", "id", s.def.ID, "err", err)
		if _, err := p.append(ctx, record{Op: "pause", ID: s.def.ID, Reason: err.Error()}); err != nil {
			p.cfg.Logger.Warn("push subscription's pause not stored", "id", s.def.ID, "err", err)
			p.mu.Lock()
			s.state, s.reason = Paused, err.Error()
			p.mu.Unlock()
		}
		return false
	}
	p.setScanned(s, u)
	if _, err := p.append(ctx, record{Op: "cursor", ID: s.def.ID, Cursor: u.ID, CursorSeq: u.Seq}); err != nil {
		p.cfg.Logger.Warn("push subscription's cursor not stored; the update may be delivered again", "id", s.def.ID, "err", err)
	}
	return true
}
