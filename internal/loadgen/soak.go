package loadgen

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	mrand "math/rand/v2"
	"net/url"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// SoakConfig describes a soak run against one or several Herald nodes
// sharing a log: subscribers that drop their connection at random and
// resume with Last-Event-ID, on the same node or another, while a publisher
// sends numbered updates round-robin across the nodes. Zero values mean the
// defaults in comments.
type SoakConfig struct {
	// Nodes are the nodes' base URLs (http://127.0.0.1:8080).
	Nodes []string
	// Topic is the topic subscribed and published to. Default "soak".
	Topic string
	// Subscribers is how many subscribers follow the topic. Default 1000.
	Subscribers int
	// HoldMin and HoldMax bound how long a subscriber keeps a connection
	// before it drops it, drawn uniformly. Default 3s and 20s.
	HoldMin, HoldMax time.Duration
	// Move is the probability that a subscriber resumes on another node
	// than the one it left (0: always the same one).
	Move float64
	// Rate is updates published per second. Default 20.
	Rate float64
	// Size pads each update's data to this many bytes. Default 64.
	Size int
	// Duration is how long to publish. Default 1m.
	Duration time.Duration
	// Drain bounds the wait, after the last publication, for every
	// subscriber to receive it. Default 30s.
	Drain time.Duration
	// SampleEvery is the interval between samples of the nodes. Default 10s.
	SampleEvery time.Duration
	// PIDs are the nodes' processes, in the order of Nodes; a node without
	// one (or 0) has its open files and memory left unsampled.
	PIDs []int
	// KillAfter, if set, ends the process of the last of PIDs with SIGKILL
	// this long after publishing started.
	KillAfter time.Duration
	// Publish posts one update, with id and data, to the node whose base
	// URL is node. It returns nil once the node stored the update or
	// answered that an earlier attempt had (the id is taken); any error
	// makes the run retry the update, with the same id, on the next node.
	Publish func(ctx context.Context, node, id, data string) error
	// NodeSubscribers, if set, returns a node's current number of
	// subscribers (Herald's herald_subscribers gauge).
	NodeSubscribers func(ctx context.Context, node string) (float64, error)
	// OnSample, if set, is called with each sample of a node as it is
	// taken, never concurrently.
	OnSample func(NodeSample)
	// AllowRemote permits nodes that are not on loopback.
	AllowRemote bool
	// PerSource is connections per loopback source address. Default 10,000.
	PerSource int
}

// SoakReport is a soak run's outcome.
type SoakReport struct {
	Nodes       []string `json:"nodes"`
	Subscribers int      `json:"subscribers"`
	Publication
	// PublishRetries counts publication attempts a node refused or failed,
	// each retried on the next node.
	PublishRetries int64 `json:"publish_retries"`
	// Seconds is the whole run, from the first subscriber to the end of
	// the drain; PublishedAt is when publishing started, in seconds since
	// the run's start, which is also the time base of At fields.
	Seconds     float64 `json:"seconds"`
	PublishedAt float64 `json:"publishing_started_at_seconds"`
	// Connects counts streams opened; Resumes those opened with a
	// Last-Event-ID; Moves the resumes on another node than the last
	// stream's. Drops counts streams the subscribers ended on schedule,
	// Cut those the node or the network ended, ConnectFailures the
	// attempts to open a stream that failed (and went to the next node).
	Connects        int64  `json:"connects"`
	Resumes         int64  `json:"resumes"`
	Moves           int64  `json:"moves"`
	Drops           int64  `json:"drops"`
	Cut             int64  `json:"streams_cut"`
	ConnectFailures int64  `json:"connect_failures"`
	ConnectError    string `json:"connect_error,omitempty"`
	// Deliveries counts the numbered updates subscribers received;
	// Duplicates, Gaps and OutOfOrder the violations of exactly once:
	// updates received again, updates after a subscriber's first that
	// never arrived, and updates received after a later one. Silent
	// counts subscribers that received nothing.
	Deliveries int64 `json:"deliveries"`
	Duplicates int64 `json:"duplicates"`
	Gaps       int64 `json:"gaps"`
	OutOfOrder int64 `json:"out_of_order"`
	Silent     int   `json:"silent"`
	// Violations details the first violations seen, in the order seen.
	Violations []Violation `json:"violations,omitempty"`
	// Killed is the node ended with SIGKILL, at KilledAt seconds.
	Killed   string  `json:"killed_node,omitempty"`
	KilledAt float64 `json:"killed_at_seconds,omitempty"`
	// NodeSummaries gives each node's first, highest and last sampled
	// values; Samples every sample, in the order taken.
	NodeSummaries []NodeSummary `json:"node_summaries"`
	Samples       []NodeSample  `json:"samples"`
}

