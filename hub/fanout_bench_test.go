package hub

import (
	"fmt"
	"testing"

	"github.com/heraldhub/herald/eventlog"
)

// BenchmarkFanOut measures the hot path from the log's tail to the
// subscribers' queues: encode once, find the subscribers through the index,
// queue the shared frame, and drain it as a writer would. Allocations stay
// per update (the frame), never per delivery.
func BenchmarkFanOut(b *testing.B) {
	for _, n := range []int{1, 100, 10000} {
		b.Run(fmt.Sprintf("subscribers=%d", n), func(b *testing.B) {
			h := &Hub{index: newIndex()}
			h.cfg.setDefaults()
			sel, _ := ParseSelectors([]string{"orders/{id}"})
			exact, _ := ParseSelectors([]string{"orders/1"})
			subs := make([]*subscriber, n)
			for i := range subs {
				topics := exact
				if i%2 == 1 {
					topics = sel
				}
				subs[i] = newSubscriber(topics, nil, 1<<20, 1<<30)
				h.index.add(subs[i])
			}
			u := eventlog.Update{ID: "urn:uuid:01a20c42-d14b-7948-9c53-09ba8881735d", Topics: []string{"orders/1"}, Data: `{"status":"shipped"}`}
			b.ReportAllocs()
			b.ResetTimer()
			for i := range b.N {
				u.Seq = uint64(i + 1)
				h.fanOut(u)
				if i%64 == 63 {
					for _, s := range subs {
						frames, _ := s.take()
						s.release(frames)
					}
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/delivery")
		})
	}
}

func TestFanOutDoesNotAllocatePerDelivery(t *testing.T) {
	h := &Hub{index: newIndex()}
	h.cfg.setDefaults()
	sel, _ := ParseSelectors([]string{"t"})
	subs := make([]*subscriber, 1000)
	for i := range subs {
		subs[i] = newSubscriber(sel, nil, 1<<20, 1<<30)
		h.index.add(subs[i])
	}
	u := eventlog.Update{ID: "id", Topics: []string{"t"}, Data: "x"}
	seq := uint64(0)
	drain := func() {
		for _, s := range subs {
			frames, _ := s.take()
			s.release(frames)
		}
	}
	// Warm the queues up so their slices have room.
	for range 4 {
		seq++
		u.Seq = seq
		h.fanOut(u)
		drain()
	}
	allocs := testing.AllocsPerRun(100, func() {
		seq++
		u.Seq = seq
		h.fanOut(u)
		drain()
	})
	if allocs > 4 {
		t.Fatalf("fan-out to %d subscribers made %.0f allocations per update; want a few per update, none per delivery", len(subs), allocs)
	}
}
