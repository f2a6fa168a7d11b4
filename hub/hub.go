package hub

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"runtime"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/heraldhub/herald/eventlog"
	"github.com/heraldhub/herald/hub/detach"
	"github.com/heraldhub/herald/sse"
)

// DefaultMaxRetry is Config.MaxRetry's default: the longest reconnection
// delay an update may ask for.
const DefaultMaxRetry = time.Minute

// Defaults for the settings that zero turns off. New does not fill them
// in: a caller that wants them sets them, as `herald serve` does from its
// flags' defaults.
const (
	// DefaultHeartbeat is the usual Config.Heartbeat: often enough for
	// the proxies that close a connection silent for 30 or 60 seconds.
	DefaultHeartbeat = 15 * time.Second
	// DefaultBatchWindow is the usual Config.BatchWindow.
	DefaultBatchWindow = 10 * time.Millisecond
	// DefaultShutdownRetryJitter is the usual Config.ShutdownRetryJitter:
	// how widely the reconnection delays told to subscribers at shutdown
	// are spread.
	DefaultShutdownRetryJitter = 3 * time.Second
)

// Config configures a Hub. Zero has one meaning per field, the same as on
// `herald serve`'s command line: for a setting that can be turned off
// (Heartbeat, BatchWindow, ShutdownRetryJitter), zero (or a negative value)
// turns it off, and its usual value is the exported Default* constant; for
// every other field, zero means the default given in its comment.
type Config struct {
	// Log stores and orders updates; the hub follows its tail. Required.
	Log eventlog.Log
	// QueueLen is how many frames a subscriber may have waiting before it is
	// disconnected as too slow. Default 4096.
	QueueLen int
	// QueueBytes is how many bytes a subscriber may have waiting before it
	// is disconnected as too slow. Default 4 MiB.
	QueueBytes int
	// Heartbeat is how long a stream may stay silent before the hub sends a
	// comment to keep proxies from closing it. Zero sends no heartbeats;
	// usually DefaultHeartbeat.
	Heartbeat time.Duration
	// WriteTimeout bounds each write to a subscriber; a client that does not
	// read for this long is disconnected. Default 10s.
	WriteTimeout time.Duration
	// ShutdownRetry is the reconnection delay sent to subscribers when the
	// hub closes, so that they come back once it (or another node) is up.
	// Default 2s.
	ShutdownRetry time.Duration
	// ShutdownRetryJitter spreads those reconnections: each stream is told
	// a delay drawn uniformly from [ShutdownRetry, ShutdownRetry +
	// ShutdownRetryJitter], in milliseconds, so that the subscribers of a
	// node that stops do not all reach the next one at once. Zero tells
	// every stream ShutdownRetry exactly; usually DefaultShutdownRetryJitter.
	ShutdownRetryJitter time.Duration
	// MaxDataBytes bounds an update's data. Default 1 MiB.
	MaxDataBytes int
	// MaxRetry bounds the reconnection delay an update may ask browsers
	// for: a longer one is refused (ErrInvalidRetry), since a browser keeps
	// it until the next retry field, cut off from the hub. Default 1m.
	MaxRetry time.Duration
	// Snapshots, if set, returns updates a new subscriber (one that does
	// not resume from an event id) receives first, before live updates;
	// match reports whether a topic is one the subscriber listens to and may
	// read. The updates are sent without an id.
	Snapshots func(match func(topic string) bool) []eventlog.Update
	// Observe, if set, is called with every update read from the log's
	// tail, in log order, from one goroutine, before it is fanned out. It
	// must not block.
	Observe func(eventlog.Update)
	// BatchWindow is the longest an update may wait to share a write with
	// the updates after it. After a quiet spell an update is written at
	// once; while updates keep coming, each stream is written at most once
	// per window, with everything queued for it, which divides
	// the system calls per delivery (the server's and the client's) under
	// load. Zero writes every update at once; usually DefaultBatchWindow.
	BatchWindow time.Duration
	// OnStreamEnd, if set, is called once for every stream Stream accepted,
	// when it ends, with its reason: ErrSlowSubscriber, ErrClosed,
	// ErrExpired, ErrClientGone, or another error (a failed replay),
	// possibly wrapped. It must not block.
	OnStreamEnd func(reason error)
	// OnReplay, if set, is called when a stream resuming from an event id
	// starts its replay: known is false when the id was answered as
	// "earliest" (never in the log, dropped by retention, or not one the
	// subscriber could have received), true otherwise (an explicit
	// "earliest" included). It must not block.
	OnReplay func(known bool)
	// OnDeliveryLag, if set, is called once per update with the time from
	// its append (eventlog.Update.Time) to when the first stream took its
	// frame to write it to the socket. One sample per update, not one per
	// delivery: the first stream to reach a frame claims it with one
	// atomic swap, so the per-delivery cost is one atomic load. It must
	// not block.
	OnDeliveryLag func(time.Duration)
	// NoDetach serves every stream from the goroutine of its HTTP request.
	// By default, HTTP/1.1 streams are detached from net/http once their
	// replay is written, and served by a few shared goroutines, so an idle
	// subscriber costs far less memory (HTTP/2 streams, and streams over
	// TLS, are never detached).
	NoDetach bool
	// Writer is how detached streams are written: "io_uring" (the
	// default, also for "") submits each flusher round's writes in
	// batches through io_uring, one system call per batch, and falls back
	// to "epoll", with a log line, where io_uring cannot be set up (an old
	// kernel, seccomp, or /proc/sys/kernel/io_uring_disabled); "epoll"
	// makes one writev(2) per stream and write.
	Writer string
	// Logger receives the hub's structured logs. Default slog.Default().
	Logger *slog.Logger
}