// Exact reports whether every subscriber received every update from its
// first one, once, in order.
func (r *SoakReport) Exact() bool {
	return r.Duplicates == 0 && r.Gaps == 0 && r.OutOfOrder == 0 && r.Silent == 0
}

// Violation is one delivery that broke exactly once.
type Violation struct {
	// Kind is Duplicate, Gap or OutOfOrder.
	Kind       string `json:"kind"`
	Subscriber int    `json:"subscriber"`
	// Seq is the update received, Expected the one expected next.
	Seq      int64 `json:"seq"`
	Expected int64 `json:"expected"`
	// Node served it, on a stream opened with Last-Event-ID ResumedFrom
	// (empty: the subscriber's first stream), SinceOpenMs after it opened.
	Node        string  `json:"node"`
	ResumedFrom string  `json:"resumed_from,omitempty"`
	SinceOpenMs float64 `json:"since_open_ms"`
	At          float64 `json:"at_seconds"`
}

// NodeSample is one sample of a node. A value that could not be read is
// -1 (the node is down, or its PID is unknown). After marks the sample
// taken once the run's subscribers had left.
type NodeSample struct {
	At          float64 `json:"at_seconds"`
	Node        string  `json:"node"`
	Subscribers float64 `json:"subscribers"`
	OpenFiles   int     `json:"open_files"`
	RSSKB       int64   `json:"rss_kb"`
	After       bool    `json:"after,omitempty"`
}

// Span is a sampled value's first, highest and last known values while
// the subscribers ran, and its value once they had left; -1 where none
// was known.
type Span struct {
	Start float64 `json:"start"`
	Max   float64 `json:"max"`
	End   float64 `json:"end"`
	After float64 `json:"after"`
}

// NodeSummary sums up one node's samples.
type NodeSummary struct {
	Node        string `json:"node"`
	PID         int    `json:"pid,omitempty"`
	Subscribers Span   `json:"subscribers"`
	OpenFiles   Span   `json:"open_files"`
	RSSKB       Span   `json:"rss_kb"`
}

// soakSub is one subscriber of a soak run.
type soakSub struct {
	check sequence     // owned by the subscriber's goroutine until the end
	next  atomic.Int64 // check.next, for the drain to read
}

// soakRun is the state of one RunSoak.
type soakRun struct {
	cfg    SoakConfig
	start  time.Time
	runID  string
	urls   []*url.URL
	subs   []*soakSub
	seed   uint64
	report SoakReport

	connects, resumes, moves, drops, cut, connectFailures atomic.Int64
	publishRetries                                        atomic.Int64

	mu         sync.Mutex // guards the fields below
	violations []Violation
	samples    []NodeSample
	connectErr string
	publishErr string
}

// maxViolations is how many violations a report details.
const maxViolations = 10

