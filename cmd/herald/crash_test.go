package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/heraldhub/herald/sse"
)

// Process tests of the bolt node's durability: a crash (SIGKILL) loses no
// acknowledged update, and a clean restart (SIGTERM) leaves no gap for a
// subscriber that reconnects with its last event id.

// eventWait bounds each wait for events in these tests.
const eventWait = 10 * time.Second

func TestKilledHubLosesNoAcknowledgedUpdate(t *testing.T) {
	if testing.Short() {
		t.Skip("starts, kills and restarts real herald processes; skipped with -short")
	}
	checkGoroutines(t)
	h := startHerald(t)
	pub := startPublisher(t, h.URL(), "crash")
	stream := h.URL() + "/.well-known/mercure?topic=crash&lastEventID=earliest"

	const rounds = 5
	var delivered []sse.Event // what any subscriber received before a crash
	for round := 1; round <= rounds; round++ {
		// A subscriber replays the log while the publisher goes on; the
		// crash cuts its stream at a random point.
		sub := subscribe(t, stream, nil)
		killAt := pub.acked() + 10 + rand.IntN(120)
		pub.waitAcked(t, killAt)
		h.Kill()
		t.Logf("round %d: SIGKILL after %d acknowledged updates", round, killAt)
		sub.waitEnd(t, eventWait)
		got := sub.Events()
		acks, attempts := pub.snapshot()
		checkStream(t, fmt.Sprintf("round %d, stream cut by the crash", round), acks, attempts, got, 0, false)
		delivered = append(delivered, got...)
		h.Restart()
	}
	pub.waitAcked(t, pub.acked()+20)
	acks := pub.stop()
	last := acks[len(acks)-1].id

	sub := subscribe(t, stream, nil)
	sub.waitFor(t, "the last acknowledged update "+last, eventWait, hasID(last))
	got := sub.Events()
	_, attempts := pub.snapshot()
	checkStream(t, fmt.Sprintf("after %d crashes", rounds), acks, attempts, got, 0, true)
	for _, d := range delivered {
		if !hasID(d.ID)(got) {
			t.Fatalf("update %s (data %q), delivered to a subscriber before a crash, is gone from the log after it", d.ID, d.Data)
		}
	}
}

func TestSubscriberResumesWithoutGapAcrossCleanRestart(t *testing.T) {
	if testing.Short() {
		t.Skip("starts and restarts a real herald process; skipped with -short")
	}
	checkGoroutines(t)
	h := startHerald(t)
	pub := startPublisher(t, h.URL(), "restart")
	pub.waitAcked(t, 5)

	// A live subscriber, without history, connected before the restart.
	live := subscribe(t, h.URL()+"/.well-known/mercure?topic=restart", nil)
	live.waitFor(t, "10 updates before the restart", eventWait, func(evs []sse.Event) bool { return len(evs) >= 10 })
	h.Stop()
	err := live.waitEnd(t, eventWait)
	if live.Retry() <= 0 {
		t.Errorf("the stream ended by SIGTERM (%v) set no reconnection time (retry:)", err)
	}
	before := live.Events()
	lastID := live.LastEventID()
	if lastID == "" || lastID != before[len(before)-1].ID {
		t.Fatalf("last event id %q, want the id of the last event received, %q", lastID, before[len(before)-1].ID)
	}

	// It reconnects, as EventSource does, with its last event id, some
	// time after the node is back: it has missed updates meanwhile.
	h.Restart()
	pub.waitAcked(t, pub.acked()+10)
	resumed := subscribe(t, h.URL()+"/.well-known/mercure?topic=restart", http.Header{"Last-Event-ID": {lastID}})
	if got := resumed.header.Get("Last-Event-ID"); got != lastID {
		t.Errorf("after the restart the node answers Last-Event-ID %q, want %q: it does not know the id it sent before", got, lastID)
	}
	pub.waitAcked(t, pub.acked()+10)
	acks := pub.stop()
	last := acks[len(acks)-1].id
	resumed.waitFor(t, "the last acknowledged update "+last, eventWait, hasID(last))

	first, _ := strconv.Atoi(before[0].Data)
	_, attempts := pub.snapshot()
	checkStream(t, "across the restart", acks, attempts, append(before, resumed.Events()...), first, true)
	t.Logf("%d updates before the restart (stream ended: %v, retry %v), %d after it; %d publications acknowledged", len(before), err, live.Retry(), len(resumed.Events()), len(acks))
}

// ack is an acknowledged publication: the n-th attempt (its data) and the
// id the hub answered.
type ack struct {
	n  int
	id string
}

