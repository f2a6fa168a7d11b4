package jobs

import (
	"encoding/json"
	"strconv"
	"testing"
	"time"

	"github.com/heraldhub/herald/eventlog"
)

// BenchmarkProgressCoalesced measures a report that is coalesced (not
// published): what a worker pays per report in a flood.
func BenchmarkProgressCoalesced(b *testing.B) {
	m, err := NewManager(Config{Publisher: discard{}, MinInterval: time.Hour})
	if err != nil {
		b.Fatal(err)
	}
	defer m.Close()
	ctx := b.Context()
	m.Create(ctx, Spec{ID: "bench", Stages: []Stage{{Name: "a"}, {Name: "b", Weight: 3}}, Total: 1e12})
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		i++
		if _, err := m.Progress(ctx, "bench", Report{Done: float64(i)}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkProgressPublished measures a report published at once (encode
// the snapshot and hand it to the Publisher).
func BenchmarkProgressPublished(b *testing.B) {
	m, err := NewManager(Config{Publisher: discard{}, MinInterval: time.Nanosecond})
	if err != nil {
		b.Fatal(err)
	}
	defer m.Close()
	ctx := b.Context()
	m.Create(ctx, Spec{ID: "bench", Stages: []Stage{{Name: "a"}, {Name: "b", Weight: 3}}, Total: 1e12})
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		i++
		if _, err := m.Progress(ctx, "bench", Report{Done: float64(i)}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkObserve measures what every node's tail pays per update: a job
// event (decoded and applied) and any other update (skipped).
func BenchmarkObserve(b *testing.B) {
	m, err := NewManager(Config{Publisher: discard{}})
	if err != nil {
		b.Fatal(err)
	}
	defer m.Close()
	s := Snapshot{ID: "bench", Topic: "jobs/bench", State: Running, Stages: []Stage{{Name: "a", Weight: 1}, {Name: "b", Weight: 3}}, Stage: "b", Done: 5, Total: 10, Message: "working"}
	b.Run("job", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			b.StopTimer()
			s.Seq++
			data, _ := json.Marshal(s)
			b.StartTimer()
			m.Observe(eventlog.Update{Topics: []string{s.Topic}, Type: EventProgress, Data: string(data)})
		}
	})
	b.Run("other", func(b *testing.B) {
		u := eventlog.Update{Topics: []string{"orders/1"}, Data: "hello"}
		b.ReportAllocs()
		for b.Loop() {
			m.Observe(u)
		}
	})
}

// BenchmarkSnapshots measures what a new subscriber to one job costs with
// 1,000 jobs retained.
func BenchmarkSnapshots(b *testing.B) {
	m, err := NewManager(Config{Publisher: discard{}})
	if err != nil {
		b.Fatal(err)
	}
	defer m.Close()
	for i := range 1000 {
		m.Create(b.Context(), Spec{ID: "job-" + strconv.Itoa(i), Total: 100})
	}
	b.ReportAllocs()
	for b.Loop() {
		if got := m.Snapshots(func(topic string) bool { return topic == "jobs/job-500" }); len(got) != 1 {
			b.Fatalf("%d snapshots", len(got))
		}
	}
}

// BenchmarkLogLine measures one log line: numbered, JSON-encoded, handed
// to the Publisher (a no-op here) and kept in the job's tail.
func BenchmarkLogLine(b *testing.B) {
	m, err := NewManager(Config{Publisher: discard{}})
	if err != nil {
		b.Fatal(err)
	}
	defer m.Close()
	ctx := b.Context()
	m.Create(ctx, Spec{ID: "bench"})
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := m.Log(ctx, "bench", "cc -O2 -c src/frobnicate.c -o build/frobnicate.o"); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkObserveLogLine measures a log line read from the log's tail
// (what every node of a cluster does with each line).
func BenchmarkObserveLogLine(b *testing.B) {
	m, err := NewManager(Config{Publisher: discard{}})
	if err != nil {
		b.Fatal(err)
	}
	defer m.Close()
	m.Create(b.Context(), Spec{ID: "bench"})
	b.ReportAllocs()
	n := uint64(0)
	for b.Loop() {
		n++
		m.Observe(eventlog.Update{Topics: []string{"jobs/bench/log"}, Type: EventLog,
			Data: `{"n":` + strconv.FormatUint(n, 10) + `,"line":"cc -O2 -c src/frobnicate.c -o build/frobnicate.o"}`})
	}
}