// RunSoak performs the soak run described by cfg and reports what every
// subscriber received. It returns an error only when the run could not
// take place; violations of exactly once are in the report (see Exact).
func RunSoak(ctx context.Context, cfg SoakConfig) (*SoakReport, error) {
	if len(cfg.Nodes) == 0 || cfg.Publish == nil {
		return nil, errors.New("a soak run needs nodes and a publisher")
	}
	if cfg.Topic == "" {
		cfg.Topic = "soak"
	}
	orDefault(&cfg.Subscribers, 1000)
	orDefault(&cfg.HoldMin, 3*time.Second)
	orDefault(&cfg.HoldMax, 20*time.Second)
	if cfg.HoldMax < cfg.HoldMin {
		return nil, fmt.Errorf("the longest hold (%v) is shorter than the shortest (%v)", cfg.HoldMax, cfg.HoldMin)
	}
	orDefault(&cfg.Rate, 20)
	orDefault(&cfg.Duration, time.Minute)
	orDefault(&cfg.Drain, 30*time.Second)
	orDefault(&cfg.SampleEvery, 10*time.Second)
	orDefault(&cfg.PerSource, 10000)
	r := &soakRun{cfg: cfg, start: time.Now(), seed: mrand.Uint64()}
	for _, n := range cfg.Nodes {
		u, err := url.Parse(n + "/.well-known/mercure?topic=" + url.QueryEscape(cfg.Topic))
		if err != nil || u.Host == "" {
			return nil, fmt.Errorf("invalid node URL %q", n)
		}
		if !cfg.AllowRemote {
			if err := Loopback(n); err != nil {
				return nil, err
			}
		}
		r.urls = append(r.urls, u)
	}
	var b [4]byte
	rand.Read(b[:])
	r.runID = "soak-" + hex.EncodeToString(b[:])
	raiseFileLimit()

	ctx, cancel := context.WithTimeout(ctx, time.Minute+cfg.Duration+cfg.Drain+time.Minute)
	defer cancel()
	var wg sync.WaitGroup
	samplerCtx, stopSampler := context.WithCancel(ctx)
	defer func() { stopSampler(); wg.Wait() }()
	r.sample(ctx, false) // before any subscriber
	wg.Add(1)
	go func() { defer wg.Done(); every(samplerCtx, cfg.SampleEvery, func() { r.sample(samplerCtx, false) }) }()

	subsCtx, stopSubs := context.WithCancel(ctx)
	var subsWG sync.WaitGroup
	defer func() { stopSubs(); subsWG.Wait() }()
	ready := make(chan struct{}, cfg.Subscribers)
	r.subs = make([]*soakSub, cfg.Subscribers)
	connect := time.NewTicker(2 * time.Millisecond)
	for i := range r.subs {
		r.subs[i] = &soakSub{}
		r.subs[i].next.Store(-1)
		subsWG.Add(1)
		go func() { defer subsWG.Done(); r.follow(subsCtx, i, ready) }()
		select {
		case <-connect.C:
		case <-ctx.Done():
		}
	}
	connect.Stop()
	connectBy := time.After(time.Minute)
	for range cfg.Subscribers {
		select {
		case <-ready:
		case <-connectBy:
			return nil, fmt.Errorf("subscribers did not connect within a minute: %s", r.firstConnectError())
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}

	r.report.PublishedAt = r.since()
	if cfg.KillAfter > 0 && len(cfg.PIDs) > 0 && cfg.PIDs[len(cfg.PIDs)-1] > 0 {
		kill := time.AfterFunc(cfg.KillAfter, r.kill)
		defer kill.Stop()
	}
	pubCtx, stopPub := context.WithTimeout(ctx, cfg.Duration+cfg.Drain)
	n := int(cfg.Duration.Seconds() * cfg.Rate)
	pub := PublishUpdates(pubCtx, n, cfg.Rate, cfg.Size, r.publish)
	stopPub()
	r.report.Publication = *pub

	// Wait for every subscriber to receive the last update.
	drainEnd := time.Now().Add(cfg.Drain)
	for !r.caughtUp(int64(pub.Published)) && time.Now().Before(drainEnd) && ctx.Err() == nil {
		time.Sleep(100 * time.Millisecond)
	}
	stopSampler()
	wg.Wait()
	r.sample(ctx, false) // with every subscriber still connected
	stopSubs()
	subsWG.Wait()
	r.waitForNoSubscribers(ctx)
	r.sample(ctx, true) // once the subscribers left
	return r.finish(int64(pub.Published)), nil
}

// since returns the seconds since the run started.
func (r *soakRun) since() float64 { return time.Since(r.start).Seconds() }

// follow runs subscriber i until ctx ends: it opens a stream, keeps it a
// random while, drops it, and resumes from the last update received, on
// the same node or, with probability cfg.Move, another; a node that
// refuses is skipped for the next. It signals ready once, after its first
// stream opened.
func (r *soakRun) follow(ctx context.Context, i int, ready chan<- struct{}) {
	rng := mrand.New(mrand.NewPCG(r.seed, uint64(i)))
	s := r.subs[i]
	nodes := len(r.urls)
	node, prev := i%nodes, -1
	src := sourceAddr(nil, r.cfg.PerSource, i)
	lastID, signalled := "", false
	for ctx.Err() == nil {
		dec, conn, err := openStream(ctx, r.urls[node], src, lastID)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			r.connectFailures.Add(1)
			r.mu.Lock()
			if r.connectErr == "" {
				r.connectErr = err.Error()
			}
			r.mu.Unlock()
			node = (node + 1) % nodes
			select {
			case <-ctx.Done():
			case <-time.After(100 * time.Millisecond):
			}
			continue
		}
		r.connects.Add(1)
		if lastID != "" {
			r.resumes.Add(1)
			if node != prev {
				r.moves.Add(1)
			}
		}
		prev = node
		if !signalled {
			ready <- struct{}{}
			signalled = true
		}
		opened, resumedFrom := time.Now(), lastID
		var dropped atomic.Bool
		hold := r.cfg.HoldMin + time.Duration(rng.Int64N(int64(r.cfg.HoldMax-r.cfg.HoldMin)+1))
		timer := time.AfterFunc(hold, func() { dropped.Store(true); conn.Close() })
		stop := context.AfterFunc(ctx, func() { conn.Close() })
		for {
			ev, err := dec.Next()
			if err != nil {
				break
			}
			seq, _, ok := parseData(ev.Data)
			if !ok {
				continue // not one of ours
			}
			expected := s.check.next
			if kind := s.check.see(seq); kind != "" {
				r.violation(Violation{Kind: kind, Subscriber: i, Seq: seq, Expected: expected, Node: r.cfg.Nodes[node],
					ResumedFrom: resumedFrom, SinceOpenMs: ms(time.Since(opened)), At: r.since()})
			}
			s.next.Store(s.check.next)
			if ev.ID != "" {
				lastID = ev.ID
			}
		}
		timer.Stop()
		stop()
		conn.Close()
		if ctx.Err() != nil {
			return
		}
		if dropped.Load() {
			r.drops.Add(1)
		} else {
			r.cut.Add(1)
		}
		if nodes > 1 && rng.Float64() < r.cfg.Move {
			node = (node + 1 + rng.IntN(nodes-1)) % nodes
		}
	}
}

