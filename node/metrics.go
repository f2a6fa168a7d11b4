package node

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/heraldhub/herald/auth"
	"github.com/heraldhub/herald/eventlog"
	"github.com/heraldhub/herald/hub"
	"github.com/heraldhub/herald/internal/httperr"
	"github.com/heraldhub/herald/jobs"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// The label values of the metrics with labels; every one is exported from
// the start, at zero, so that rates and alerts see a series before its
// first event.
var (
	streamEndReasons   = []string{"slow", "gone", "closed", "expired", "error"}
	authFailureReasons = []string{"no_token", "invalid_token", "forbidden", "query_token", "invalid_request"}
	refusalLimits      = []string{"conns_per_ip", "template_bytes", "request_conns", "publish_rate"}
	replayIDs          = []string{"known", "unknown"}
	metricJobStates    = []jobs.State{jobs.Running, jobs.Stalled, jobs.Succeeded, jobs.Failed, jobs.Cancelled}
)

// metrics are the node's Prometheus metrics, on a registry of its own so
// that several nodes can run in one process (as tests do).
type metrics struct {
	registry     *prometheus.Registry
	updates      prometheus.Counter
	publish      prometheus.Histogram
	appends      prometheus.Histogram
	appendErrors prometheus.Counter
	lag          prometheus.Histogram
	replays      *prometheus.CounterVec
	streamEnds   *prometheus.CounterVec
	authFailures *prometheus.CounterVec
	refusals     *prometheus.CounterVec
}

// newMetrics registers the metrics of s, whose hub, jobs and log are read
// at scrape time (they need not exist yet).
func newMetrics(s *Node) *metrics {
	latency := prometheus.ExponentialBuckets(0.0005, 2, 14) // 0.5ms to 4s
	m := &metrics{
		registry: prometheus.NewRegistry(),
		updates: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "herald_updates_total",
			Help: "Updates read from the log's tail and fanned out by this node.",
		}),
		publish: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "herald_publish_duration_seconds",
			Help:    "Time from a Mercure publication's request to its acknowledgement (200 with the id), on this node.",
			Buckets: latency,
		}),
		appends: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "herald_log_append_duration_seconds",
			Help:    "Time the event log took to append an update (publications and job reports), failed appends included.",
			Buckets: latency,
		}),
		appendErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "herald_log_append_errors_total",
			Help: "Appends the event log failed (not counting duplicate ids and abandoned requests); each makes /readyz fail for a while.",
		}),
		lag: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "herald_delivery_lag_seconds",
			Help:    "Time from an update's append to the log to the first write of it to a subscriber's socket on this node; one sample per update.",
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 15), // 1ms to 16s
		}),
		replays: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "herald_replays_total",
			Help: `Streams resumed from a Last-Event-ID; id="unknown" when the id was answered as earliest (never in the log, or dropped by retention).`,
		}, []string{"id"}),
		streamEnds: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "herald_stream_ends_total",
			Help: "Streams ended, by reason: slow (queue overflow or missed write deadline), gone (the client left), closed (the hub shut down), expired (the token's time was up), error (a failed replay).",
		}, []string{"reason"}),
		authFailures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "herald_auth_failures_total",
			Help: "Requests refused for their token (Mercure endpoint and jobs API), by reason: no_token, invalid_token, forbidden, query_token (a token in the query string refused), invalid_request (a token presented wrongly: 400).",
		}, []string{"reason"}),
		refusals: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "herald_limit_refusals_total",
			Help: "Requests and connections refused for passing a configured limit, by limit: conns_per_ip, template_bytes, request_conns, publish_rate.",
		}, []string{"limit"}),
	}
	for _, v := range replayIDs {
		m.replays.WithLabelValues(v)
	}
	for _, v := range streamEndReasons {
		m.streamEnds.WithLabelValues(v)
	}
	for _, v := range authFailureReasons {
		m.authFailures.WithLabelValues(v)
	}
	for _, v := range refusalLimits {
		m.refusals.WithLabelValues(v)
	}
	stats := func() hub.Stats { return s.hub.Stats() }
	m.registry.MustRegister(
		m.updates, m.publish, m.appends, m.appendErrors, m.lag,
		m.replays, m.streamEnds, m.authFailures, m.refusals,
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "herald_subscribers",
			Help: "Subscribers connected to this node.",
		}, func() float64 { return float64(s.hub.Subscribers()) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "herald_stream_writes_total",
			Help: "Writes of updates and heartbeats to streams; fewer than deliveries when updates share a write.",
		}, func() float64 { return float64(stats().Writes) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "herald_deliveries_total",
			Help: "Live updates queued for this node's subscribers: one per update and subscriber it reaches (replays not counted).",
		}, func() float64 { return float64(stats().Deliveries) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "herald_stream_deferred_writes_total",
			Help: "Times a stream's socket did not take its bytes at once (a slow client), leaving them pending until it has room.",
		}, func() float64 { return float64(stats().Deferred) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "herald_ready",
			Help: "1 while the node is ready (as /readyz answers 200): its log takes writes and answers; 0 otherwise.",
		}, func() float64 {
			ctx, cancel := context.WithTimeout(context.Background(), readyTimeout)
			defer cancel()
			if s.readiness(ctx) != nil {
				return 0
			}
			return 1
		}),
		jobsCollector{s: s, desc: prometheus.NewDesc("herald_jobs",
			"Jobs this node knows, by state (finished ones are remembered for --job-keep).", []string{"state"}, nil)},
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	return m
}