// publisher publishes to one topic, one request at a time, as fast as the
// node acknowledges, until stopped. The data of the n-th attempt is n, so
// log order is the order of n; an attempt that fails is not retried (its
// update may or may not be stored) and the next has the next n.
type publisher struct {
	cancel context.CancelFunc
	done   chan struct{}

	mu       sync.Mutex
	attempts int   // attempts made so far: n of the next
	acks     []ack // in publication order
	lastErr  error
	changed  chan struct{} // closed (and replaced) on each ack
}

// startPublisher starts publishing to topic on the node at base. It stops
// when the test ends, if not before.
func startPublisher(t *testing.T, base, topic string) *publisher {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	p := &publisher{cancel: cancel, done: make(chan struct{}), changed: make(chan struct{})}
	token := publisherToken(t, testPublisherKey)
	go p.run(ctx, base, token, topic)
	t.Cleanup(func() { p.stop() })
	return p
}

func (p *publisher) run(ctx context.Context, base, token, topic string) {
	defer close(p.done)
	for n := 0; ctx.Err() == nil; n++ {
		p.mu.Lock()
		p.attempts = n + 1
		p.mu.Unlock()
		id, err := publish(ctx, base, token, url.Values{"topic": {topic}, "data": {strconv.Itoa(n)}})
		p.mu.Lock()
		if err == nil {
			p.acks = append(p.acks, ack{n: n, id: id})
			close(p.changed)
			p.changed = make(chan struct{})
		} else {
			p.lastErr = err
		}
		p.mu.Unlock()
		if err != nil {
			// The node is down or going down: pace the attempts until it
			// is back (there is no event to wait for from here).
			select {
			case <-ctx.Done():
			case <-time.After(5 * time.Millisecond):
			}
		}
	}
}

// acked returns how many publications have been acknowledged.
func (p *publisher) acked() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.acks)
}

// waitAcked waits until n publications have been acknowledged in all,
// failing the test after eventWait.
func (p *publisher) waitAcked(t *testing.T, n int) {
	t.Helper()
	timer := time.NewTimer(eventWait)
	defer timer.Stop()
	for {
		p.mu.Lock()
		got, lastErr, changed := len(p.acks), p.lastErr, p.changed
		p.mu.Unlock()
		if got >= n {
			return
		}
		select {
		case <-changed:
		case <-timer.C:
			t.Fatalf("%d publications acknowledged within %v, want %d; last failure: %v", got, eventWait, n, lastErr)
		}
	}
}

// stop ends publishing, waits for the publishing goroutine, and returns
// the acknowledged publications.
func (p *publisher) stop() []ack {
	p.cancel()
	<-p.done
	acks, _ := p.snapshot()
	return acks
}

// snapshot returns the acknowledged publications so far and the number of
// attempts made.
func (p *publisher) snapshot() ([]ack, int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]ack(nil), p.acks...), p.attempts
}

// checkStream checks that got, the events of a topic received by a
// subscriber (across its reconnections), is a gapless run of the log as
// the publisher saw it (acks, out of attempts): each id once, data in
// increasing order, each event an attempted publication with its
// acknowledged id if it has one, and every acknowledged publication from
// the first-th attempt on present, up to the last event received or, if
// complete, to the last acknowledged. what names the stream in failures.
func checkStream(t *testing.T, what string, acks []ack, attempts int, got []sse.Event, first int, complete bool) {
	t.Helper()
	ackID := make(map[int]string, len(acks))
	for _, a := range acks {
		ackID[a.n] = a.id
	}
	ids := make(map[string]int, len(got))
	prev := -1
	for i, ev := range got {
		n, err := strconv.Atoi(ev.Data)
		switch {
		case err != nil || n < 0 || n >= attempts:
			t.Fatalf("%s: event %d (id %s) has data %q, not one of the %d publications", what, i, ev.ID, ev.Data, attempts)
		case ids[ev.ID] > 0:
			t.Fatalf("%s: event %d repeats id %s (data %q), first received as event %d", what, i, ev.ID, ev.Data, ids[ev.ID]-1)
		case n <= prev:
			t.Fatalf("%s: event %d (id %s) is publication %d, after publication %d: out of order", what, i, ev.ID, n, prev)
		case ackID[n] != "" && ackID[n] != ev.ID:
			t.Fatalf("%s: publication %d arrived with id %s, acknowledged as %s", what, n, ev.ID, ackID[n])
		}
		ids[ev.ID] = i + 1
		prev = n
	}
	for _, a := range acks {
		if a.n < first || !complete && a.n > prev {
			continue
		}
		if ids[a.id] == 0 {
			t.Fatalf("%s: acknowledged publication %d (id %s) is missing from the %d events received (publications %s)",
				what, a.n, a.id, len(got), span(got))
		}
	}
}

// span describes the range of publications in evs, for failure messages.
func span(evs []sse.Event) string {
	if len(evs) == 0 {
		return "none"
	}
	return evs[0].Data + " to " + evs[len(evs)-1].Data
}
