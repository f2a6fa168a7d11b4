package node

import (
	"testing"
	"time"

	"github.com/heraldhub/herald/eventlog"
)

// recorder is a follower and snapshotter that remembers what it is told.
type recorder struct{ seen chan eventlog.Update }

func (r recorder) Observe(u eventlog.Update) { r.seen <- u }

func (r recorder) Snapshots(func(string) bool) []eventlog.Update {
	return []eventlog.Update{{Topics: []string{"jobs/1"}}}
}

// An update the hub reads while the node is still being built waits for
// the parts it feeds instead of passing them by.
func TestTailHoldsUpdatesUntilItsFollowersExist(t *testing.T) {
	tl := newTail()
	if got := tl.Snapshots(func(string) bool { return true }); got != nil {
		t.Fatalf("snapshots before start: %v, want none", got)
	}
	observed := make(chan struct{})
	go func() {
		defer close(observed)
		tl.Observe(eventlog.Update{ID: "early"})
	}()
	r := recorder{seen: make(chan eventlog.Update, 1)}
	tl.start(r, r)
	select {
	case u := <-r.seen:
		if u.ID != "early" {
			t.Fatalf("follower got %q, want the early update", u.ID)
		}
	case <-time.After(wait):
		t.Fatal("the update read before start never reached the follower")
	}
	<-observed
	if got := tl.Snapshots(func(string) bool { return true }); len(got) != 1 {
		t.Fatalf("snapshots after start: %v, want the snapshotter's", got)
	}
}

// A node whose construction failed releases a hub waiting in its tail, so
// that closing the hub does not hang.
func TestTailReleaseLetsAWaitingHubGo(t *testing.T) {
	tl := newTail()
	observed := make(chan struct{})
	go func() {
		defer close(observed)
		tl.Observe(eventlog.Update{ID: "early"})
	}()
	tl.release()
	select {
	case <-observed:
	case <-time.After(wait):
		t.Fatal("Observe still waiting after release")
	}
	tl.start(nil) // after release, start changes nothing
}
