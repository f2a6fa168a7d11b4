package jobs

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
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
	// Now returns the current time. Default time.Now.
	Now func() time.Time
	// Logger receives the manager's logs. Default slog.Default().
	Logger *slog.Logger
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

	mu   sync.Mutex
	jobs map[string]*entry

	stop      chan struct{}
	closeOnce sync.Once
	wg        sync.WaitGroup
}

// entry is one job as this node knows it. Times are this node's clock.
type entry struct {
	snap      Snapshot
	published time.Time // when this node last published its snapshot
	dirty     bool      // a change is waiting to be published
	lastSeen  time.Time // the last report, or newer event observed
	ended     time.Time // when this node learned the job was finished
	local     bool      // this node wrote the job's latest state
}

// NewManager starts a manager and its timer; Close stops it.
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
	if cfg.ForgetStalled <= 0 {
		cfg.ForgetStalled = 24 * time.Hour
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

// Report is one progress report: Done units of work out of Total in Stage.
type Report struct {
	// Stage is the stage the work is in; empty means the current one.
	Stage string `json:"stage,omitempty"`
	// Done is the work done so far in the stage.
	Done float64 `json:"done"`
	// Total is the stage's amount of work; nil keeps the current one
	// within a stage and means unknown in a new stage.
	Total *float64 `json:"total,omitempty"`
	// Message is a short note for watchers; empty keeps the last one.
	Message string `json:"message,omitempty"`
}

// Outcome ends a job.
type Outcome struct {
	// State is Succeeded, Failed or Cancelled.
	State State `json:"state"`
	// Result is a succeeded job's result, as JSON.
	Result json.RawMessage `json:"result,omitempty"`
	// Error says why a job failed.
	Error string `json:"error,omitempty"`
}

// Bounds on what a job may hold, so that one job cannot make every
// snapshot and every event huge.
const (
	maxIDLen     = 128
	maxStages    = 64
	maxWeight    = 1e9
	maxTextBytes = 4096 // title, stage names, message, error
)

// validID reports whether id can name a job (and a topic segment).
func validID(id string) bool {
	if id == "" || len(id) > maxIDLen {
		return false
	}
	for _, c := range id {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.ContainsRune("-_.~", c)) {
			return false
		}
	}
	return true
}

func invalidID(id string) error {
	return fmt.Errorf("%w: id %q: use 1 to %d letters, digits, '-', '_', '.' or '~'", ErrInvalid, id, maxIDLen)
}

func newJobID() string {
	return strings.ToLower(rand.Text()[:16])
}

// checkText refuses text too long for a snapshot.
func checkText(what, s string) error {
	if len(s) > maxTextBytes {
		return fmt.Errorf("%w: %s is longer than %d bytes", ErrInvalid, what, maxTextBytes)
	}
	return nil
}

// checkSpec validates a new job's description.
func checkSpec(spec Spec) error {
	if !validID(spec.ID) {
		return invalidID(spec.ID)
	}
	if err := checkText("title", spec.Title); err != nil {
		return err
	}
	if len(spec.Stages) > maxStages {
		return fmt.Errorf("%w: %d stages; at most %d", ErrInvalid, len(spec.Stages), maxStages)
	}
	names := map[string]bool{}
	for i, st := range spec.Stages {
		if st.Name == "" || names[st.Name] {
			return fmt.Errorf("%w: stage %d needs a unique, non-empty name", ErrInvalid, i+1)
		}
		if err := checkText("a stage name", st.Name); err != nil {
			return err
		}
		if !(st.Weight >= 0 && st.Weight <= maxWeight) {
			return fmt.Errorf("%w: stage %q: weight must be between 0 and %g (0 means 1)", ErrInvalid, st.Name, float64(maxWeight))
		}
		names[st.Name] = true
	}
	if !(spec.Total >= 0) || !finite(spec.Total) {
		return fmt.Errorf("%w: total must be a finite number, 0 or more", ErrInvalid)
	}
	return nil
}

