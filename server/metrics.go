package server

import (
	"net/http"

	"github.com/heraldhub/herald/hub"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// metrics are the node's Prometheus metrics, on a registry of its own so
// that several nodes can run in one process (as tests do).
type metrics struct {
	registry *prometheus.Registry
	updates  prometheus.Counter
}

func newMetrics(subscribers func() float64, stats func() hub.Stats) *metrics {
	m := &metrics{
		registry: prometheus.NewRegistry(),
		updates: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "herald_updates_total",
			Help: "Updates read from the log's tail and fanned out by this node.",
		}),
	}
	m.registry.MustRegister(
		m.updates,
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "herald_subscribers",
			Help: "Subscribers connected to this node.",
		}, subscribers),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "herald_stream_writes_total",
			Help: "Writes of updates and heartbeats to streams; fewer than deliveries when updates share a write.",
		}, func() float64 { return float64(stats().Writes) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "herald_stream_deferred_writes_total",
			Help: "Times a stream's socket did not take its bytes at once (a slow client), leaving them pending until it has room.",
		}, func() float64 { return float64(stats().Deferred) }),
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	return m
}

func (m *metrics) handler() http.Handler {
	return promhttp.HandlerFor(m.registry, promhttp.HandlerOpts{})
}
