package jobs

// The Manager, its configuration and the questions it answers about the
// jobs it knows. The rest of the Manager lives by concern: spec.go (what a
// job, a report and an outcome may hold), lifecycle.go (create, progress,
// finish, cancel and publication), eta.go (the estimates), cluster.go
// (other nodes' events, recovery and snapshots for new subscribers) and
// timers.go (coalescing, stalls and forgetting).

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/heraldhub/herald/eventlog"
)

// Publisher appends updates to the log the hub fans out from; *hub.Hub
// implements it.
type Publisher interface {
	Publish(ctx context.Context, u eventlog.Update) (eventlog.Update, error)
}

// Errors callers act on. The HTTP API maps them to statuses.
var (
	ErrUnknownJob      = errors.New("no such job (finished jobs are forgotten after a while)")
	ErrJobExists       = errors.New("a job with this id already exists")
	ErrFinished        = errors.New("the job is already finished")
	ErrInvalid         = errors.New("invalid job report")
	ErrCancelRequested = errors.New("cancel requested: finish the job as cancelled")
)

// TopicPrefix is the prefix of every job's topic: "jobs/{id}".
const TopicPrefix = "jobs/"

// Config configures a Manager. Zero values mean the defaults in comments.
type Config struct {
	// Publisher publishes the jobs' events. Required.
	Publisher Publisher
	// MinInterval is the shortest time between two progress events of one
	// job; reports in between are coalesced (latest wins). Default 250ms.
	MinInterval time.Duration
	// StallAfter marks a running job stalled after this long without a
	// report. Default 30s.
	StallAfter time.Duration
	// KeepFinished is how long a finished job is remembered (its snapshot
	// answered and sent to new subscribers). Default 1h.
	KeepFinished time.Duration
	// ForgetStalled is how long a stalled job is remembered without any
	// report, so that jobs whose workers died do not pile up. Default 24h.
	ForgetStalled time.Duration
	// LogLines is how many of each job's last log lines are retained
	// (older ones are dropped, and readers told how many). Default 1000.
	LogLines int
	// CheckCallback accepts or refuses a job's completion webhook URL;
	// nil refuses every one (webhooks are off).
	CheckCallback func(url string) error
	// Ended, if set, is called with the final snapshot of each job this
	// node ends, once it is published (where completion webhooks start).
	// It must not block.
	Ended func(Snapshot)
	// Now returns the current time. Default time.Now.
	Now func() time.Time
	// Logger receives the manager's logs. Default slog.Default().
	Logger *slog.Logger
}