func (c *Config) setDefaults() {
	if c.QueueLen <= 0 {
		c.QueueLen = 4096
	}
	if c.QueueBytes <= 0 {
		c.QueueBytes = 4 << 20
	}
	c.Heartbeat = max(c.Heartbeat, 0)
	if c.WriteTimeout <= 0 {
		c.WriteTimeout = 10 * time.Second
	}
	c.BatchWindow = max(c.BatchWindow, 0)
	if c.ShutdownRetry <= 0 {
		c.ShutdownRetry = 2 * time.Second
	}
	c.ShutdownRetryJitter = max(c.ShutdownRetryJitter, 0)
	if c.MaxDataBytes <= 0 {
		c.MaxDataBytes = 1 << 20
	}
	if c.MaxRetry <= 0 {
		c.MaxRetry = DefaultMaxRetry
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
}

// appendFarewell appends the retry field a stream ends with when the hub
// closes: ShutdownRetry plus a uniformly random share of
// ShutdownRetryJitter, in whole milliseconds (the field's unit), and the
// blank line that ends the event.
func (c *Config) appendFarewell(dst []byte) []byte {
	d := c.ShutdownRetry
	if c.ShutdownRetryJitter > 0 {
		d += time.Millisecond * rand.N(c.ShutdownRetryJitter/time.Millisecond+1)
	}
	return append(sse.AppendRetry(dst, d), '\n')
}

// policy is how every stream is paced and when its client is too slow,
// in either serving mode.
func (c *Config) policy() detach.Policy {
	return detach.Policy{BatchWindow: c.BatchWindow, Heartbeat: c.Heartbeat, WriteTimeout: c.WriteTimeout}
}

// Errors returned by Publish for updates the hub refuses; nothing is stored.
var (
	ErrNoTopic      = errors.New("an update needs at least one topic")
	ErrInvalidID    = errors.New("an update id must not contain control or format characters, start with '#', or be \"earliest\"")
	ErrInvalidType  = errors.New("an update type must not contain control or format characters")
	ErrInvalidTopic = errors.New("an update topic must not contain control or format characters, nor be \"*\"")
	ErrInvalidRetry = errors.New("an update retry must not be negative nor above the hub's limit")
	ErrTooLarge     = errors.New("update data too large")
	ErrInvalidUTF8  = errors.New("an update's id, topics and data must be valid UTF-8")
	// ErrClosed reports use of a hub after Close.
	ErrClosed = errors.New("hub closed")
)

// Hub delivers updates published to its log to the subscribers whose
// selectors match them. Its methods are safe for concurrent use.
type Hub struct {
	cfg Config
	log eventlog.Log

	mu    sync.RWMutex
	index index

	subscribers atomic.Int64
	closing     chan struct{}
	closeOnce   sync.Once
	stopOnce    sync.Once
	cancel      context.CancelFunc
	done        <-chan struct{}
	lastSeq     atomic.Uint64
	engine      *detach.Engine // serves detached streams; nil with Config.NoDetach
	marks       *detach.Marks  // the detached streams the tail gave frames
	writes      atomic.Uint64  // live writes to streams served by a goroutine
	queued      atomic.Uint64  // deliveries queued by fanOut (Stats.Deliveries)
	live        liveStreams    // the streams served by their own goroutine

}

// New starts a hub on cfg.Log: it begins following the log's tail and
// returns once it is positioned, so every update appended after New
// returns reaches matching subscribers. Close stops it.
func New(cfg Config) (*Hub, error) {
	if cfg.Log == nil {
		return nil, errors.New("hub: Config.Log is required")
	}
	cfg.setDefaults()
	switch cfg.Writer {
	case "", detach.WriterEpoll, detach.WriterIOURing:
	default:
		return nil, fmt.Errorf("hub: Config.Writer must be %s or %s, got %q", detach.WriterEpoll, detach.WriterIOURing, cfg.Writer)
	}
	h := &Hub{cfg: cfg, log: cfg.Log, closing: make(chan struct{}), index: newIndex()}
	h.live = liveStreams{streams: make(map[*stream]struct{}), done: make(chan struct{})}
	if !cfg.NoDetach {
		e, err := detach.New(detach.Config{
			Policy:   cfg.policy(),
			Farewell: func() []byte { return cfg.appendFarewell(nil) },
			Writers:  4 * runtime.GOMAXPROCS(0),
			Flushers: runtime.GOMAXPROCS(0),
			Writer:   cfg.Writer,
		})
		if err == nil {
			h.engine, h.marks = e, e.NewMarks()
			if w, why := e.Writer(); why != nil {
				cfg.Logger.Info("io_uring is unavailable: detached streams are written with writev", "writer", w, "err", why)
			}
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	done, err := cfg.Log.Follow(ctx, h.fanOut)
	if err != nil {
		cancel()
		if h.engine != nil {
			h.engine.Close()
		}
		return nil, fmt.Errorf("hub: follow the log: %w", err)
	}
	h.cancel = cancel
	stopped := make(chan struct{})
	h.done = stopped
	go h.keepFollowing(ctx, done, stopped)
	go h.sweep()
	return h, nil
}

// Publish validates u and appends it to the log, returning the stored
// update with its id. Delivery happens from the log's tail, on every node
// that follows the log, not from Publish.
func (h *Hub) Publish(ctx context.Context, u eventlog.Update) (eventlog.Update, error) {
	if err := h.Validate(u); err != nil {
		return eventlog.Update{}, err
	}
	select {
	case <-h.closing:
		return eventlog.Update{}, ErrClosed
	default:
	}
	return h.log.Append(ctx, u)
}

// Validate reports why u cannot be published, or nil if it can.
func (h *Hub) Validate(u eventlog.Update) error {
	switch {
	case len(u.Topics) == 0:
		return ErrNoTopic
	case u.ID != "" && (!sse.ValidID(u.ID) || u.ID[0] == '#' || u.ID == eventlog.Earliest):
		return ErrInvalidID
	case !sse.ValidType(u.Type):
		return ErrInvalidType
	case u.ID != "" && utf8.ValidString(u.ID) && CheckText(u.ID) != nil:
		return fmt.Errorf("%w: %v", ErrInvalidID, CheckText(u.ID))
	case CheckText(u.Type) != nil:
		return fmt.Errorf("%w: %v", ErrInvalidType, CheckText(u.Type))
	case u.Type == ResetType:
		return fmt.Errorf("%w: %q is reserved for the hub", ErrInvalidType, ResetType)
	case u.Retry < 0:
		return ErrInvalidRetry
	case u.Retry > h.cfg.MaxRetry:
		return fmt.Errorf("%w: %v asked, the limit is %v", ErrInvalidRetry, u.Retry, h.cfg.MaxRetry)
	case !utf8.ValidString(u.ID):
		// A browser would send the id back with U+FFFD in place of the
		// invalid bytes: an id the log does not hold, so every
		// reconnection would replay the whole history.
		return fmt.Errorf("%w: the id is not", ErrInvalidUTF8)
	case len(u.Data) > h.cfg.MaxDataBytes:
		return fmt.Errorf("%w: %d bytes, the limit is %d", ErrTooLarge, len(u.Data), h.cfg.MaxDataBytes)
	case !utf8.ValidString(u.Data):
		return fmt.Errorf("%w: the data is not", ErrInvalidUTF8)
	}
	for _, t := range u.Topics {
		switch {
		case t == "":
			return fmt.Errorf("%w: empty topic", ErrNoTopic)
		case !utf8.ValidString(t):
			return fmt.Errorf("%w: topic %q is not", ErrInvalidUTF8, t)
		case t == "*":
			return fmt.Errorf("%w: \"*\" selects every topic, so no update may have it as a topic", ErrInvalidTopic)
		case CheckText(t) != nil:
			return fmt.Errorf("%w: topic %q %v", ErrInvalidTopic, t, CheckText(t))
		}
	}
	return nil
}

// Stats counts what the hub did to deliver updates.
type Stats struct {
	// Writes is the number of writes of live updates (or heartbeats) to
	// streams; divided by the deliveries, it shows what batching saves.
	Writes uint64
	// Deferred is how often a detached stream's socket did not take its
	// bytes at once, leaving them pending until it has room: clients that
	// read slowly, or not at all.
	Deferred uint64
	// Deliveries is the number of live updates queued for subscribers:
	// one per update and subscriber it reaches (replays not counted).
	Deliveries uint64
}

// Stats returns the hub's counters since New.
func (h *Hub) Stats() Stats {
	s := Stats{Writes: h.writes.Load(), Deliveries: h.queued.Load()}
	if h.engine != nil {
		es := h.engine.Stats()
		s.Writes += es.Writes
		s.Deferred = es.Deferred
	}
	return s
}

// Subscribers returns the number of connected subscribers.
func (h *Hub) Subscribers() int { return int(h.subscribers.Load()) }

// Log returns the log the hub publishes to and follows.
func (h *Hub) Log() eventlog.Log { return h.log }

// Close ends every stream (telling clients when to reconnect), stops
// following the log and waits for the tail to stop. It does not close the
// log, which belongs to the caller.
func (h *Hub) Close() error {
	h.shutdown()
	h.stopOnce.Do(func() {
		if h.engine != nil {
			h.engine.Close()
		}
		h.cancel()
	})
	<-h.done
	<-h.live.done
	return nil
}

// keepFollowing restarts the tail if it stops while the hub runs (for
// example, a memory log's tail overtaken by retention). Updates the old tail
// did not deliver are not lost: every stream is ended, and its client
// reconnects with its last event id and replays them from the log.
func (h *Hub) keepFollowing(ctx context.Context, done <-chan struct{}, stopped chan<- struct{}) {
	defer close(stopped)
	backoff := 50 * time.Millisecond
	for {
		<-done
		if ctx.Err() != nil {
			return
		}
		h.cfg.Logger.Warn("log tail stopped; ending streams so clients resume from the log")
		h.mu.RLock()
		h.index.eachSubscriber(func(s *subscriber) { s.kick() })
		h.mu.RUnlock()
		for {
			var err error
			if done, err = h.log.Follow(ctx, h.fanOut); err == nil {
				break
			}
			if errors.Is(err, eventlog.ErrClosed) || ctx.Err() != nil {
				h.shutdown()
				return
			}
			h.cfg.Logger.Error("cannot follow the log; retrying", "err", err, "in", backoff)
			select {
			case <-time.After(backoff):
			case <-ctx.Done():
				return
			}
			backoff = min(2*backoff, 5*time.Second)
		}
	}
}

func (h *Hub) shutdown() {
	h.closeOnce.Do(func() { close(h.closing) })
}

// fanOut is the tail callback: it encodes u once and queues the frame for
// every subscriber that matches it.
func (h *Hub) fanOut(u eventlog.Update) {
	h.lastSeq.Store(u.Seq)
	if h.cfg.Observe != nil {
		h.cfg.Observe(u)
	}
	f, err := newFrame(u)
	if err != nil {
		h.cfg.Logger.Error("update cannot be encoded", "id", u.ID, "err", err)
		return
	}
	var n uint64 // counted once per update: never per delivery
	h.mu.RLock()
	h.index.each(u.Topics, u.Seq, func(s *subscriber) {
		if u.Private && !s.allowed.MatchAny(u.Topics) {
			return
		}
		n++
		if d := s.push(f); d != nil {
			h.marks.Add(d)
		}
	})
	h.mu.RUnlock()
	h.queued.Add(n)
	// Detached streams are written by the engine's flushers, outside the
	// lock (a write may end a stream, which takes the lock).
	if h.marks != nil {
		h.marks.Hand()
	}
}

// frame is one update encoded for the wire, shared by every subscriber.
type frame struct {
	seq uint64
	b   []byte
	// appended is when the update was appended (Unix nanoseconds), 0
	// once its delivery lag is observed (Config.OnDeliveryLag).
	appended atomic.Int64
}

// taken is called by a stream about to write f: the first stream to
// write an update reports its delivery lag; the others pay one atomic
// load.
func (h *Hub) taken(f *frame) {
	if h.cfg.OnDeliveryLag == nil || f.appended.Load() == 0 {
		return
	}
	if at := f.appended.Swap(0); at != 0 {
		h.cfg.OnDeliveryLag(time.Since(time.Unix(0, at)))
	}
}

func newFrame(u eventlog.Update) (*frame, error) {
	b, err := encodeUpdate(make([]byte, 0, len(u.Data)+len(u.ID)+len(u.Type)+32), u, true)
	if err != nil {
		return nil, err
	}
	f := &frame{seq: u.Seq, b: b}
	if !u.Time.IsZero() {
		f.appended.Store(u.Time.UnixNano())
	}
	return f, nil
}

// encodeUpdate appends u's SSE frame to dst, with its id if withID.
func encodeUpdate(dst []byte, u eventlog.Update, withID bool) ([]byte, error) {
	ev := sse.Event{Type: u.Type, Data: u.Data, Retry: u.Retry}
	if withID {
		ev.ID = u.ID
	}
	return sse.AppendEvent(dst, &ev)
}