// Create starts a job and publishes its first event. An empty spec.ID is
// replaced by a generated one.
func (m *Manager) Create(ctx context.Context, spec Spec) (Snapshot, error) {
	if spec.ID == "" {
		spec.ID = newJobID()
	}
	if err := checkSpec(spec); err != nil {
		return Snapshot{}, err
	}
	spec.Stages = slices.Clone(spec.Stages)
	for i := range spec.Stages {
		if spec.Stages[i].Weight == 0 {
			spec.Stages[i].Weight = 1
		}
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
	e := &entry{snap: s, lastSeen: now, local: true}
	m.jobs[spec.ID] = e
	snap := e.claim(now)
	m.mu.Unlock()
	return m.send(ctx, e, snap, true)
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
		out[i].compute(now)
	}
	slices.SortFunc(out, func(a, b Snapshot) int {
		if c := b.Created.Compare(a.Created); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
	return out
}

// Progress records a report. Reports are published at most every
// MinInterval per job (the latest wins; the timer publishes the last one),
// except that a change of stage and a return from stalled are published at
// once. If a cancellation was
// requested, the report is still recorded and Progress returns the
// snapshot with ErrCancelRequested.
func (m *Manager) Progress(ctx context.Context, id string, r Report) (Snapshot, error) {
	if !finite(r.Done) || r.Total != nil && !finite(*r.Total) {
		return Snapshot{}, fmt.Errorf("%w: done and total must be finite numbers", ErrInvalid)
	}
	if err := errors.Join(checkText("stage", r.Stage), checkText("message", r.Message)); err != nil {
		return Snapshot{}, err
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
	stageChanged := r.Stage != "" && r.Stage != s.Stage
	total := s.Total
	switch {
	case r.Total != nil:
		total = *r.Total
	case stageChanged:
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
	oldTotal := s.Total
	if stageChanged {
		// The new stage's work happened since the previous report.
		s.Stage, s.StageStarted = r.Stage, now
		s.StageEstimator = Estimator{}
		s.StageEstimator.Observe(0, s.Updated)
	}
	s.Done, s.Total, s.State, s.Updated = r.Done, total, Running, now
	if r.Message != "" {
		s.Message = r.Message
	}
	s.StageEstimator.Observe(r.Done, now)
	if frac, known := s.fraction(); known {
		if !stageChanged && oldTotal > 0 && total > 0 && total != oldTotal {
			// The same work is now a different share of the whole.
			s.Estimator.Rebase(frac, now, oldTotal/total)
		} else {
			s.Estimator.Observe(frac, now)
		}
	}
	e.lastSeen, e.local, e.dirty = now, true, true
	cancel := s.CancelRequested
	var snap Snapshot
	var err error
	if stageChanged || wasStalled || now.Sub(e.published) >= m.cfg.MinInterval {
		snap = e.claim(now)
		m.mu.Unlock()
		snap, err = m.send(ctx, e, snap, false)
	} else {
		snap = e.snap
		m.mu.Unlock()
		snap.compute(now)
	}
	if err == nil && cancel {
		err = ErrCancelRequested
	}
	return snap, err
}

// Finish ends a job with its outcome, publishing it at once. Finishing a
// finished job again with the same outcome changes nothing and succeeds (a
// worker may retry after an error); with another outcome it is refused.
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
	if err := checkText("error", o.Error); err != nil {
		return Snapshot{}, err
	}
	if len(o.Result) > 0 {
		var compact bytes.Buffer
		if err := json.Compact(&compact, o.Result); err == nil {
			o.Result = compact.Bytes()
		}
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
		same := s.State == o.State && s.Error == o.Error && bytes.Equal(s.Result, o.Result)
		snap := *s
		m.mu.Unlock()
		if same {
			snap.compute(now)
			return snap, nil
		}
		return Snapshot{}, fmt.Errorf("%w: %q is %s", ErrFinished, id, snap.State)
	}
	s.State, s.Result, s.Error, s.Updated, s.Finished = o.State, o.Result, o.Error, now, &now
	if o.State == Succeeded {
		if s.Total > 0 {
			s.Done = s.Total
		}
		if len(s.Stages) > 0 {
			s.Stage = s.Stages[len(s.Stages)-1].Name
		}
	}
	e.ended, e.lastSeen, e.local = now, now, true
	snap := e.claim(now)
	m.mu.Unlock()
	return m.send(ctx, e, snap, false)
}

// Cancel requests the job's cancellation and publishes the request: the
// job's worker learns it from its next report (ErrCancelRequested), and
// then finishes the job as cancelled.
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
	now := m.cfg.Now()
	e.snap.CancelRequested = true
	e.snap.Updated = now
	e.local = true
	snap := e.claim(now)
	m.mu.Unlock()
	return m.send(ctx, e, snap, false)
}

// claim numbers the entry's snapshot for publication; the caller holds
// m.mu and passes the result to send. A change and its claim are made under
// one hold of the lock, so the timer never publishes a change again that a
// caller is already publishing.
func (e *entry) claim(now time.Time) Snapshot {
	e.snap.Seq++
	e.dirty, e.published = false, now
	return e.snap
}

// send publishes a claimed snapshot. Two publications of one job may reach
// the log in either order; readers keep the one with the higher seq
// (Snapshot.Supersedes). If publishing fails, a created job is forgotten
// and any other change is left for the timer to retry.
func (m *Manager) send(ctx context.Context, e *entry, s Snapshot, created bool) (Snapshot, error) {
	s.compute(m.cfg.Now())
	data, err := json.Marshal(s)
	if err == nil {
		_, err = m.cfg.Publisher.Publish(ctx, eventlog.Update{
			Topics: []string{s.Topic}, Type: eventType(s.State), Data: string(data), Private: s.Private,
		})
	}
	if err != nil {
		m.mu.Lock()
		if cur, ok := m.jobs[s.ID]; ok && cur == e {
			if created {
				delete(m.jobs, s.ID)
			} else {
				e.dirty = true // the timer tries again
			}
		}
		m.mu.Unlock()
		return Snapshot{}, fmt.Errorf("publish job %q: %w", s.ID, err)
	}
	return s, nil
}

// Observe takes an update the hub read from the log, from any node: a job
// event newer than this node's snapshot (Snapshot.Supersedes) replaces it.
// A cancellation request is never lost to a concurrent event that did not
// carry it, and a report this node has not published yet is kept. Observe
// does no I/O and holds the manager's lock briefly; the hub calls it from
// its tail, in log order.
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
	if err := json.Unmarshal([]byte(u.Data), &s); err != nil || s.Topic != u.Topics[0] || s.Topic != TopicPrefix+s.ID || !validID(s.ID) {
		return
	}
	switch s.State {
	case Running, Stalled, Succeeded, Failed, Cancelled:
	default:
		return
	}
	if eventType(s.State) != u.Type {
		return
	}
	now := m.cfg.Now()
	m.mu.Lock()
	defer m.mu.Unlock()
	e, ok := m.jobs[s.ID]
	if !ok {
		if s.State.Final() && s.Finished != nil && now.Sub(*s.Finished) > m.cfg.KeepFinished {
			return // a replayed job that would be forgotten already
		}
		e = &entry{snap: s, lastSeen: now, published: now}
		if s.State.Final() {
			e.ended = now
		}
		m.jobs[s.ID] = e
		return
	}
	cur := &e.snap
	switch {
	case !s.Supersedes(cur):
		if s.CancelRequested && !cur.CancelRequested && !cur.State.Final() {
			cur.CancelRequested = true
		}
		return
	case e.dirty && !s.State.Final() && !cur.State.Final():
		// This node holds a newer report it has not published: keep it,
		// take the other node's numbering and cancellation request.
		cur.Seq = s.Seq
		cur.CancelRequested = cur.CancelRequested || s.CancelRequested
	default:
		cancel := cur.CancelRequested && !s.State.Final()
		e.snap = s
		e.snap.CancelRequested = e.snap.CancelRequested || cancel
		e.dirty, e.local = false, false
		if s.State.Final() && e.ended.IsZero() {
			e.ended = now
		}
	}
	e.lastSeen = now
}

// Snapshots returns, as updates without an id, the current snapshot of
// every job whose topic match accepts, oldest job first: what a new
// subscriber receives before live events. match is called with the
// manager's lock held and must not block.
func (m *Manager) Snapshots(match func(topic string) bool) []eventlog.Update {
	snaps := m.collect(match)
	out := make([]eventlog.Update, 0, len(snaps))
	for i := len(snaps) - 1; i >= 0; i-- { // the newest job last
		s := snaps[i]
		data, err := json.Marshal(s)
		if err != nil {
			continue
		}
		out = append(out, eventlog.Update{Topics: []string{s.Topic}, Type: eventType(s.State), Data: string(data), Private: s.Private})
	}
	return out
}

// Replayer replays a log's retained updates; every eventlog.Log is one.
type Replayer interface {
	Since(ctx context.Context, id string, fn func(eventlog.Update) bool) (from eventlog.Update, err error)
}

// Recover rebuilds the manager's snapshots from the retained history of
// the log, for a node that starts while jobs are under way: call it once
// the hub follows the log, so that nothing falls between the replay and the
// live tail (an update seen twice changes nothing). Jobs recovered this way
// are watched for stalls like those another node wrote.
func (m *Manager) Recover(ctx context.Context, log Replayer) error {
	_, err := log.Since(ctx, eventlog.Earliest, func(u eventlog.Update) bool {
		m.Observe(u)
		return ctx.Err() == nil
	})
	if err != nil {
		return fmt.Errorf("recover jobs from the log: %w", err)
	}
	return ctx.Err()
}

// ticker runs the node's timer until Close.
func (m *Manager) ticker() {
	defer m.wg.Done()
	t := time.NewTicker(max(min(m.cfg.MinInterval, m.cfg.StallAfter/4), time.Millisecond))
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

// flush publishes what is due (with all, every unpublished change), marks
// silent jobs stalled and forgets old ones.
func (m *Manager) flush(all bool) {
	now := m.cfg.Now()
	type claimed struct {
		e    *entry
		snap Snapshot
	}
	var due []claimed
	m.mu.Lock()
	for id, e := range m.jobs {
		silent := now.Sub(e.lastSeen)
		stallAfter := m.cfg.StallAfter
		if !e.local {
			stallAfter *= 2 // the node that wrote it last goes first
		}
		switch {
		case e.snap.State.Final() && !e.ended.IsZero() && now.Sub(e.ended) > m.cfg.KeepFinished:
			delete(m.jobs, id)
		case e.snap.State == Stalled && silent > m.cfg.ForgetStalled:
			delete(m.jobs, id)
		case e.dirty && (all || now.Sub(e.published) >= m.cfg.MinInterval):
			due = append(due, claimed{e, e.claim(now)})
		case e.snap.State == Running && silent >= stallAfter:
			e.snap.State, e.snap.Updated = Stalled, now
			e.local = true
			due = append(due, claimed{e, e.claim(now)})
		}
	}
	m.mu.Unlock()
	for _, c := range due {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		if _, err := m.send(ctx, c.e, c.snap, false); err != nil {
			m.cfg.Logger.Warn("job event not published; will retry", "job", c.snap.ID, "err", err)
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