func (m *metrics) handler() http.Handler {
	return promhttp.HandlerFor(m.registry, promhttp.HandlerOpts{})
}

// jobsCollector counts the node's jobs by state at scrape time.
type jobsCollector struct {
	s    *Node
	desc *prometheus.Desc
}

func (c jobsCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

func (c jobsCollector) Collect(ch chan<- prometheus.Metric) {
	count := make(map[jobs.State]int, len(metricJobStates))
	if c.s.jobs != nil {
		for _, j := range c.s.jobs.List() {
			count[j.State]++
		}
	}
	for _, st := range metricJobStates {
		ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue, float64(count[st]), string(st))
	}
}

// appended records one append to the log that took d and failed with err
// (nil if it succeeded).
func (m *metrics) appended(d time.Duration, err error) {
	m.appends.Observe(d.Seconds())
	if err != nil {
		m.appendErrors.Inc()
	}
}

// Observe counts an update the hub read from the log's tail.
func (m *metrics) Observe(eventlog.Update) { m.updates.Inc() }

// observeLag records the delivery lag of one update.
func (m *metrics) observeLag(d time.Duration) { m.lag.Observe(d.Seconds()) }

// streamEnded counts a stream's end by its reason.
func (m *metrics) streamEnded(err error) {
	reason := "error"
	switch {
	case errors.Is(err, hub.ErrSlowSubscriber):
		reason = "slow"
	case errors.Is(err, hub.ErrClosed):
		reason = "closed"
	case errors.Is(err, hub.ErrExpired):
		reason = "expired"
	case errors.Is(err, hub.ErrClientGone):
		reason = "gone"
	}
	m.streamEnds.WithLabelValues(reason).Inc()
}

// replayed counts a replay from a Last-Event-ID.
func (m *metrics) replayed(known bool) {
	id := "unknown"
	if known {
		id = "known"
	}
	m.replays.WithLabelValues(id).Inc()
}

// refused counts a request answered with err and status, if it is refused
// for its token or for a limit: the one place both are counted, since
// every HTTP error is answered through internal/httperr.
func (m *metrics) refused(r *http.Request, status int, err error) {
	var e *httperr.Error
	if errors.As(err, &e) && e.Limit != "" {
		m.refusals.WithLabelValues(e.Limit).Inc()
		return
	}
	var reason string
	switch {
	case errors.Is(err, auth.ErrInvalidRequest):
		reason = "invalid_request"
	case status != http.StatusUnauthorized && status != http.StatusForbidden:
		return
	case status == http.StatusUnauthorized && r.URL.Query().Has("authorization"):
		reason = "query_token"
	case errors.Is(err, auth.ErrNoToken):
		reason = "no_token"
	case status == http.StatusForbidden:
		reason = "forbidden"
	default:
		reason = "invalid_token"
	}
	m.authFailures.WithLabelValues(reason).Inc()
}

// watch serves next with a ResponseWriter that reports the errors answered
// through it (see refused) and, if publishes, times the POSTs it
// acknowledges (Mercure publications).
func (m *metrics) watch(next http.Handler, publishes bool) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ow := &observedWriter{ResponseWriter: w, m: m, r: r}
		if !publishes || r.Method != http.MethodPost {
			next.ServeHTTP(ow, r)
			return
		}
		start := time.Now()
		next.ServeHTTP(ow, r)
		if ow.status == http.StatusOK {
			m.publish.Observe(time.Since(start).Seconds())
		}
	})
}

// observedWriter is a ResponseWriter that tells the node's metrics of the
// errors answered through it (httperr.Observer) and remembers its status.
// Unwrap gives http.ResponseController (flushes, hijacking) the original.
type observedWriter struct {
	http.ResponseWriter
	m      *metrics
	r      *http.Request
	status int
}

func (o *observedWriter) WriteHeader(code int) {
	if o.status == 0 && code >= 200 {
		o.status = code
	}
	o.ResponseWriter.WriteHeader(code)
}

func (o *observedWriter) Write(b []byte) (int, error) {
	if o.status == 0 {
		o.status = http.StatusOK
	}
	return o.ResponseWriter.Write(b)
}

func (o *observedWriter) Unwrap() http.ResponseWriter { return o.ResponseWriter }

// ObserveError implements httperr.Observer.
func (o *observedWriter) ObserveError(status int, err error) { o.m.refused(o.r, status, err) }
