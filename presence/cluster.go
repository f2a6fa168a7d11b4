package presence

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"time"

	"github.com/heraldhub/herald/eventlog"
)

// catchUp starts a tail and applies what the log holds after the last
// update applied (everything, at start), holding the tail's callback until
// it is done, so that updates are applied in log order with no gap.
func (t *Tracker) catchUp() (<-chan struct{}, error) {
	t.tail.Lock()
	defer t.tail.Unlock()
	done, err := t.log.Follow(t.ctx, t.onTail)
	if err != nil {
		return nil, err
	}
	t.mu.Lock()
	from := t.lastID
	t.mu.Unlock()
	if from == "" {
		from = eventlog.Earliest
	}
	ctx, cancel := context.WithTimeout(t.ctx, replayTimeout)
	defer cancel()
	apply := func(u eventlog.Update) bool {
		t.mu.Lock()
		t.apply(u, time.Now())
		t.mu.Unlock()
		return true
	}
	_, err = t.log.Since(ctx, from, apply)
	if errors.Is(err, eventlog.ErrUnknownID) && from != eventlog.Earliest {
		// Retention dropped what was missed: start over from what is left.
		t.mu.Lock()
		clear(t.entries)
		clear(t.filters)
		t.seq = 0
		t.mu.Unlock()
		_, err = t.log.Since(ctx, eventlog.Earliest, apply)
	}
	if err != nil {
		t.cfg.Logger.Warn("subscriptions of other nodes may be missing from the subscriptions API", "err", err)
	}
	return done, nil
}

// onTail applies an update read from the log's tail.
func (t *Tracker) onTail(u eventlog.Update) {
	t.tail.Lock()
	t.mu.Lock()
	t.apply(u, time.Now())
	t.mu.Unlock()
	t.tail.Unlock()
}

// follow restarts the tail if it stops while the tracker runs, catching up
// on what it missed, until Close.
func (t *Tracker) follow(done <-chan struct{}) {
	defer close(t.following)
	backoff := 50 * time.Millisecond
	for {
		select {
		case <-done:
		case <-t.ctx.Done():
			<-done
			return
		}
		for {
			if t.ctx.Err() != nil {
				return
			}
			var err error
			if done, err = t.catchUp(); err == nil {
				break
			}
			if errors.Is(err, eventlog.ErrClosed) {
				return
			}
			t.cfg.Logger.Warn("cannot follow the log for subscription events; retrying", "err", err, "in", backoff)
			select {
			case <-time.After(backoff):
			case <-t.ctx.Done():
				return
			}
			backoff = min(2*backoff, 5*time.Second)
		}
	}
}

// apply updates the subscriptions and the nodes' liveness from u, read
// from the log at now. t.mu is held.
func (t *Tracker) apply(u eventlog.Update, now time.Time) {
	if u.Seq <= t.seq {
		return // replayed and then read again from the tail
	}
	t.seq, t.lastID = u.Seq, u.ID
	if len(u.Topics) == 0 || !u.Private {
		return
	}
	tp := u.Topics[0]
	switch {
	case strings.HasPrefix(tp, HeartbeatPrefix):
		t.seen[tp[len(HeartbeatPrefix):]] = now
	case !strings.HasPrefix(tp, Prefix+"/"):
	case u.Type == "":
		t.lastV0 = u.ID
		var l LegacyEvent
		if json.Unmarshal([]byte(u.Data), &l) == nil {
			t.touch(filterOf(false, "", l.Topic), u.ID)
		}
	case u.Type == "mercure":
		e, err := parseEvent(tp, u.Data)
		if err != nil {
			return
		}
		t.lastV1 = u.ID
		node := nodeOf(u.ID)
		k := key{e.MatchType, e.Match, e.Subscriber}
		old, had := t.entries[k]
		switch {
		case !e.Active && had:
			delete(t.entries, k)
			t.count(old, -1)
			if es, open := t.own[e.Subscriber]; open && node != t.cfg.Node {
				// Reported gone by another node (this one was silent too
				// long) while still here: arrive again.
				t.enqueue(t.events(es, true))
			}
		case e.Active:
			if _, ok := t.seen[node]; !ok {
				t.seen[node] = now // a node only heard of by its events gets the same grace
			}
			t.entries[k] = &entry{matchType: e.MatchType, match: e.Match, subscriber: e.Subscriber, payload: e.Payload, node: node}
			if !had {
				t.count(t.entries[k], 1)
			}
		}
		t.touch(filterOf(true, e.MatchType, e.Match), u.ID)
	}
}

// beat appends the node's heartbeat every interval, and reports the
// subscribers of silent nodes gone, until Close.
func (t *Tracker) beat() {
	defer t.workers.Done()
	tick := time.NewTicker(t.cfg.Heartbeat)
	defer tick.Stop()
	for {
		t.heartbeat()
		select {
		case <-tick.C:
			t.reap(time.Now())
		case <-t.stopBeat:
			return
		}
	}
}

// heartbeat appends one heartbeat of this node.
func (t *Tracker) heartbeat() {
	ctx, cancel := context.WithTimeout(t.ctx, t.cfg.Heartbeat)
	defer cancel()
	u := eventlog.Update{Topics: []string{HeartbeatPrefix + t.cfg.Node}, Type: "heartbeat", Private: true}
	if _, err := t.log.Append(ctx, u); err != nil && t.ctx.Err() == nil {
		t.cfg.Logger.Warn("presence heartbeat not published", "err", err)
	}
}

// reap queues the departures of the subscribers of the nodes silent for
// silentBeats intervals, if this node is the live node with the lowest id
// (so that one node reports them). It reports a node again after another
// silence if its subscribers are still listed (a failed append).
func (t *Tracker) reap(now time.Time) {
	silence := silentBeats * t.cfg.Heartbeat
	t.mu.Lock()
	lowest, dead := t.cfg.Node, map[string]bool{}
	for n, at := range t.seen {
		switch {
		case n == t.cfg.Node:
		case now.Sub(at) > silence:
			dead[n] = true
		case n < lowest:
			lowest = n
		}
	}
	var gone []*entry
	left := map[string]int{}
	for _, e := range t.entries {
		if dead[e.node] {
			left[e.node]++
			if lowest == t.cfg.Node && now.Sub(t.reaped[e.node]) > silence {
				gone = append(gone, e)
			}
		}
	}
	for n := range dead {
		switch {
		case left[n] == 0:
			delete(t.seen, n)
			delete(t.reaped, n)
		case lowest == t.cfg.Node && now.Sub(t.reaped[n]) > silence:
			t.reaped[n] = now
		}
	}
	t.mu.Unlock()
	if len(gone) > 0 {
		t.cfg.Logger.Info("reporting the subscribers of silent nodes gone", "subscriptions", len(gone))
		t.enqueue(t.events(gone, false))
	}
}
