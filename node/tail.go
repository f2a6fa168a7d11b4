package node

import (
	"sync"

	"github.com/heraldhub/herald/eventlog"
)

// follower is a part of the node told of every update the hub reads from
// the log's tail, in log order (hub.Config.Observe). Observe must not
// block.
type follower interface {
	Observe(eventlog.Update)
}

// snapshotter gives a new subscriber the current state of what it listens
// to before live updates (hub.Config.Snapshots): the jobs manager.
type snapshotter interface {
	Snapshots(match func(topic string) bool) []eventlog.Update
}

// tail is the hub's side of the round trip with the parts that publish
// through the hub and follow what it reads (the jobs manager, the
// dashboard): the hub is built first, on tail's methods; the parts next,
// on the hub; then start hands them to tail. Until start, an update the
// hub reads waits in Observe, so none is missed, and a subscriber gets no
// snapshots (none can arrive before the node is built).
type tail struct {
	ready chan struct{} // closed by start or release
	once  sync.Once

	// Set before ready is closed, read only after.
	followers []follower
	snapshots snapshotter
}

func newTail() *tail { return &tail{ready: make(chan struct{})} }

// start hands tail the parts the hub feeds, in the order they are told of
// each update, and lets the hub's reading through.
func (t *tail) start(snapshots snapshotter, followers ...follower) {
	t.once.Do(func() {
		t.snapshots, t.followers = snapshots, followers
		close(t.ready)
	})
}

// release lets the hub's reading through with no parts to feed, for a node
// whose construction failed; it does nothing after start.
func (t *tail) release() error {
	t.once.Do(func() { close(t.ready) })
	return nil
}

// Observe passes u to each follower, once they all exist.
func (t *tail) Observe(u eventlog.Update) {
	<-t.ready
	for _, f := range t.followers {
		f.Observe(u)
	}
}

// Snapshots returns the snapshotter's updates that match accepts.
func (t *tail) Snapshots(match func(topic string) bool) []eventlog.Update {
	select {
	case <-t.ready:
	default:
		return nil
	}
	if t.snapshots == nil {
		return nil
	}
	return t.snapshots.Snapshots(match)
}
