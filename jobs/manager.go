package jobs

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
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
	// KeepFinished is how long a finished job is remembered. Default 1h.
	KeepFinished time.Duration
	// Now returns the current time. Default time.Now.
	Now func() time.Time
	// Logger receives the manager's logs. Default slog.Default().
	Logger *slog.Logger
}

// Manager creates jobs, takes their reports and keeps their snapshots. Its
// methods are safe for concurrent use.
type Manager struct {
	cfg Config

	mu   sync.Mutex
	jobs map[string]*entry

	stop chan struct{}
	wg   sync.WaitGroup
}

// entry is one job as this node knows it.
type entry struct {
	snap      Snapshot
	published time.Time // when this node last published its snapshot
	dirty     bool      // a coalesced report is waiting to be published
	lastSeen  time.Time // the last report or event, for the watchdog
}

// NewManager starts a manager; Close stops its timers.
func NewManager(cfg Config) (*Manager, error) {
	if cfg.Publisher == nil {
		return nil, errors.New("jobs: Config.Publisher is required")
	}
	if cfg.MinInterval <= 0 {
		cfg.MinInterval = 250 * time.Millisecond
	}
	if cfg.StallAfter <= 0 {
		cfg.StallAfter = 30 * time.Second
	}
	if cfg.KeepFinished <= 0 {
		cfg.KeepFinished = time.Hour
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	m := &Manager{cfg: cfg, jobs: make(map[string]*entry), stop: make(chan struct{})}
	m.wg.Add(1)
	go m.ticker()
	return m, nil
}

// Close stops the manager's timers, publishing any coalesced reports first.
func (m *Manager) Close() error {
	select {
	case <-m.stop:
		return nil
	default:
	}
	close(m.stop)
	m.wg.Wait()
	m.flush(true)
	return nil
}

// Spec describes a new job.
type Spec struct {
	// ID names the job; empty generates one. It becomes part of the topic.
	ID string `json:"id,omitempty"`
	// Title is shown to people watching.
	Title string `json:"title,omitempty"`
	// Stages lists the job's stages in order, with their weights.
	Stages []Stage `json:"stages,omitempty"`
	// Total is the first stage's amount of work, if known.
	Total float64 `json:"total,omitempty"`
	// Private jobs are visible only to subscribers authorized for the
	// job's topic.
	Private bool `json:"private,omitempty"`
}

// Report is one progress report.
type Report struct {
	Stage   string   `json:"stage,omitempty"`
	Done    float64  `json:"done"`
	Total   *float64 `json:"total,omitempty"`
	Message string   `json:"message,omitempty"`
}

// Outcome ends a job.
type Outcome struct {
	State  State           `json:"state"`
	Result json.RawMessage `json:"result,omitempty"`
	Error  string          `json:"error,omitempty"`
}

// validID reports whether id can name a job (and a topic segment).
func validID(id string) bool {
	if id == "" || len(id) > 128 {
		return false
	}
	for _, c := range id {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.ContainsRune("-_.~", c)) {
			return false
		}
	}
	return true
}

func newJobID() string {
	return strings.ToLower(rand.Text()[:16])
}