// violation records v, detailing the first maxViolations.
func (r *soakRun) violation(v Violation) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.violations) < maxViolations {
		r.violations = append(r.violations, v)
	}
}

// publish sends the update whose data is data with an id made of the
// run's and the update's numbers, starting with the node whose turn it is
// and going on to the next one on any failure, until one acknowledges it
// or ctx ends. A retry with the same id is answered 409 by any node once
// an earlier attempt was stored, which Publish counts as acknowledged: an
// update is never stored twice.
func (r *soakRun) publish(ctx context.Context, data string) error {
	seq, _, _ := parseData(data)
	id := r.runID + "-" + strconv.FormatInt(seq, 10)
	nodes := len(r.cfg.Nodes)
	for attempt := 0; ; attempt++ {
		err := r.cfg.Publish(ctx, r.cfg.Nodes[(int(seq)+attempt)%nodes], id, data)
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return err
		}
		r.publishRetries.Add(1)
		r.mu.Lock()
		if r.publishErr == "" {
			r.publishErr = err.Error()
		}
		r.mu.Unlock()
		if attempt%nodes == nodes-1 { // every node failed: give them a moment
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(200 * time.Millisecond):
			}
		}
	}
}

// kill ends the last node's process with SIGKILL.
func (r *soakRun) kill() {
	pid := r.cfg.PIDs[len(r.cfg.PIDs)-1]
	node := fmt.Sprintf("pid %d", pid)
	if i := len(r.cfg.PIDs) - 1; i < len(r.cfg.Nodes) {
		node = r.cfg.Nodes[i]
	}
	at := r.since()
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		node += " (kill: " + err.Error() + ")"
	}
	r.mu.Lock()
	r.report.Killed, r.report.KilledAt = node, at
	r.mu.Unlock()
}

// caughtUp reports whether every subscriber received update published-1.
func (r *soakRun) caughtUp(published int64) bool {
	for _, s := range r.subs {
		if s.next.Load() < published {
			return false
		}
	}
	return true
}

