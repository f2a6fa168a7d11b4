package presence

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/heraldhub/herald/eventlog"
)

// DefaultHeartbeat is Config.Heartbeat's default.
const DefaultHeartbeat = 5 * time.Second

// silentBeats is how many heartbeat intervals a node may stay silent
// before the others report its subscribers gone.
const silentBeats = 3

// Timeouts of the tracker's appends and of its replay of the log at start.
const (
	appendTimeout = 5 * time.Second
	replayTimeout = 30 * time.Second
)

// Config configures a Tracker. Zero values mean the defaults in the
// comments.
type Config struct {
	// Log is the log the node publishes to, shared by the cluster's nodes.
	// Required.
	Log eventlog.Log
	// Node names this node among those sharing Log; it must not contain a
	// dot. Default: a random id, new at every start.
	Node string
	// Heartbeat is the interval between this node's heartbeats. A node
	// silent for three intervals is reported gone within four. Default
	// DefaultHeartbeat.
	Heartbeat time.Duration
	// Logger receives structured logs. Default slog.Default().
	Logger *slog.Logger
}

// Subscription is what Arrive is told of one subscription.
type Subscription struct {
	// Matchers are what the subscription listens to.
	Matchers []Matcher
	// Payload is the token's payload attached to the subscription, nil if
	// none; it must be valid JSON.
	Payload json.RawMessage
}

// Matcher is one matcher of a subscription: Match under Type (MatchExact,
// MatchURLPattern or MatchURITemplate).
type Matcher struct {
	Type, Match string
}

// filter counts the active subscriptions of one list of the API and
// keeps the id of its last event.
type filter struct {
	n    int
	last string
}

// filterOf names the 1.0 list of a match type and match (v1), or the 0.x
// list of a topic.
func filterOf(v1 bool, matchType, match string) string {
	if v1 {
		return "1 " + matchType + "\x00" + match
	}
	return "0 " + match
}

// count adds d to the subscriptions of e's two lists, forgetting a list
// left empty. t.mu is held.
func (t *Tracker) count(e *entry, d int) {
	for _, k := range []string{filterOf(true, e.matchType, e.match), filterOf(false, "", e.match)} {
		f := t.filters[k]
		if f == nil {
			f = &filter{}
			t.filters[k] = f
		}
		if f.n += d; f.n <= 0 {
			delete(t.filters, k)
		}
	}
}

// touch records id as the last event of list k, if it has subscriptions.
// t.mu is held.
func (t *Tracker) touch(k, id string) {
	if f := t.filters[k]; f != nil {
		f.last = id
	}
}

// key identifies an active subscription matcher.
type key struct{ matchType, match, subscriber string }

// Tracker publishes the arrivals and departures of this node's
// subscriptions and keeps those of every node sharing the log. Its methods
// are safe for concurrent use.
type Tracker struct {
	cfg Config
	log eventlog.Log
	ids atomic.Uint64

	tail sync.Mutex // held by the tail's callback and by a catch-up
	mu   sync.Mutex
	// entries are the active subscription matchers of every node.
	entries map[key]*entry
	// seen is when each node was last heard of; reaped when the events
	// reporting a silent node's subscribers gone were last queued.
	seen, reaped map[string]time.Time
	// seq and lastID are the last update applied; lastV1 and lastV0 the
	// ids of the last subscription events of each shape.
	seq                    uint64
	lastID, lastV1, lastV0 string
	// filters are the lists the API answers below Prefix with subscriptions
	// in them, each with the id of its last event (see filterOf).
	filters map[string]*filter
	// own are this node's open subscriptions, by subscriber id.
	own map[string][]*entry

	qmu       sync.Mutex
	queue     []eventlog.Update
	closed    bool
	abandoned atomic.Bool
	wake      chan struct{}
	drain     chan struct{}
	stopBeat  chan struct{}

	ctx       context.Context
	cancel    context.CancelFunc
	workers   sync.WaitGroup
	following chan struct{}
	closeOnce sync.Once
}

