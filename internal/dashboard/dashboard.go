package dashboard

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/heraldhub/herald/auth"
	"github.com/heraldhub/herald/eventlog"
	"github.com/heraldhub/herald/jobs"
	"github.com/prometheus/client_golang/prometheus"
)

// Verifier verifies the token of a request (a node's publisher verifier).
type Verifier interface {
	Verify(r *http.Request) (*auth.Claims, error)
}

// Publisher appends an update to the node's log (the hub).
type Publisher interface {
	Publish(ctx context.Context, u eventlog.Update) (eventlog.Update, error)
}

// Jobs lists the jobs a node knows (a *jobs.Manager).
type Jobs interface {
	List() []jobs.Snapshot
}

// Config configures a Dashboard. Metrics is required.
type Config struct {
	// Node names this node among those sharing its log. Default a random
	// id.
	Node string
	// Metrics is the node's registry, read once a Tick.
	Metrics prometheus.Gatherer
	// Publisher appends the node's reports; nil appends none.
	Publisher Publisher
	// Jobs lists the node's jobs; nil shows none.
	Jobs Jobs
	// Verifier checks the dashboard's token; nil refuses every request
	// for data (403).
	Verifier Verifier
	// HubURL returns the hub's URL for a request, against which relative
	// URL patterns of a token's grants resolve. Default "".
	HubURL func(*http.Request) string
	// Tick is the sampling interval. Default 1s.
	Tick time.Duration
	// ReportEvery is the interval of the node's reports. Default 5s.
	ReportEvery time.Duration
	// MaxStreams bounds the dashboard streams open at once. Default 16.
	MaxStreams int
	// Logger receives structured logs. Default slog.Default().
	Logger *slog.Logger
}

// History is how many samples the dashboard keeps: an hour of Tick=1s.
const History = 3600

// Dashboard samples a node and serves its dashboard. Its methods are safe
// for concurrent use.
type Dashboard struct {
	cfg     Config
	ctx     context.Context
	cancel  context.CancelFunc
	done    chan struct{}
	streams chan struct{} // one token per open stream

	mu      sync.Mutex
	topics  *topK
	recent  recent
	cluster cluster
	history []Sample // ring of History
	next    int
	latest  *Snapshot
	changed chan struct{} // closed when latest is replaced
	now     func() time.Time
}

// New starts sampling; Close stops it.
func New(cfg Config) (*Dashboard, error) {
	if cfg.Metrics == nil {
		return nil, errors.New("dashboard: Config.Metrics is required")
	}
	if cfg.Node == "" {
		var b [6]byte
		rand.Read(b[:])
		cfg.Node = "n" + hex.EncodeToString(b[:])
	}
	if cfg.Tick <= 0 {
		cfg.Tick = time.Second
	}
	if cfg.ReportEvery <= 0 {
		cfg.ReportEvery = 5 * time.Second
	}
	if cfg.MaxStreams <= 0 {
		cfg.MaxStreams = 16
	}
	if cfg.HubURL == nil {
		cfg.HubURL = func(*http.Request) string { return "" }
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	d := newDashboard(cfg, time.Now)
	go d.run()
	return d, nil
}

func newDashboard(cfg Config, now func() time.Time) *Dashboard {
	ctx, cancel := context.WithCancel(context.Background())
	return &Dashboard{
		cfg: cfg, ctx: ctx, cancel: cancel, done: make(chan struct{}),
		streams: make(chan struct{}, max(cfg.MaxStreams, 1)),
		topics:  newTopK(topKSize, topKSlots, topKWindow, now()),
		changed: make(chan struct{}), now: now,
	}
}

// The busiest topics are counted over topKWindow, in topKSlots summaries
// of topKSize counters; the dashboard shows the first topShown.
const (
	topKSize   = 64
	topKSlots  = 6
	topKWindow = time.Minute
	topShown   = 10
)

// Observe counts an update read from the log's tail. It is called once per
// update, never per delivery, and does not block on I/O.
func (d *Dashboard) Observe(u eventlog.Update) {
	now := d.now()
	d.mu.Lock()
	defer d.mu.Unlock()
	if r, ok := parseReport(u); ok {
		d.cluster.heard(r, now)
		return
	}
	if len(u.Topics) > 0 && !strings.HasPrefix(u.Topics[0], TopicPrefix) {
		d.topics.add(u.Topics[0], now)
	}
	d.recent.add(u)
}

// Close ends the dashboard's streams and stops sampling.
func (d *Dashboard) Close() error {
	d.cancel()
	<-d.done
	return nil
}

// run samples every Tick and reports every ReportEvery until Close.
func (d *Dashboard) run() {
	defer close(d.done)
	tick := time.NewTicker(d.cfg.Tick)
	defer tick.Stop()
	report := time.NewTicker(d.cfg.ReportEvery)
	defer report.Stop()
	var s sampler
	d.sample(&s)
	for {
		select {
		case <-d.ctx.Done():
			return
		case <-tick.C:
			d.sample(&s)
		case <-report.C:
			d.report()
		}
	}
}

// sample reads the node's numbers and publishes a snapshot of them.
func (d *Dashboard) sample(s *sampler) {
	r, err := read(d.cfg.Metrics)
	if err != nil {
		d.cfg.Logger.Warn("the dashboard cannot read the metrics", "err", err)
		return
	}
	var list []jobs.Snapshot
	if d.cfg.Jobs != nil {
		list = d.cfg.Jobs.List()
	}
	now := d.now()
	snap := s.take(r, now)
	snap.Node = d.cfg.Node
	snap.Jobs = summarize(list)
	d.mu.Lock()
	defer d.mu.Unlock()
	snap.Topics = d.topics.top(topShown, now)
	snap.Nodes = d.cluster.nodes(snap.report(), now)
	if len(d.history) < History {
		d.history = append(d.history, snap.Sample)
	} else {
		d.history[d.next] = snap.Sample
		d.next = (d.next + 1) % History
	}
	d.latest = snap
	close(d.changed)
	d.changed = make(chan struct{})
}

// report appends the node's latest numbers to its report topic.
func (d *Dashboard) report() {
	d.mu.Lock()
	snap := d.latest
	d.mu.Unlock()
	if d.cfg.Publisher == nil || snap == nil {
		return
	}
	data, _ := json.Marshal(snap.report())
	ctx, cancel := context.WithTimeout(d.ctx, d.cfg.ReportEvery)
	defer cancel()
	u := eventlog.Update{Topics: []string{TopicPrefix + d.cfg.Node}, Data: string(data), Type: "report", Private: true}
	if _, err := d.cfg.Publisher.Publish(ctx, u); err != nil && d.ctx.Err() == nil {
		d.cfg.Logger.Warn("the dashboard cannot report this node's numbers", "err", err)
	}
}

// state returns the latest snapshot, a channel closed when it is
// replaced, and (if withHistory) the samples kept, oldest first.
func (d *Dashboard) state(withHistory bool) (*Snapshot, <-chan struct{}, []Sample) {
	d.mu.Lock()
	defer d.mu.Unlock()
	var h []Sample
	if withHistory {
		h = make([]Sample, 0, len(d.history))
		h = append(h, d.history[d.next:]...)
		h = append(h, d.history[:d.next]...)
	}
	return d.latest, d.changed, h
}

// recentOf returns up to n recent updates keep accepts, newest first.
func (d *Dashboard) recentOf(n int, keep func(RecentUpdate) bool) []RecentUpdate {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.recent.latest(n, keep)
}