// Create starts a job and publishes its first event.
func (m *Manager) Create(ctx context.Context, spec Spec) (Snapshot, error) {
	if spec.ID == "" {
		spec.ID = newJobID()
	}
	if !validID(spec.ID) {
		return Snapshot{}, fmt.Errorf("%w: id %q: use up to 128 letters, digits, '-', '_', '.' or '~'", ErrInvalid, spec.ID)
	}
	names := map[string]bool{}
	for i, st := range spec.Stages {
		if st.Name == "" || names[st.Name] {
			return Snapshot{}, fmt.Errorf("%w: stage %d needs a unique, non-empty name", ErrInvalid, i+1)
		}
		if st.Weight < 0 {
			return Snapshot{}, fmt.Errorf("%w: stage %q has a negative weight", ErrInvalid, st.Name)
		}
		names[st.Name] = true
	}
	if spec.Total < 0 {
		return Snapshot{}, fmt.Errorf("%w: total must not be negative", ErrInvalid)
	}
	now := m.cfg.Now()
	s := Snapshot{
		ID: spec.ID, Topic: TopicPrefix + spec.ID, Title: spec.Title, State: Running,
		Stages: spec.Stages, Total: spec.Total, Private: spec.Private,
		Created: now, Updated: now, StageStarted: now,
	}
	if len(spec.Stages) > 0 {
		s.Stage = spec.Stages[0].Name
	}
	s.Estimator.Observe(0, now)
	s.StageEstimator.Observe(0, now)
	m.mu.Lock()
	if _, ok := m.jobs[spec.ID]; ok {
		m.mu.Unlock()
		return Snapshot{}, fmt.Errorf("%w: %q", ErrJobExists, spec.ID)
	}
	e := &entry{snap: s, lastSeen: now}
	m.jobs[spec.ID] = e
	m.mu.Unlock()
	return m.publish(ctx, spec.ID, true)
}

// Get returns a job's current snapshot.
func (m *Manager) Get(id string) (Snapshot, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	e, ok := m.jobs[id]
	if !ok {
		return Snapshot{}, fmt.Errorf("%w: %q", ErrUnknownJob, id)
	}
	s := e.snap
	s.compute(m.cfg.Now())
	return s, nil
}

// List returns the snapshots of every job this node knows, newest first.
func (m *Manager) List() []Snapshot {
	m.mu.Lock()
	out := make([]Snapshot, 0, len(m.jobs))
	now := m.cfg.Now()
	for _, e := range m.jobs {
		s := e.snap
		s.compute(now)
		out = append(out, s)
	}
	m.mu.Unlock()
	sortNewestFirst(out)
	return out
}

// Progress records a report. Reports are published at most every
// MinInterval per job, except that a change of stage or state is published
// at once. If a cancellation was requested, the report is still recorded
// and Progress returns the snapshot with ErrCancelRequested.
func (m *Manager) Progress(ctx context.Context, id string, r Report) (Snapshot, error) {
	now := m.cfg.Now()
	m.mu.Lock()
	e, ok := m.jobs[id]
	if !ok {
		m.mu.Unlock()
		return Snapshot{}, fmt.Errorf("%w: %q", ErrUnknownJob, id)
	}
	s := &e.snap
	if s.State.Final() {
		m.mu.Unlock()
		return Snapshot{}, fmt.Errorf("%w: %q is %s", ErrFinished, id, s.State)
	}
	total := s.Total
	if r.Total != nil {
		total = *r.Total
	}
	stageChanged := r.Stage != "" && r.Stage != s.Stage
	if stageChanged && r.Total == nil {
		total = 0 // a new stage's total is unknown unless given
	}
	switch {
	case r.Done < 0 || total < 0:
		m.mu.Unlock()
		return Snapshot{}, fmt.Errorf("%w: done and total must not be negative", ErrInvalid)
	case total > 0 && r.Done > total:
		m.mu.Unlock()
		return Snapshot{}, fmt.Errorf("%w: done (%g) is greater than total (%g)", ErrInvalid, r.Done, total)
	case stageChanged && len(s.Stages) > 0 && !hasStage(s.Stages, r.Stage):
		m.mu.Unlock()
		return Snapshot{}, fmt.Errorf("%w: unknown stage %q (the job's stages: %s)", ErrInvalid, r.Stage, stageNames(s.Stages))
	}
	wasStalled := s.State == Stalled
	totalChanged := total != s.Total && !stageChanged
	if stageChanged {
		s.Stage, s.StageStarted = r.Stage, now
		s.StageEstimator = Estimator{}
		s.StageEstimator.Observe(0, now)
	}
	s.Done, s.Total, s.State, s.Updated = r.Done, total, Running, now
	if r.Message != "" {
		s.Message = r.Message
	}
	if total > 0 {
		if totalChanged {
			s.StageEstimator.Reset(r.Done/total, now)
		} else {
			s.StageEstimator.Observe(r.Done/total, now)
		}
	}
	if frac, known := s.fraction(); known {
		if totalChanged && len(s.Stages) == 0 {
			s.Estimator.Reset(frac, now)
		} else {
			s.Estimator.Observe(frac, now)
		}
	}
	e.lastSeen = now
	cancel := s.CancelRequested
	immediate := stageChanged || wasStalled || now.Sub(e.published) >= m.cfg.MinInterval
	e.dirty = true
	m.mu.Unlock()
	var snap Snapshot
	var err error
	if immediate {
		snap, err = m.publish(ctx, id, false)
	} else {
		snap, err = m.Get(id)
	}
	if err == nil && cancel {
		err = ErrCancelRequested
	}
	return snap, err
}

