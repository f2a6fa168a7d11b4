package jobs

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"runtime"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/heraldhub/herald/eventlog"
	"github.com/heraldhub/herald/hub"
)

// cpuTime is the CPU time (user and system) this process has used.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// hubPublisher publishes a manager's events through a hub set after the
// manager is made (the hub's Observe needs the manager first).
type hubPublisher struct{ h *hub.Hub }

func (p *hubPublisher) Publish(ctx context.Context, u eventlog.Update) (eventlog.Update, error) {
	return p.h.Publish(ctx, u)
}

// BenchmarkProgressReportPerWatcher measures one progress report of a job
// watched by W subscribers: the report made and published through a real
// hub on the memory log, observed back by the manager, fanned out, written
// to W SSE streams on loopback and read by W clients in this process (so
// the time includes both ends). It reports, per watcher, the time, the CPU
// time of the process (user and system), the bytes allocated and the SSE
// bytes received.
func BenchmarkProgressReportPerWatcher(b *testing.B) {
	benchPerWatcher(b, "jobs/bench", EventProgress, func(ctx context.Context, m *Manager, i int) error {
		_, err := m.Progress(ctx, "bench", Report{Stage: "b", Done: float64(i), Message: "row " + fmt.Sprint(i)})
		return err
	})
}

// BenchmarkLogLinePerWatcher measures one log line of a job watched by W
// subscribers of its log topic, the same way.
func BenchmarkLogLinePerWatcher(b *testing.B) {
	benchPerWatcher(b, "jobs/bench/log", EventLog, func(ctx context.Context, m *Manager, i int) error {
		_, _, err := m.Log(ctx, "bench", "cc -O2 -c src/frobnicate.c -o build/frobnicate.o")
		return err
	})
}

// benchPerWatcher runs op, which makes one event of type typ on topic,
// once per iteration, and waits each time until every watcher has read it.
func benchPerWatcher(b *testing.B, topic, typ string, op func(ctx context.Context, m *Manager, i int) error) {
	for _, w := range []int{1, 100, 1000} {
		b.Run(fmt.Sprintf("watchers=%d", w), func(b *testing.B) {
			pub := &hubPublisher{}
			m, err := NewManager(Config{Publisher: pub, MinInterval: time.Nanosecond})
			if err != nil {
				b.Fatal(err)
			}
			defer m.Close()
			// Each report is waited for before the next, so the batch window
			// would only add idle time: every update is written at once.
			h, err := hub.New(hub.Config{Log: eventlog.NewMemory(1024), Observe: m.Observe})
			if err != nil {
				b.Fatal(err)
			}
			defer h.Close()
			pub.h = h
			ctx := b.Context()
			if _, err := m.Create(ctx, Spec{ID: "bench", Stages: []Stage{{Name: "a"}, {Name: "b", Weight: 3}}, Total: 1e12}); err != nil {
				b.Fatal(err)
			}
			sel, err := hub.ParseSelectors([]string{topic})
			if err != nil {
				b.Fatal(err)
			}
			srv := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
				h.Stream(rw, r, hub.Subscription{Topics: sel})
			}))
			defer srv.Close()

			var received, target, wire atomic.Int64
			arrived := make(chan struct{}, 1)
			marker := []byte("event: " + typ + "\n")
			client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: -1}}
			defer client.CloseIdleConnections()
			for range w {
				resp, err := client.Get(srv.URL)
				if err != nil {
					b.Fatal(err)
				}
				defer resp.Body.Close()
				go func() {
					r := bufio.NewReader(resp.Body)
					for {
						line, err := r.ReadSlice('\n')
						wire.Add(int64(len(line)))
						if err != nil {
							return
						}
						if bytes.Equal(line, marker) && received.Add(1) == target.Load() {
							select {
							case arrived <- struct{}{}:
							default:
							}
						}
					}
				}()
			}
			for range 1000 {
				if h.Subscribers() == w {
					break
				}
				time.Sleep(time.Millisecond)
			}
			if got := h.Subscribers(); got != w {
				b.Fatalf("%d watchers subscribed, want %d", got, w)
			}

			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			cpu := cpuTime()
			wire.Store(0)
			b.ResetTimer()
			for i := range b.N {
				target.Store(int64((i + 1) * w))
				if err := op(ctx, m, i+1); err != nil {
					b.Fatal(err)
				}
				select {
				case <-arrived:
				case <-time.After(30 * time.Second):
					b.Fatalf("event %d: %d of %d deliveries arrived", i+1, received.Load(), target.Load())
				}
			}
			b.StopTimer()
			runtime.ReadMemStats(&after)
			cpu = cpuTime() - cpu
			deliveries := float64(b.N * w)
			b.ReportMetric(float64(cpu.Nanoseconds())/deliveries, "cpu-ns/watcher")
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/deliveries, "ns/watcher")
			b.ReportMetric(float64(after.TotalAlloc-before.TotalAlloc)/deliveries, "B/watcher")
			b.ReportMetric(float64(wire.Load())/deliveries, "sse-B/watcher")
		})
	}
}
