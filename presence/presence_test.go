package presence

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/heraldhub/herald/eventlog"
	"github.com/heraldhub/herald/eventlog/logtest"
	"github.com/heraldhub/herald/eventlog/redislog"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// wait bounds every wait for an event.
const wait = 15 * time.Second

// tail follows lg and returns the updates appended from now on.
func tail(t *testing.T, lg eventlog.Log) <-chan eventlog.Update {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	ch := make(chan eventlog.Update, 4096)
	done, err := lg.Follow(ctx, func(u eventlog.Update) {
		u.Topics = append([]string(nil), u.Topics...)
		select {
		case ch <- u:
		default:
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cancel(); <-done })
	return ch
}

// awaitEvent returns the first 1.0 subscription event on ch for which ok
// holds, failing the test after within.
func awaitEvent(t *testing.T, ch <-chan eventlog.Update, within time.Duration, ok func(eventlog.Update, Event) bool) (eventlog.Update, Event) {
	t.Helper()
	deadline := time.After(within)
	for {
		select {
		case u := <-ch:
			if u.Type != "mercure" {
				continue
			}
			e, err := parseEvent(u.Topics[0], u.Data)
			if err == nil && ok(u, e) {
				return u, e
			}
		case <-deadline:
			t.Fatalf("no matching subscription event within %v", within)
		}
	}
}

func newTracker(t *testing.T, cfg Config) *Tracker {
	t.Helper()
	tr, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tr.Close() })
	return tr
}

func TestArrivalAndDepartureArePublishedInBothShapes(t *testing.T) {
	lg := eventlog.NewMemory(0)
	defer lg.Close()
	events := tail(t, lg)
	tr := newTracker(t, Config{Log: lg})
	leave := tr.Arrive(Subscription{Matchers: []Matcher{{MatchURITemplate, "books/{id}"}}, Payload: json.RawMessage(`{"a":1}`)})
	var got []eventlog.Update
	for len(got) < 2 {
		select {
		case u := <-events:
			if strings.HasPrefix(u.Topics[0], Prefix+"/") {
				got = append(got, u)
			}
		case <-time.After(wait):
			t.Fatal("no arrival events")
		}
	}
	v1, v0 := got[0], got[1]
	var e Event
	var l LegacyEvent
	json.Unmarshal([]byte(v1.Data), &e)
	json.Unmarshal([]byte(v0.Data), &l)
	sub := escape(e.Subscriber)
	if v1.Type != "mercure" || !v1.Private || v1.Topics[0] != Prefix+"/uritemplate/books%2F%7Bid%7D/"+sub || e.ID != v1.Topics[0] ||
		e.MatchType != "uritemplate" || e.Match != "books/{id}" || !e.Active || string(e.Payload) != `{"a":1}` {
		t.Errorf("1.0 event %+v: %+v", v1, e)
	}
	if v0.Type != "" || !v0.Private || v0.Topics[0] != Prefix+"/books%2F%7Bid%7D/"+sub || l.ID != v0.Topics[0] ||
		l.Context != "https://mercure.rocks/" || l.Type != "Subscription" || l.Topic != "books/{id}" || !l.Active {
		t.Errorf("0.x event %+v: %+v", v0, l)
	}
	leave()
	leave()
	awaitEvent(t, events, wait, func(_ eventlog.Update, left Event) bool {
		return !left.Active && left.Subscriber == e.Subscriber
	})
}

func TestSubscribersOfASilentNodeAreReportedGone(t *testing.T) {
	const beat = 200 * time.Millisecond
	stream := logtest.UniqueName(t)
	open := func() eventlog.Log {
		l, err := redislog.Open(context.Background(), "redis://127.0.0.1:6379/0?stream="+stream, redislog.Options{})
		if err != nil {
			t.Fatalf("open the Redis log (is Redis running?): %v", err)
		}
		t.Cleanup(func() { l.Close() })
		return l
	}
	la, lb := open(), open()
	t.Cleanup(func() { lb.(*redislog.Log).DeleteStream(context.Background()) })
	events := tail(t, lb)
	a := newTracker(t, Config{Log: la, Node: "a", Heartbeat: beat})
	b := newTracker(t, Config{Log: lb, Node: "b", Heartbeat: beat})

	a.Arrive(Subscription{Matchers: []Matcher{{MatchExact, "books/1"}}})
	_, arrived := awaitEvent(t, events, wait, func(u eventlog.Update, e Event) bool { return e.Active && e.Match == "books/1" })
	a.abandon() // as a crash: no heartbeat, no departure

	// Gone within four intervals of the last heartbeat; the rest of the
	// margin is for a loaded machine.
	u, _ := awaitEvent(t, events, silentBeats*beat+beat+5*time.Second, func(u eventlog.Update, e Event) bool {
		return !e.Active && e.Subscriber == arrived.Subscriber
	})
	if nodeOf(u.ID) != "b" {
		t.Errorf("departure published by %q, want the surviving node b", nodeOf(u.ID))
	}
	deadline := time.Now().Add(wait)
	for {
		es, _ := b.list(func(*entry) bool { return true }, true, "")
		if len(es) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("node b still lists %+v", es)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestANodeReportedGoneWhileAliveAnnouncesItsSubscribersAgain(t *testing.T) {
	lg := eventlog.NewMemory(0)
	defer lg.Close()
	events := tail(t, lg)
	a := newTracker(t, Config{Log: lg, Node: "a"})
	b := newTracker(t, Config{Log: lg, Node: "b"})
	a.Arrive(Subscription{Matchers: []Matcher{{MatchExact, "books/1"}}})
	_, arrived := awaitEvent(t, events, wait, func(_ eventlog.Update, e Event) bool { return e.Active })

	// What b publishes when a has been silent for too long.
	b.enqueue(b.events([]*entry{{matchType: MatchExact, match: "books/1", subscriber: arrived.Subscriber}}, false))
	awaitEvent(t, events, wait, func(_ eventlog.Update, e Event) bool { return !e.Active })
	u, _ := awaitEvent(t, events, wait, func(_ eventlog.Update, e Event) bool {
		return e.Active && e.Subscriber == arrived.Subscriber
	})
	if nodeOf(u.ID) != "a" {
		t.Fatalf("the subscriber arrived again by %q, want its own node a", nodeOf(u.ID))
	}
}