// Finish ends a job with its outcome, publishing it at once.
func (m *Manager) Finish(ctx context.Context, id string, o Outcome) (Snapshot, error) {
	if !o.State.Final() {
		return Snapshot{}, fmt.Errorf("%w: state %q: finish a job as succeeded, failed or cancelled", ErrInvalid, o.State)
	}
	if len(o.Result) > 0 && !json.Valid(o.Result) {
		return Snapshot{}, fmt.Errorf("%w: result is not valid JSON", ErrInvalid)
	}
	if o.State != Succeeded && len(o.Result) > 0 {
		return Snapshot{}, fmt.Errorf("%w: only a succeeded job has a result", ErrInvalid)
	}
	now := m.cfg.Now()
	m.mu.Lock()
	e, ok := m.jobs[id]
	if !ok {
		m.mu.Unlock()
		return Snapshot{}, fmt.Errorf("%w: %q", ErrUnknownJob, id)
	}
	s := &e.snap
	if s.State.Final() {
		m.mu.Unlock()
		return Snapshot{}, fmt.Errorf("%w: %q is %s", ErrFinished, id, s.State)
	}
	s.State, s.Result, s.Error, s.Updated, s.Finished = o.State, o.Result, o.Error, now, &now
	if o.State == Succeeded && s.Total > 0 {
		s.Done = s.Total
	}
	if o.State == Succeeded && len(s.Stages) > 0 {
		s.Stage = s.Stages[len(s.Stages)-1].Name
	}
	e.dirty = true
	m.mu.Unlock()
	return m.publish(ctx, id, false)
}

// Cancel requests the job's cancellation: its worker learns it from its
// next report, and then finishes the job as cancelled.
func (m *Manager) Cancel(ctx context.Context, id string) (Snapshot, error) {
	m.mu.Lock()
	e, ok := m.jobs[id]
	if !ok {
		m.mu.Unlock()
		return Snapshot{}, fmt.Errorf("%w: %q", ErrUnknownJob, id)
	}
	if e.snap.State.Final() {
		m.mu.Unlock()
		return Snapshot{}, fmt.Errorf("%w: %q is %s", ErrFinished, id, e.snap.State)
	}
	e.snap.CancelRequested = true
	e.snap.Updated = m.cfg.Now()
	e.dirty = true
	m.mu.Unlock()
	return m.publish(ctx, id, false)
}

// publish publishes the job's snapshot with the next seq.
func (m *Manager) publish(ctx context.Context, id string, created bool) (Snapshot, error) {
	m.mu.Lock()
	e, ok := m.jobs[id]
	if !ok {
		m.mu.Unlock()
		return Snapshot{}, fmt.Errorf("%w: %q", ErrUnknownJob, id)
	}
	e.snap.Seq++
	s := e.snap
	s.compute(m.cfg.Now())
	e.dirty, e.published = false, m.cfg.Now()
	m.mu.Unlock()
	data, err := json.Marshal(s)
	if err != nil {
		return Snapshot{}, err
	}
	_, err = m.cfg.Publisher.Publish(ctx, eventlog.Update{
		Topics: []string{s.Topic}, Type: eventType(s.State), Data: string(data), Private: s.Private,
	})
	if err != nil {
		if created {
			m.mu.Lock()
			delete(m.jobs, id)
			m.mu.Unlock()
		} else {
			m.mu.Lock()
			e.dirty = true // try again with the next flush
			m.mu.Unlock()
		}
		return Snapshot{}, fmt.Errorf("publish job %q: %w", id, err)
	}
	return s, nil
}

