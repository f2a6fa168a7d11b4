package push

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"

	"github.com/heraldhub/herald/auth"
	"github.com/heraldhub/herald/eventlog"
	"github.com/heraldhub/herald/hub"
	"github.com/heraldhub/herald/internal/outbound"
)

// Config configures a Pusher. Zero values mean the defaults in comments.
type Config struct {
	// Log stores the subscriptions and is what they deliver from.
	// Required.
	Log eventlog.Log
	// Allow names the hosts callbacks may go to. Required: an empty
	// allowlist means the feature is off (see Disabled).
	Allow outbound.Allowlist
	// Policy says how each delivery is tried. MaxAttempts defaults to 10
	// here: a subscription whose delivery fails that many times in a row,
	// or past Policy.Deadline, is paused.
	Policy outbound.Policy
	// Node names this node; a subscription is delivered by the node that
	// created it. Required.
	Node string
	// SecretKey, 32 bytes kept by this node, seals the subscriptions'
	// secrets in the log; nil stores them in the clear.
	SecretKey []byte
	// MaxSubscriptions bounds the push subscriptions the cluster holds
	// (each has a worker on the node that created it); one more is
	// refused with 429. Default DefaultMaxSubscriptions.
	MaxSubscriptions int
	// Logger receives the pusher's logs. Default slog.Default().
	Logger *slog.Logger
}

// DefaultMaxSubscriptions is Config.MaxSubscriptions' default.
const DefaultMaxSubscriptions = 1000

// Pusher keeps the push subscriptions of every node and delivers those of
// this node. Its methods are safe for concurrent use.
type Pusher struct {
	cfg    Config
	engine *outbound.Engine

	mu      sync.Mutex
	subs    map[string]*sub
	workers outbound.Workers
}

// sub is one subscription as this node knows it; fields below def are
// guarded by the pusher's mu.
type sub struct {
	def  Definition
	sels hub.Selectors

	state, reason string
	cursor        string // the last delivered update, or the creation record
	cursorSeq     uint64
	scanned       string // the last update the worker looked at
	scannedSeq    uint64
	failures      int // failed attempts in a row
	history       outbound.History
	wake          chan struct{}
	stop          context.CancelFunc // the running worker's, if any
}

