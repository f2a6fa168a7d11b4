package eventlog

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// DefaultRetain is how many updates a Memory retains when NewMemory is
// given a retain count of zero or less.
const DefaultRetain = 10_000

// chunk is how many updates Since and Follow copy out of the ring per lock
// acquisition; fn is always called with the lock released.
const chunk = 256

// Memory is a Log held in process memory: a ring of the last retain
// updates with an index from id to Seq, so Append, duplicate detection
// and positioning Since are O(1). Nothing survives the process; use it for
// tests and for hubs whose history may be lost on restart.
//
// An id appended again with ReuseID resolves to its first retained
// occurrence; when retention drops that one, the id resolves to its next
// retained occurrence, and it is free again once none is retained.
//
// Seq starts at 1. An update appended without an id is given a random
// (version 4) UUID in the form "urn:uuid:xxxxxxxx-xxxx-4xxx-yxxx-xxxxxxxxxxxx",
// unique across logs and processes. Append copies the Topics slice, and
// the updates passed to fn by Since and Follow share the stored Topics: fn
// may keep them as long as it does not modify them.
//
// Appends never wait for tails. A tail (or a replay in progress) whose
// next update was dropped by retention before it read it stops: Follow's
// tail closes done without calling fn again, and Since returns an error
// wrapping ErrUnknownID. Either way fn has seen a gapless prefix, and
// Overtaken counts the event. With the hub's non-blocking fan-out this
// takes a tail retain updates behind, which does not happen in practice.
type Memory struct {
	retain    int
	closed    atomic.Bool
	overtaken atomic.Uint64
	tails     sync.WaitGroup

	mu      sync.Mutex
	ring    []Update            // grows to retain; then seq s lives at ring[(s-1)%retain]
	index   map[string]uint64   // id -> Seq of the first retained update with that id
	reused  map[string][]uint64 // id -> Seqs of its later retained updates (ReuseID), ascending
	next    uint64              // Seq of the next append
	changed chan struct{}       // closed (and replaced) on every append and on Close
}

var _ Log = (*Memory)(nil)

// NewMemory returns an empty in-memory log that retains the last retain
// updates, or DefaultRetain if retain <= 0.
func NewMemory(retain int) *Memory {
	if retain <= 0 {
		retain = DefaultRetain
	}
	return &Memory{
		retain:  retain,
		index:   make(map[string]uint64),
		reused:  make(map[string][]uint64),
		next:    1,
		changed: make(chan struct{}),
	}
}

// Append stores u and returns it with Seq, Time and, if u.ID is empty, ID
// set. It fails with ErrDuplicateID if u.ID is retained and u.ReuseID is
// not set, with an error if
// u.ID contains CR, LF or NUL or is Earliest, and with ErrClosed after
// Close; on error nothing is stored. It never waits for tails.
func (m *Memory) Append(ctx context.Context, u Update) (Update, error) {
	if err := ctx.Err(); err != nil {
		return Update{}, err
	}
	if err := CheckID(u.ID); err != nil {
		return Update{}, err
	}
	generated := u.ID == ""
	if generated {
		u.ID = NewID()
	}
	u.Topics = slices.Clone(u.Topics)

	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed.Load() {
		return Update{}, ErrClosed
	}
	reuse := false
	for {
		if _, taken := m.index[u.ID]; !taken {
			break
		}
		if !generated {
			if !u.ReuseID {
				return Update{}, fmt.Errorf("append %q: %w", u.ID, ErrDuplicateID)
			}
			reuse = true
			break
		}
		u.ID = NewID() // a publisher chose this very UUID: draw again
	}
	u.ReuseID = false
	u.Seq = m.next
	m.next++
	u.Time = time.Now().Round(0)
	if len(m.ring) < m.retain {
		m.ring = append(m.ring, u)
	} else {
		slot := &m.ring[(u.Seq-1)%uint64(m.retain)]
		m.forget(slot.ID)
		*slot = u
	}
	if reuse {
		m.reused[u.ID] = append(m.reused[u.ID], u.Seq)
	} else {
		m.index[u.ID] = u.Seq
	}
	close(m.changed)
	m.changed = make(chan struct{})
	return u, nil
}