// waitForNoSubscribers waits, up to 10 s, for the nodes that count their
// subscribers to count none.
func (r *soakRun) waitForNoSubscribers(ctx context.Context) {
	if r.cfg.NodeSubscribers == nil {
		return
	}
	deadline := time.Now().Add(10 * time.Second)
	for _, n := range r.cfg.Nodes {
		for time.Now().Before(deadline) && ctx.Err() == nil {
			v, err := r.cfg.NodeSubscribers(ctx, n)
			if err != nil || v == 0 {
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
}

// sample takes one sample of every node; after marks the samples taken
// once the subscribers left.
func (r *soakRun) sample(ctx context.Context, after bool) {
	for i, n := range r.cfg.Nodes {
		s := NodeSample{At: r.since(), Node: n, Subscribers: -1, OpenFiles: -1, RSSKB: -1, After: after}
		if r.cfg.NodeSubscribers != nil {
			if v, err := r.cfg.NodeSubscribers(ctx, n); err == nil {
				s.Subscribers = v
			}
		}
		if i < len(r.cfg.PIDs) && r.cfg.PIDs[i] > 0 {
			s.OpenFiles = openFiles(r.cfg.PIDs[i])
			if s.OpenFiles >= 0 {
				s.RSSKB = rssKB(r.cfg.PIDs[i])
			}
		}
		r.mu.Lock()
		r.samples = append(r.samples, s)
		r.mu.Unlock()
		if r.cfg.OnSample != nil {
			r.cfg.OnSample(s)
		}
	}
}

// openFiles returns how many files the process has open, or -1.
func openFiles(pid int) int {
	fds, err := os.ReadDir("/proc/" + strconv.Itoa(pid) + "/fd")
	if err != nil {
		return -1
	}
	return len(fds)
}

// finish tallies the subscribers and samples into the report.
func (r *soakRun) finish(published int64) *SoakReport {
	r.mu.Lock()
	defer r.mu.Unlock()
	rep := &r.report
	rep.Nodes, rep.Subscribers, rep.Seconds = r.cfg.Nodes, r.cfg.Subscribers, r.since()
	rep.Connects, rep.Resumes, rep.Moves = r.connects.Load(), r.resumes.Load(), r.moves.Load()
	rep.Drops, rep.Cut, rep.ConnectFailures = r.drops.Load(), r.cut.Load(), r.connectFailures.Load()
	rep.PublishRetries = r.publishRetries.Load()
	rep.ConnectError, rep.Violations, rep.Samples = r.connectErr, r.violations, r.samples
	if rep.PublishError == "" {
		rep.PublishError = r.publishErr
	}
	for _, s := range r.subs {
		rep.Deliveries += s.check.deliveries
		rep.Duplicates += s.check.duplicates
		rep.OutOfOrder += s.check.outOfOrder
		rep.Gaps += s.check.gaps(published)
		if !s.check.started && published > 0 {
			rep.Silent++
		}
	}
	for i, n := range r.cfg.Nodes {
		sum := NodeSummary{Node: n}
		if i < len(r.cfg.PIDs) {
			sum.PID = r.cfg.PIDs[i]
		}
		sum.Subscribers = span(r.samples, n, func(s NodeSample) float64 { return s.Subscribers })
		sum.OpenFiles = span(r.samples, n, func(s NodeSample) float64 { return float64(s.OpenFiles) })
		sum.RSSKB = span(r.samples, n, func(s NodeSample) float64 { return float64(s.RSSKB) })
		rep.NodeSummaries = append(rep.NodeSummaries, sum)
	}
	return rep
}

// firstConnectError returns the first failed connection's error.
func (r *soakRun) firstConnectError() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.connectErr
}

// span sums up the value that value reads from node's samples, ignoring
// unknown ones (-1).
func span(samples []NodeSample, node string, value func(NodeSample) float64) Span {
	sp := Span{-1, -1, -1, -1}
	for _, s := range samples {
		v := value(s)
		switch {
		case s.Node != node || v < 0:
		case s.After:
			sp.After = v
		default:
			if sp.Start < 0 {
				sp.Start = v
			}
			sp.Max, sp.End = max(sp.Max, v), v
		}
	}
	return sp
}
