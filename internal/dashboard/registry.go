package dashboard

import (
	"fmt"
	"math"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// The metrics a sample reads, by name (see node/metrics.go).
const (
	metricSubscribers = "herald_subscribers"
	metricUpdates     = "herald_updates_total"
	metricDeliveries  = "herald_deliveries_total"
	metricStreamEnds  = "herald_stream_ends_total"
	metricReplays     = "herald_replays_total"
	metricAppend      = "herald_log_append_duration_seconds"
	metricPush        = "herald_push_subscriptions"
)

// reading is what one sample reads from the node's registry: gauges and
// counters as /metrics shows them, and the append latency histogram.
type reading struct {
	subscribers, updates, deliveries, slow, replays float64
	appends                                         histogram
	// pushActive and pushPaused count the push subscriptions this node
	// delivers, by state.
	pushActive, pushPaused float64
}

// histogram is a cumulative histogram: counts[i] observations at most
// bounds[i], and total in all (the +Inf bucket).
type histogram struct {
	bounds []float64
	counts []uint64
	total  uint64
}

// read gathers g and picks the dashboard's metrics; one missing reads 0.
func read(g prometheus.Gatherer) (reading, error) {
	families, err := g.Gather()
	if err != nil {
		return reading{}, fmt.Errorf("dashboard: read the metrics: %w", err)
	}
	var r reading
	for _, f := range families {
		for _, m := range f.GetMetric() {
			switch f.GetName() {
			case metricSubscribers:
				r.subscribers += m.GetGauge().GetValue()
			case metricUpdates:
				r.updates += m.GetCounter().GetValue()
			case metricDeliveries:
				r.deliveries += m.GetCounter().GetValue()
			case metricReplays:
				r.replays += m.GetCounter().GetValue()
			case metricStreamEnds:
				if label(m, "reason") == "slow" {
					r.slow += m.GetCounter().GetValue()
				}
			case metricAppend:
				r.appends = histogramOf(m.GetHistogram())
			case metricPush:
				switch label(m, "state") {
				case "active":
					r.pushActive += m.GetGauge().GetValue()
				case "paused":
					r.pushPaused += m.GetGauge().GetValue()
				}
			}
		}
	}
	return r, nil
}

func label(m *dto.Metric, name string) string {
	for _, l := range m.GetLabel() {
		if l.GetName() == name {
			return l.GetValue()
		}
	}
	return ""
}

func histogramOf(h *dto.Histogram) histogram {
	out := histogram{total: h.GetSampleCount()}
	for _, b := range h.GetBucket() {
		if math.IsInf(b.GetUpperBound(), 1) {
			continue
		}
		out.bounds = append(out.bounds, b.GetUpperBound())
		out.counts = append(out.counts, b.GetCumulativeCount())
	}
	return out
}

// since returns the observations of h made after old, a reading of the
// same histogram taken earlier (all of h if their buckets differ).
func (h histogram) since(old histogram) histogram {
	if len(old.counts) != len(h.counts) || old.total > h.total {
		return h
	}
	d := histogram{bounds: h.bounds, counts: make([]uint64, len(h.counts)), total: h.total - old.total}
	for i := range h.counts {
		d.counts[i] = h.counts[i] - min(old.counts[i], h.counts[i])
	}
	return d
}

// quantile estimates the q-quantile of h as Prometheus's
// histogram_quantile does: linearly within the bucket that holds it, the
// largest finite bound for one past it. It returns nil for an empty h.
func (h histogram) quantile(q float64) *float64 {
	if h.total == 0 || len(h.bounds) == 0 {
		return nil
	}
	rank := q * float64(h.total)
	lower, below := 0.0, uint64(0)
	for i, upper := range h.bounds {
		if float64(h.counts[i]) >= rank {
			in := float64(h.counts[i] - below)
			v := upper
			if in > 0 {
				v = lower + (upper-lower)*(rank-float64(below))/in
			}
			return &v
		}
		lower, below = upper, h.counts[i]
	}
	v := h.bounds[len(h.bounds)-1]
	return &v
}
