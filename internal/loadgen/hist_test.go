package loadgen

import (
	"testing"
	"time"
)

// Quantiles come from ~2% buckets but never exceed the largest sample, so
// a report never shows a p99 above its max.
func TestQuantilesStayWithinTheSamples(t *testing.T) {
	var h histogram
	for _, d := range []time.Duration{3 * time.Millisecond, 10 * time.Millisecond, 100 * time.Millisecond} {
		h.add(d)
	}
	max := h.quantile(1)
	if max != 100*time.Millisecond {
		t.Fatalf("quantile(1) = %v, want the largest sample, 100ms", max)
	}
	if p50 := h.quantile(0.5); p50 < 10*time.Millisecond || p50 > 10*time.Millisecond*102/100 {
		t.Fatalf("p50 = %v, want 10ms within a bucket's 2%%", p50)
	}
	if p99 := h.quantile(0.99); p99 > max {
		t.Fatalf("p99 %v above the max %v", p99, max)
	}
}
