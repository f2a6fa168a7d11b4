package jobhook

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"

	"github.com/heraldhub/herald/eventlog"
	"github.com/heraldhub/herald/internal/outbound"
	"github.com/heraldhub/herald/jobs"
)

// RecordPrefix is the prefix of the reserved private topics of delivery
// records; EventType their type.
const (
	RecordPrefix = "/.well-known/mercure/herald/webhooks/jobs/"
	EventType    = "herald-webhook"
)

// Config configures a Sender.
type Config struct {
	// Log holds the jobs' events and the delivery records. Required.
	Log eventlog.Log
	// Allow names the hosts callbacks may go to.
	Allow outbound.Allowlist
	// Policy says how each webhook is tried; its Deadline (default 24h)
	// bounds the retries.
	Policy outbound.Policy
	// Secret signs the webhooks (package webhook). Required.
	Secret []byte
	// Logger receives the sender's logs. Default slog.Default().
	Logger *slog.Logger
}

// Sender delivers completion webhooks. Its methods are safe for concurrent
// use.
type Sender struct {
	cfg    Config
	engine *outbound.Engine

	mu        sync.Mutex
	histories map[string]*outbound.History // by job id
	inflight  map[string]bool
	delivered map[string]bool
	workers   outbound.Workers
}

// record is the data of a delivery record.
type record struct {
	Job        string             `json:"job"`
	Deliveries []outbound.Attempt `json:"deliveries"`
}

// New returns a sender; Close stops it.
func New(cfg Config) (*Sender, error) {
	if cfg.Log == nil || len(cfg.Secret) == 0 {
		return nil, errors.New("jobhook: Config.Log and Config.Secret are required")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return &Sender{
		cfg: cfg, engine: outbound.New(cfg.Allow, cfg.Policy),
		histories: map[string]*outbound.History{}, inflight: map[string]bool{}, delivered: map[string]bool{},
	}, nil
}

// Check accepts a callback URL whose host is allowed
// (jobs.Config.CheckCallback).
func (s *Sender) Check(url string) error { return s.cfg.Allow.Check(url) }

// Close stops the deliveries under way (they are repeated after a
// restart) and waits for them.
func (s *Sender) Close() error {
	s.workers.Stop()
	s.engine.Close()
	return nil
}

// Ended starts the webhook of a job that ended (jobs.Config.Ended); it
// does not block.
func (s *Sender) Ended(snap jobs.Snapshot) {
	if snap.Callback == "" || !snap.State.Final() {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.inflight[snap.ID] || s.delivered[snap.ID] {
		return
	}
	if _, ok := s.workers.Go(func(ctx context.Context) { s.deliver(ctx, snap) }); ok {
		s.inflight[snap.ID] = true
	}
}

// deliver sends snap's webhook until acknowledged or given up, and records
// a success in the log.
func (s *Sender) deliver(ctx context.Context, snap jobs.Snapshot) {
	defer func() {
		s.mu.Lock()
		delete(s.inflight, snap.ID)
		s.mu.Unlock()
	}()
	body, err := json.Marshal(snap)
	if err != nil {
		return
	}
	h := s.history(snap.ID)
	target := outbound.Target{URL: snap.Callback, Secret: s.cfg.Secret}
	err = s.engine.Deliver(ctx, target, snap.ID, body, h.Add)
	if ctx.Err() != nil {
		return
	}
	if err != nil {
		s.cfg.Logger.Warn("job webhook given up", "id", snap.ID, "err", err)
		return
	}
	s.mu.Lock()
	s.delivered[snap.ID] = true
	s.mu.Unlock()
	data, _ := json.Marshal(record{Job: snap.ID, Deliveries: h.List()})
	u := eventlog.Update{Topics: []string{RecordPrefix + snap.ID}, Type: EventType, Data: string(data), Private: true}
	if _, err := s.cfg.Log.Append(ctx, u); err != nil {
		s.cfg.Logger.Warn("job webhook delivered but not recorded; it may be sent again after a restart", "id", snap.ID, "err", err)
	}
}

// history returns the delivery log of job id, making it if needed.
func (s *Sender) history(id string) *outbound.History {
	s.mu.Lock()
	defer s.mu.Unlock()
	h := s.histories[id]
	if h == nil {
		h = &outbound.History{}
		s.histories[id] = h
	}
	return h
}

// Deliveries returns the delivery log of job id (this node's attempts, or
// those of the recorded delivery), and false if there is none.
func (s *Sender) Deliveries(id string) ([]outbound.Attempt, bool) {
	s.mu.Lock()
	h := s.histories[id]
	s.mu.Unlock()
	if h == nil {
		return nil, false
	}
	return h.List(), true
}

// Observe takes an update the node read from the log: a delivery record,
// from any node, marks its job delivered.
func (s *Sender) Observe(u eventlog.Update) {
	if u.Type != EventType || len(u.Topics) == 0 || !strings.HasPrefix(u.Topics[0], RecordPrefix) {
		return
	}
	var r record
	if err := json.Unmarshal([]byte(u.Data), &r); err != nil || u.Topics[0] != RecordPrefix+r.Job {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.delivered[r.Job] = true
	if s.histories[r.Job] == nil {
		h := &outbound.History{}
		for _, a := range r.Deliveries {
			h.Add(a)
		}
		s.histories[r.Job] = h
	}
}

// Recover replays the log and delivers the webhook of every job that
// ended with a callback and has no delivery record.
func (s *Sender) Recover(ctx context.Context) error {
	pending := map[string]jobs.Snapshot{}
	var order []string
	_, err := s.cfg.Log.Since(ctx, eventlog.Earliest, func(u eventlog.Update) bool {
		s.Observe(u)
		if snap, ok := ended(u); ok {
			if _, seen := pending[snap.ID]; !seen {
				order = append(order, snap.ID)
			}
			pending[snap.ID] = snap
		}
		return ctx.Err() == nil
	})
	for _, id := range order {
		s.mu.Lock()
		done := s.delivered[id]
		s.mu.Unlock()
		if !done {
			s.Ended(pending[id])
		}
	}
	if err != nil {
		return fmt.Errorf("recover job webhooks: %w", err)
	}
	return nil
}

// ended returns the final snapshot a job event carries, if it is one with
// a callback.
func ended(u eventlog.Update) (jobs.Snapshot, bool) {
	switch u.Type {
	case jobs.EventDone, jobs.EventFailed, jobs.EventCancelled:
	default:
		return jobs.Snapshot{}, false
	}
	if len(u.Topics) == 0 || !strings.HasPrefix(u.Topics[0], jobs.TopicPrefix) || !strings.Contains(u.Data, `"callback"`) {
		return jobs.Snapshot{}, false
	}
	var snap jobs.Snapshot
	if err := json.Unmarshal([]byte(u.Data), &snap); err != nil || snap.Callback == "" || !snap.State.Final() || u.Topics[0] != jobs.TopicPrefix+snap.ID {
		return jobs.Snapshot{}, false
	}
	return snap, true
}