// New starts a tracker on cfg.Log: it replays the log to learn the
// subscriptions already active, follows its tail and starts the node's
// heartbeat. Close stops it.
func New(cfg Config) (*Tracker, error) {
	if cfg.Log == nil {
		return nil, errors.New("presence: Config.Log is required")
	}
	if cfg.Node == "" {
		var b [8]byte
		rand.Read(b[:])
		cfg.Node = "n" + hex.EncodeToString(b[:])
	}
	if strings.Contains(cfg.Node, ".") {
		return nil, errors.New("presence: Config.Node must not contain a dot")
	}
	if cfg.Heartbeat <= 0 {
		cfg.Heartbeat = DefaultHeartbeat
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	t := &Tracker{
		cfg: cfg, log: cfg.Log,
		entries: map[key]*entry{}, filters: map[string]*filter{}, own: map[string][]*entry{}, seen: map[string]time.Time{}, reaped: map[string]time.Time{},
		wake: make(chan struct{}, 1), drain: make(chan struct{}), stopBeat: make(chan struct{}),
		following: make(chan struct{}),
	}
	t.ctx, t.cancel = context.WithCancel(context.Background())
	done, err := t.catchUp()
	if err != nil {
		t.cancel()
		return nil, err
	}
	go t.follow(done)
	t.workers.Add(2)
	go t.work()
	go t.beat()
	return t, nil
}

// Node returns the node's id.
func (t *Tracker) Node() string { return t.cfg.Node }

// Arrive publishes the arrival of s under a new random subscriber id, one
// event per matcher in each shape, and returns the function that publishes
// its departure (only the first call does). Neither blocks: events are
// appended in order by the tracker's own goroutine.
func (t *Tracker) Arrive(s Subscription) (leave func()) {
	sub := eventlog.NewID()
	var es []*entry
	seen := map[key]bool{}
	for _, m := range s.Matchers {
		k := key{m.Type, strings.ToValidUTF8(m.Match, "\uFFFD"), sub}
		if !seen[k] {
			seen[k] = true
			es = append(es, &entry{matchType: k.matchType, match: k.match, subscriber: sub, payload: s.Payload})
		}
	}
	t.mu.Lock()
	t.own[sub] = es
	t.mu.Unlock()
	t.enqueue(t.events(es, true))
	var once sync.Once
	return func() {
		once.Do(func() {
			t.mu.Lock()
			delete(t.own, sub)
			t.mu.Unlock()
			t.enqueue(t.events(es, false))
		})
	}
}

// events returns the subscription events of es in both shapes.
func (t *Tracker) events(es []*entry, active bool) []eventlog.Update {
	us := make([]eventlog.Update, 0, 2*len(es))
	for _, e := range es {
		ev, lg := e.event(active), e.legacy(active)
		v1, err1 := json.Marshal(ev)
		v0, err0 := json.Marshal(lg)
		if err := errors.Join(err1, err0); err != nil {
			t.cfg.Logger.Error("subscription event cannot be encoded", "subscriber", e.subscriber, "err", err)
			continue
		}
		us = append(us,
			eventlog.Update{ID: t.nextID(), Topics: []string{ev.ID}, Data: string(v1), Type: "mercure", Private: true},
			eventlog.Update{ID: t.nextID(), Topics: []string{lg.ID}, Data: string(v0), Private: true})
	}
	return us
}

// nextID returns a new event id naming this node, which tells the others
// whose subscription an event announces.
func (t *Tracker) nextID() string {
	return t.cfg.Node + "." + strconv.FormatUint(t.ids.Add(1), 10)
}

// nodeOf returns the node named by an event id made by nextID.
func nodeOf(id string) string {
	if i := strings.LastIndexByte(id, '.'); i >= 0 {
		return id[:i]
	}
	return ""
}

// enqueue queues us for the worker; after Close it drops them.
func (t *Tracker) enqueue(us []eventlog.Update) {
	t.qmu.Lock()
	if t.closed {
		t.qmu.Unlock()
		return
	}
	t.queue = append(t.queue, us...)
	t.qmu.Unlock()
	select {
	case t.wake <- struct{}{}:
	default:
	}
}

// work appends the queued events in order until Close, and then what is
// left.
func (t *Tracker) work() {
	defer t.workers.Done()
	for {
		t.qmu.Lock()
		q := t.queue
		t.queue = nil
		closed := t.closed
		t.qmu.Unlock()
		for _, u := range q {
			if t.abandoned.Load() {
				return
			}
			t.append(u)
		}
		if len(q) > 0 {
			continue
		}
		if closed {
			return
		}
		select {
		case <-t.wake:
		case <-t.drain:
		}
	}
}

// append appends u to the log, logging a failure.
func (t *Tracker) append(u eventlog.Update) {
	ctx, cancel := context.WithTimeout(context.Background(), appendTimeout)
	defer cancel()
	if _, err := t.log.Append(ctx, u); err != nil {
		t.cfg.Logger.Warn("subscription event not published", "topic", u.Topics[0], "err", err)
	}
}

// Close stops the heartbeat, appends the events still queued (the
// departures of the streams ended before it) and stops following the log.
func (t *Tracker) Close() error {
	t.closeOnce.Do(func() {
		close(t.stopBeat)
		t.qmu.Lock()
		t.closed = true
		t.qmu.Unlock()
		close(t.drain)
		t.workers.Wait()
		t.cancel()
		<-t.following
	})
	return nil
}

// abandon stops the tracker as a crash would: no more heartbeats and no
// departures.
func (t *Tracker) abandon() {
	t.abandoned.Store(true)
	t.Close()
}