// Since calls fn for each retained update after id's first retained
// occurrence (every retained update if id is Earliest), in log order, until fn returns false or the update
// that was last when Since was called has been passed. fn is called
// without any lock held and may itself Append. Since returns ErrUnknownID,
// having called fn for nothing, if id is not retained, and an error
// wrapping ErrUnknownID if retention drops an update before the replay
// reaches it.
func (m *Memory) Since(ctx context.Context, id string, fn func(Update) bool) (Update, error) {
	m.mu.Lock()
	if m.closed.Load() {
		m.mu.Unlock()
		return Update{}, ErrClosed
	}
	var from Update
	after := m.first() - 1
	if id != Earliest {
		seq, ok := m.index[id]
		if !ok {
			m.mu.Unlock()
			return Update{}, fmt.Errorf("since %q: %w", id, ErrUnknownID)
		}
		from, after = m.ring[(seq-1)%uint64(m.retain)], seq
	}
	end := m.next - 1
	m.mu.Unlock()

	buf := make([]Update, 0, min(chunk, end-after))
	for after < end {
		if err := ctx.Err(); err != nil {
			return Update{}, err
		}
		var err error
		if buf, err = m.copyAfter(buf[:0], after, end); err != nil {
			return Update{}, fmt.Errorf("since %q: %w", id, err)
		}
		for _, u := range buf {
			if !fn(u) {
				return from, nil
			}
		}
		after = buf[len(buf)-1].Seq
	}
	return from, nil
}

// Follow starts a tail at the current end of the log; see Log.Follow. fn
// runs on the tail's own goroutine, without any lock held, and must not
// call Close. The tail stops, closing done, when ctx is done, when the log
// is closed, or when retention drops an update it has not yet read (see
// Memory).
func (m *Memory) Follow(ctx context.Context, fn func(Update)) (<-chan struct{}, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed.Load() {
		return nil, ErrClosed
	}
	after := m.next - 1
	done := make(chan struct{})
	m.tails.Add(1)
	go m.tail(ctx, after, fn, done)
	return done, nil
}

// tail passes every update after Seq after to fn until ctx is done, the
// log is closed or retention overtakes it.
func (m *Memory) tail(ctx context.Context, after uint64, fn func(Update), done chan<- struct{}) {
	defer m.tails.Done()
	defer close(done)
	buf := make([]Update, 0, 16)
	for {
		m.mu.Lock()
		changed := m.changed
		end := m.next - 1
		m.mu.Unlock()
		if m.closed.Load() {
			return
		}
		if after == end {
			select {
			case <-ctx.Done():
				return
			case <-changed:
				continue
			}
		}
		var err error
		if buf, err = m.copyAfter(buf[:0], after, end); err != nil {
			return
		}
		for _, u := range buf {
			if ctx.Err() != nil || m.closed.Load() {
				return
			}
			fn(u)
		}
		after = buf[len(buf)-1].Seq
	}
}

// copyAfter appends to dst up to chunk updates with Seq in (after, end],
// which must be non-empty. It fails with ErrUnknownID if the update after
// after is no longer retained, and with ErrClosed after Close.
func (m *Memory) copyAfter(dst []Update, after, end uint64) ([]Update, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed.Load() {
		return dst, ErrClosed
	}
	if after+1 < m.first() {
		m.overtaken.Add(1)
		return dst, fmt.Errorf("update %d was dropped by retention before it was read: %w", after+1, ErrUnknownID)
	}
	r := uint64(m.retain)
	for s := after + 1; s <= end && len(dst) < chunk; s++ {
		dst = append(dst, m.ring[(s-1)%r])
	}
	return dst, nil
}

// forget removes the oldest retained occurrence of id, which retention
// drops, from the index: id then resolves to its next retained
// occurrence, if any. m.mu must be held.
func (m *Memory) forget(id string) {
	later := m.reused[id]
	if len(later) == 0 {
		delete(m.index, id)
		return
	}
	m.index[id] = later[0]
	if len(later) == 1 {
		delete(m.reused, id)
	} else {
		m.reused[id] = later[1:]
	}
}

// first returns the Seq of the oldest retained update, or m.next if the
// log is empty. m.mu must be held.
func (m *Memory) first() uint64 {
	return m.next - uint64(len(m.ring))
}

// Overtaken returns how many tails and replays have stopped because
// retention dropped an update before they read it.
func (m *Memory) Overtaken() uint64 { return m.overtaken.Load() }

// Close stops every tail and waits for them to return; later calls fail
// with ErrClosed. Calling Close again does nothing and returns nil.
func (m *Memory) Close() error {
	m.mu.Lock()
	if !m.closed.Swap(true) {
		close(m.changed)
		m.ring, m.index, m.reused = nil, nil, nil
	}
	m.mu.Unlock()
	m.tails.Wait()
	return nil
}