// New returns a pusher; call Recover to load the subscriptions the log
// holds and start delivering this node's, and Close to stop.
func New(cfg Config) (*Pusher, error) {
	if cfg.Log == nil || cfg.Node == "" {
		return nil, errors.New("push: Config.Log and Config.Node are required")
	}
	if cfg.Allow.Empty() {
		return nil, errors.New("push: no callback host is allowed")
	}
	if cfg.MaxSubscriptions <= 0 {
		cfg.MaxSubscriptions = DefaultMaxSubscriptions
	}
	if cfg.Policy.MaxAttempts <= 0 {
		cfg.Policy.MaxAttempts = 10
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return &Pusher{cfg: cfg, engine: outbound.New(cfg.Allow, cfg.Policy), subs: map[string]*sub{}}, nil
}

// Close stops every delivery and waits for the workers; a delivery cut
// short is repeated after a restart.
func (p *Pusher) Close() error {
	p.workers.Stop()
	p.engine.Close()
	return nil
}

// Recover replays the log's records, then starts delivering this node's
// active subscriptions from their cursors. Call it once the node follows
// the log (Observe), so that no record falls in between.
func (p *Pusher) Recover(ctx context.Context) error {
	_, err := p.cfg.Log.Since(ctx, eventlog.Earliest, func(u eventlog.Update) bool {
		if r, ok := decodeRecord(u); ok {
			p.mu.Lock()
			p.apply(r, u)
			p.mu.Unlock()
		}
		return ctx.Err() == nil
	})
	p.mu.Lock()
	for _, s := range p.subs {
		p.startWorker(s)
	}
	p.mu.Unlock()
	if err != nil {
		return fmt.Errorf("recover push subscriptions: %w", err)
	}
	return nil
}

// Observe takes an update the node read from the log, from any node: a
// record changes the subscription it names; any other update wakes this
// node's active workers. It does no I/O.
func (p *Pusher) Observe(u eventlog.Update) {
	r, ok := decodeRecord(u)
	p.mu.Lock()
	defer p.mu.Unlock()
	if ok {
		p.apply(r, u)
		return
	}
	if reserved(u.Topics) {
		return
	}
	for _, s := range p.subs {
		if s.stop != nil && s.state == Active {
			s.poke()
		}
	}
}

// apply changes the subscriptions by r, stored as u; the caller holds mu.
// Applying a record twice changes nothing more.
func (p *Pusher) apply(r record, u eventlog.Update) {
	s := p.subs[r.ID]
	switch {
	case r.Op == "create" && s == nil:
		sels, err := selectors(*r.Def)
		if err != nil {
			p.cfg.Logger.Warn("push subscription with invalid selectors ignored", "id", r.ID, "err", err)
			return
		}
		def := *r.Def
		if def.Node == p.cfg.Node {
			if def.Secret, err = open(p.cfg.SecretKey, def.Secret); err != nil {
				p.cfg.Logger.Warn("push subscription whose secret this node cannot open ignored", "id", r.ID, "err", err)
				return
			}
		}
		p.subs[r.ID] = &sub{def: def, sels: sels, state: Active, cursor: u.ID, cursorSeq: u.Seq, scanned: u.ID, scannedSeq: u.Seq, wake: make(chan struct{}, 1)}
	case s == nil:
	case r.Op == "cursor" && r.CursorSeq > s.cursorSeq:
		s.cursor, s.cursorSeq = r.Cursor, r.CursorSeq
		if s.stop == nil {
			s.scanned, s.scannedSeq = r.Cursor, r.CursorSeq
		}
	case r.Op == "pause" && s.state != Paused:
		s.state, s.reason = Paused, r.Reason
	case r.Op == "resume" && s.state != Active:
		s.state, s.reason, s.failures = Active, "", 0
		s.scanned, s.scannedSeq = s.cursor, s.cursorSeq
		s.poke()
	case r.Op == "delete":
		if s.stop != nil {
			s.stop()
		}
		delete(p.subs, r.ID)
	}
}

// poke wakes the subscription's worker, if it sleeps.
func (s *sub) poke() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// startWorker starts delivering s if this node owns it and no worker runs;
// the caller holds mu.
func (p *Pusher) startWorker(s *sub) {
	if s.stop != nil || s.def.Node != p.cfg.Node {
		return
	}
	if stop, ok := p.workers.Go(func(ctx context.Context) { p.run(ctx, s) }); ok {
		s.stop = stop
	}
}

// append stores a record of s in the log, and applies it.
func (p *Pusher) append(ctx context.Context, r record) (eventlog.Update, error) {
	u, err := r.update()
	if err != nil {
		return u, err
	}
	u, err = p.cfg.Log.Append(ctx, u)
	if err != nil {
		return u, fmt.Errorf("store push subscription %s: %w", r.ID, err)
	}
	p.mu.Lock()
	p.apply(r, u)
	p.mu.Unlock()
	return u, nil
}

// States counts the subscriptions known to this node by state (Active,
// Paused), for the herald_push_subscriptions metric.
func (p *Pusher) States() map[string]int {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := map[string]int{Active: 0, Paused: 0}
	for _, s := range p.subs {
		out[s.state]++
	}
	return out
}

// selectors parses a definition's topic selectors and matcher.
func selectors(d Definition) (hub.Selectors, error) {
	sels, err := hub.ParseSelectors(d.Topics)
	if err != nil {
		return nil, err
	}
	if d.Match != "" {
		typ := d.MatchType
		if typ == "" {
			typ = auth.MatchExact
		}
		sel, err := hub.ParseMatcher(typ, d.Match, d.Base)
		if err != nil {
			return nil, err
		}
		sels = append(sels, sel)
	}
	if len(sels) == 0 {
		return nil, errors.New("no topic selector")
	}
	return sels, nil
}
