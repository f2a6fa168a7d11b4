package loadgen

import (
	"context"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Publication is what publishing a run's updates did.
type Publication struct {
	Published     int `json:"published"`
	PublishFailed int `json:"publish_failed"`
	// PublishError is the first failed publication's error.
	PublishError string  `json:"publish_error,omitempty"`
	AchievedRate float64 `json:"achieved_rate"`
	// PublishP50ms to PublishMaxMs time the publications that succeeded,
	// request to response; MaxLagMs is how far behind its schedule a
	// publication started, at worst.
	PublishP50ms float64 `json:"publish_p50_ms"`
	PublishP99ms float64 `json:"publish_p99_ms"`
	PublishMaxMs float64 `json:"publish_max_ms"`
	MaxLagMs     float64 `json:"max_lag_ms"`
}

// PublishUpdates publishes n updates through publish, rate a second (on a
// fixed schedule: a late publication does not delay the ones after it
// further), each one's data its number, the time it was sent in Unix
// nanoseconds, and padding to size bytes (default 64, at least 32), which
// is what Run's subscribers expect. It stops early when ctx ends.
func PublishUpdates(ctx context.Context, n int, rate float64, size int, publish func(ctx context.Context, data string) error) *Publication {
	if size < 32 {
		size = 64
	}
	pub := &Publication{}
	var hist histogram
	var maxLag time.Duration
	start := time.Now()
	interval := time.Duration(float64(time.Second) / rate)
	pad := strings.Repeat("x", size)
	for i := range n {
		if ctx.Err() != nil {
			break
		}
		due := start.Add(time.Duration(i) * interval)
		if wait := time.Until(due); wait > 0 {
			time.Sleep(wait)
		}
		sent := time.Now()
		maxLag = max(maxLag, sent.Sub(due))
		data := strconv.Itoa(i) + " " + strconv.FormatInt(sent.UnixNano(), 10) + " "
		data += pad[:max(0, size-len(data))]
		if err := publish(ctx, data); err != nil {
			if pub.PublishFailed == 0 {
				pub.PublishError = err.Error()
			}
			pub.PublishFailed++
			continue
		}
		hist.add(time.Since(sent))
		pub.Published++
	}
	if n > 0 {
		pub.AchievedRate = float64(pub.Published) / time.Since(start).Seconds()
	}
	pub.PublishP50ms, pub.PublishP99ms = ms(hist.quantile(.5)), ms(hist.quantile(.99))
	pub.PublishMaxMs, pub.MaxLagMs = ms(time.Duration(hist.max.Load())), ms(maxLag)
	return pub
}

// PublishConcurrently publishes n updates through publish from
// concurrency publishers at once, each sending its next update as soon as
// the last was acknowledged: the rate is what the server sustains, and the
// publish times are its acknowledgement latency at that concurrency. The
// updates' data are as PublishUpdates writes them, so that subscribers can
// account for them (in whatever order they arrive).
func PublishConcurrently(ctx context.Context, n, concurrency, size int, publish func(ctx context.Context, data string) error) *Publication {
	if size < 32 {
		size = 64
	}
	pub := &Publication{}
	var hist histogram
	var next atomic.Int64
	var mu sync.Mutex
	var wg sync.WaitGroup
	pad := strings.Repeat("x", size)
	start := time.Now()
	for range max(1, concurrency) {
		wg.Go(func() {
			for ctx.Err() == nil {
				i := next.Add(1) - 1
				if i >= int64(n) {
					return
				}
				sent := time.Now()
				data := strconv.FormatInt(i, 10) + " " + strconv.FormatInt(sent.UnixNano(), 10) + " "
				data += pad[:max(0, size-len(data))]
				err := publish(ctx, data)
				mu.Lock()
				if err != nil {
					if pub.PublishFailed == 0 {
						pub.PublishError = err.Error()
					}
					pub.PublishFailed++
				} else {
					pub.Published++
				}
				mu.Unlock()
				if err == nil {
					hist.add(time.Since(sent))
				}
			}
		})
	}
	wg.Wait()
	if n > 0 {
		pub.AchievedRate = float64(pub.Published) / time.Since(start).Seconds()
	}
	pub.PublishP50ms, pub.PublishP99ms = ms(hist.quantile(.5)), ms(hist.quantile(.99))
	pub.PublishMaxMs = ms(time.Duration(hist.max.Load()))
	return pub
}

// ms converts d to milliseconds, to the microsecond.
func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