// Observe takes an update the hub read from the log: a job event from any
// node updates this node's snapshot if it is newer. It never blocks on I/O.
func (m *Manager) Observe(u eventlog.Update) {
	if len(u.Topics) == 0 || !strings.HasPrefix(u.Topics[0], TopicPrefix) {
		return
	}
	switch u.Type {
	case EventProgress, EventDone, EventFailed, EventCancelled:
	default:
		return
	}
	var s Snapshot
	if err := json.Unmarshal([]byte(u.Data), &s); err != nil || s.ID == "" || s.Topic != u.Topics[0] {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	e, ok := m.jobs[s.ID]
	if !ok {
		if s.State.Final() && m.cfg.Now().Sub(s.Updated) > m.cfg.KeepFinished {
			return
		}
		m.jobs[s.ID] = &entry{snap: s, lastSeen: m.cfg.Now(), published: m.cfg.Now()}
		return
	}
	if s.Seq > e.snap.Seq {
		e.snap, e.lastSeen = s, m.cfg.Now()
	}
}

// Snapshots returns, as updates without an id, the current snapshot of
// every job whose topic match accepts: what a new subscriber receives
// first.
func (m *Manager) Snapshots(match func(topic string) bool) []eventlog.Update {
	var out []eventlog.Update
	for _, s := range m.List() {
		if !match(s.Topic) {
			continue
		}
		data, err := json.Marshal(s)
		if err != nil {
			continue
		}
		out = append(out, eventlog.Update{Topics: []string{s.Topic}, Type: eventType(s.State), Data: string(data), Private: s.Private})
	}
	// Oldest first, so the newest job's state is the last one applied.
	for i, j := 0, len(out)-1; i < j; i, j = i+1, j-1 {
		out[i], out[j] = out[j], out[i]
	}
	return out
}

// ticker publishes coalesced reports, marks silent jobs stalled and forgets
// old finished jobs.
func (m *Manager) ticker() {
	defer m.wg.Done()
	t := time.NewTicker(min(m.cfg.MinInterval, m.cfg.StallAfter/4))
	defer t.Stop()
	for {
		select {
		case <-m.stop:
			return
		case <-t.C:
			m.flush(false)
		}
	}
}

// flush publishes what is due; with all, every dirty job.
func (m *Manager) flush(all bool) {
	now := m.cfg.Now()
	var due []string
	m.mu.Lock()
	for id, e := range m.jobs {
		switch {
		case e.snap.State.Final() && e.snap.Finished != nil && now.Sub(*e.snap.Finished) > m.cfg.KeepFinished:
			delete(m.jobs, id)
		case e.dirty && (all || now.Sub(e.published) >= m.cfg.MinInterval):
			due = append(due, id)
		case e.snap.State == Running && now.Sub(e.lastSeen) >= m.cfg.StallAfter:
			e.snap.State, e.snap.Updated = Stalled, now
			due = append(due, id)
		}
	}
	m.mu.Unlock()
	for _, id := range due {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		if _, err := m.publish(ctx, id, false); err != nil {
			m.cfg.Logger.Warn("job event not published; will retry", "job", id, "err", err)
		}
		cancel()
	}
}

func hasStage(stages []Stage, name string) bool {
	for _, st := range stages {
		if st.Name == name {
			return true
		}
	}
	return false
}

func stageNames(stages []Stage) string {
	names := make([]string, len(stages))
	for i, st := range stages {
		names[i] = st.Name
	}
	return strings.Join(names, ", ")
}

func sortNewestFirst(s []Snapshot) {
	for i := 1; i < len(s); i++ {
		for j := i; j > 0 && s[j].Created.After(s[j-1].Created); j-- {
			s[j], s[j-1] = s[j-1], s[j]
		}
	}
}