// setDefaults replaces zero values with the defaults documented on Config.
func (c *Config) setDefaults() {
	if c.MinInterval <= 0 {
		c.MinInterval = 250 * time.Millisecond
	}
	if c.StallAfter <= 0 {
		c.StallAfter = 30 * time.Second
	}
	if c.KeepFinished <= 0 {
		c.KeepFinished = time.Hour
	}
	if c.ForgetStalled <= 0 {
		c.ForgetStalled = 24 * time.Hour
	}
	if c.LogLines <= 0 {
		c.LogLines = 1000
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
}

// Manager creates jobs, takes their reports and keeps their snapshots. Its
// methods are safe for concurrent use.
//
// In a cluster every node runs one, fed by Observe with every update the
// node follows, so that any node answers for any job and continues it from
// its snapshot. Each node runs its own timer (see Config): it publishes the
// reports it coalesced, marks stalled the running jobs it last wrote after
// StallAfter of silence (and those another node last wrote after twice
// that, in case that node is gone), and forgets finished and long-stalled
// jobs.
type Manager struct {
	cfg Config

	mu     sync.Mutex
	jobs   map[string]*entry
	queues map[string]*queue // by name

	hmu     sync.Mutex       // guards history; taken after mu, never before
	history map[string]*runs // by kind

	stop      chan struct{}
	closeOnce sync.Once
	wg        sync.WaitGroup
}

// entry is one job as this node knows it. Times are this node's clock.
type entry struct {
	snap      Snapshot
	published time.Time  // when this node last published its snapshot
	dirty     bool       // a change is waiting to be published
	lastSeen  time.Time  // the last report, or newer event observed
	ended     time.Time  // when this node learned the job was finished
	local     bool       // this node wrote the job's latest state
	log       lines      // the job's last log lines
	writing   sync.Mutex // held while lines are numbered and published
}

// checkCallback refuses a callback URL that Config.CheckCallback does not
// accept, with ErrInvalid.
func (m *Manager) checkCallback(url string) error {
	switch {
	case url == "":
		return nil
	case m.cfg.CheckCallback == nil:
		return fmt.Errorf("%w: callback: completion webhooks are off (start herald with --webhook-allow HOST)", ErrInvalid)
	}
	if err := m.cfg.CheckCallback(url); err != nil {
		return fmt.Errorf("%w: callback: %v", ErrInvalid, err)
	}
	return nil
}

// NewManager starts a manager and its timer; Close stops it.
func NewManager(cfg Config) (*Manager, error) {
	if cfg.Publisher == nil {
		return nil, errors.New("jobs: Config.Publisher is required")
	}
	cfg.setDefaults()
	m := &Manager{cfg: cfg, jobs: make(map[string]*entry), queues: make(map[string]*queue),
		history: make(map[string]*runs), stop: make(chan struct{})}
	m.wg.Add(1)
	go m.ticker()
	return m, nil
}

// Close stops the manager's timer, publishing any coalesced reports first.
// The manager still answers calls after Close, but no longer coalesces,
// watches for stalls or forgets jobs.
func (m *Manager) Close() error {
	m.closeOnce.Do(func() {
		close(m.stop)
		m.wg.Wait()
		m.flush(true)
	})
	return nil
}

// lookup returns the entry of job id, or ErrUnknownJob; the caller holds
// m.mu.
func (m *Manager) lookup(id string) (*entry, error) {
	e, ok := m.jobs[id]
	if !ok {
		return nil, fmt.Errorf("%w: %q", ErrUnknownJob, id)
	}
	return e, nil
}

// unfinished returns the entry of job id, or ErrUnknownJob, or ErrFinished
// if the job is finished; the caller holds m.mu.
func (m *Manager) unfinished(id string) (*entry, error) {
	e, err := m.lookup(id)
	if err != nil {
		return nil, err
	}
	if e.snap.State.Final() {
		return nil, fmt.Errorf("%w: %q is %s", ErrFinished, id, e.snap.State)
	}
	return e, nil
}

// Get returns a job's current snapshot.
func (m *Manager) Get(id string) (Snapshot, error) {
	m.mu.Lock()
	e, err := m.lookup(id)
	if err != nil {
		m.mu.Unlock()
		return Snapshot{}, err
	}
	s := e.snap
	m.mu.Unlock()
	m.view(&s, m.cfg.Now())
	return s, nil
}

// view computes what s shows at now: percent, rate, ETA and its range, and
// a queued job's place; the caller does not hold m.mu.
func (m *Manager) view(s *Snapshot, now time.Time) {
	s.compute(now)
	m.withHistory(s, now)
	m.mu.Lock()
	m.place(s, now)
	m.mu.Unlock()
}

// List returns the snapshots of every job this node knows, newest first.
func (m *Manager) List() []Snapshot {
	return m.collect(func(string) bool { return true })
}

// collect returns the computed snapshots of the jobs whose topic match
// accepts, newest first.
func (m *Manager) collect(match func(topic string) bool) []Snapshot {
	m.mu.Lock()
	var out []Snapshot
	for _, e := range m.jobs {
		if match(e.snap.Topic) {
			out = append(out, e.snap)
		}
	}
	m.mu.Unlock()
	now := m.cfg.Now()
	for i := range out {
		m.view(&out[i], now)
	}
	slices.SortFunc(out, func(a, b Snapshot) int {
		if c := b.Created.Compare(a.Created); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
	return out
}
