package loadgen

import (
	"math"
	"sync/atomic"
	"time"
)

// histogram counts latencies in logarithmic buckets (about 2% wide) from
// 1µs to 100s, safe for concurrent use without locks.
type histogram struct {
	buckets [histBuckets]atomic.Uint64
	max     atomic.Int64
}

const (
	histBuckets = 1000
	histBase    = 1.02
)

func bucket(d time.Duration) int {
	us := float64(d) / float64(time.Microsecond)
	if us <= 1 {
		return 0
	}
	b := int(math.Log(us) / math.Log(histBase))
	return min(b, histBuckets-1)
}

func (h *histogram) add(d time.Duration) {
	if d < 0 {
		d = 0
	}
	h.buckets[bucket(d)].Add(1)
	for {
		m := h.max.Load()
		if int64(d) <= m || h.max.CompareAndSwap(m, int64(d)) {
			return
		}
	}
}

// quantile returns the latency below which q of the samples fall.
func (h *histogram) quantile(q float64) time.Duration {
	var total uint64
	for i := range h.buckets {
		total += h.buckets[i].Load()
	}
	if total == 0 {
		return 0
	}
	want := uint64(math.Ceil(q * float64(total)))
	var seen uint64
	for i := range h.buckets {
		seen += h.buckets[i].Load()
		if seen >= want {
			// The bucket's upper bound, but never above the largest sample.
			upper := time.Duration(math.Pow(histBase, float64(i+1)) * float64(time.Microsecond))
			return min(upper, time.Duration(h.max.Load()))
		}
	}
	return time.Duration(h.max.Load())
}
