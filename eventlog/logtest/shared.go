package logtest

import (
	"context"
	"errors"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/heraldhub/herald/eventlog"
	"github.com/heraldhub/herald/internal/tcpproxy"
)

// NodeFactory opens one node's handle on the shared log named name, on the
// backend at addr ("HOST:PORT"); the factory closes it and removes the log
// at the end of the test.
type NodeFactory func(t *testing.T, addr, name string) eventlog.Log

// RunShared checks what a log shared by several nodes promises, against the
// backend at addr: an update appended on one node reaches the other's
// tail, an id from one node resumes on the other (never repeating the
// resume point, however far the other's tail lags), a publisher id
// appended on both at once is stored once, an id reused on one node
// resolves to its first occurrence on both; and, through a proxy the suite cuts, that an
// append during an outage fails fast with ErrUnavailable while the tail
// resumes without a gap afterwards.
func RunShared(t *testing.T, addr string, open NodeFactory) {
	t.Run("TwoNodesShareOneLog", func(t *testing.T) { testTwoNodesShareOneLog(t, addr, open) })
	t.Run("ResumeOnAnotherNodeAtTheNewestUpdateIsNeverRepeated", func(t *testing.T) {
		name := UniqueName(t)
		checkResumeAtTheNewestUpdate(t, open(t, addr, name), open(t, addr, name))
	})
	t.Run("ReusedIDAcrossNodes", func(t *testing.T) { testReusedIDAcrossNodes(t, addr, open) })
	t.Run("OutageFailsFastAndTheTailResumesWithoutGap", func(t *testing.T) { testOutageFailsFastAndTheTailResumesWithoutGap(t, addr, open) })
}

func testTwoNodesShareOneLog(t *testing.T, addr string, open NodeFactory) {
	name := UniqueName(t)
	a, b := open(t, addr, name), open(t, addr, name)
	got := make(chan eventlog.Update, 10)
	done, err := b.Follow(t.Context(), func(u eventlog.Update) { got <- u })
	if err != nil {
		t.Fatal(err)
	}
	first, err := a.Append(t.Context(), eventlog.Update{Topics: []string{"t"}, Data: "from a"})
	if err != nil {
		t.Fatal(err)
	}
	select {
	case u := <-got:
		if u.ID != first.ID || u.Data != "from a" {
			t.Fatalf("node b's tail got %+v, want node a's update", u)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("node b's tail did not see node a's update")
	}
	second, _ := a.Append(t.Context(), eventlog.Update{Topics: []string{"t"}, Data: "second"})
	var replayed []string
	if _, err := b.Since(t.Context(), first.ID, func(u eventlog.Update) bool { replayed = append(replayed, u.ID); return true }); err != nil {
		t.Fatalf("node b cannot resume after node a's id: %v", err)
	}
	if len(replayed) != 1 || replayed[0] != second.ID {
		t.Fatalf("node b replayed %v after %q, want [%s]", replayed, first.ID, second.ID)
	}
	// A publisher id appended on both nodes at once is stored once.
	var wg sync.WaitGroup
	errs := make(chan error, 2)
	for _, l := range []eventlog.Log{a, b} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := l.Append(t.Context(), eventlog.Update{ID: "order-1", Topics: []string{"t"}})
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	ok, dup := 0, 0
	for err := range errs {
		switch {
		case err == nil:
			ok++
		case errors.Is(err, eventlog.ErrDuplicateID):
			dup++
		default:
			t.Fatal(err)
		}
	}
	if ok != 1 || dup != 1 {
		t.Fatalf("%d stored and %d refused as duplicates, want exactly one of each", ok, dup)
	}
	b.Close()
	<-done
}

func testOutageFailsFastAndTheTailResumesWithoutGap(t *testing.T, addr string, open NodeFactory) {
	p, err := tcpproxy.Start(addr)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	name := UniqueName(t)
	direct := open(t, addr, name)
	l := open(t, p.Addr(), name)
	got := make(chan eventlog.Update, 100)
	if _, err := l.Follow(t.Context(), func(u eventlog.Update) { got <- u }); err != nil {
		t.Fatal(err)
	}
	before, _ := direct.Append(t.Context(), eventlog.Update{Topics: []string{"t"}, Data: "before"})
	p.Cut()
	start := time.Now()
	if _, err := l.Append(t.Context(), eventlog.Update{Topics: []string{"t"}, Data: "lost"}); !errors.Is(err, eventlog.ErrUnavailable) {
		t.Fatalf("append during the outage: %v, want ErrUnavailable", err)
	}
	if d := time.Since(start); d > 5*time.Second { // bounded by the backend client's timeouts
		t.Errorf("append during the outage took %v to fail, want fast", d)
	}
	// Appended elsewhere while this node cannot reach the backend.
	during, _ := direct.Append(t.Context(), eventlog.Update{Topics: []string{"t"}, Data: "during"})
	if err := p.Restore(); err != nil {
		t.Fatal(err)
	}
	// The client reconnects on its own; appends fail (and store nothing)
	// until it has.
	var after eventlog.Update
	deadline := time.Now().Add(30 * time.Second)
	for err = errors.ErrUnsupported; err != nil && time.Now().Before(deadline); {
		if after, err = l.Append(t.Context(), eventlog.Update{Topics: []string{"t"}, Data: "after"}); err != nil {
			time.Sleep(50 * time.Millisecond)
		}
	}
	if err != nil {
		t.Fatalf("append after the outage: %v", err)
	}
	for _, want := range []eventlog.Update{before, during, after} {
		select {
		case u := <-got:
			if u.ID != want.ID {
				t.Fatalf("tail got %q (%s), want %q (%s): a gap or a stray update", u.Data, u.ID, want.Data, want.ID)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("tail did not deliver %q after the outage", want.Data)
		}
	}
}

// BenchmarkAppend measures appends to a shared log at addr, from par
// goroutines at once, reporting appends per second.
func BenchmarkAppend(b *testing.B, open func(b *testing.B) eventlog.Log, par int) {
	l := open(b)
	u := eventlog.Update{Topics: []string{"bench"}, Data: string(make([]byte, 100))}
	if par <= 1 {
		for b.Loop() {
			if _, err := l.Append(context.Background(), u); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "appends/s")
		return
	}
	b.SetParallelism(max(1, par/max(1, runtimeProcs())))
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := l.Append(context.Background(), u); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "appends/s")
}

// BenchmarkFollowLatency measures how long an append takes to reach a
// tail on another handle of the same log (another node).
func BenchmarkFollowLatency(b *testing.B, open func(b *testing.B) eventlog.Log) {
	writer, reader := open(b), open(b)
	got := make(chan struct{}, 1)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done, err := reader.Follow(ctx, func(eventlog.Update) { got <- struct{}{} })
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for b.Loop() {
		if _, err := writer.Append(ctx, eventlog.Update{Topics: []string{"bench"}, Data: "x"}); err != nil {
			b.Fatal(err)
		}
		<-got
	}
	b.StopTimer()
	cancel()
	<-done
}

func runtimeProcs() int { return runtime.GOMAXPROCS(0) }

// BenchmarkSinceResume measures a subscriber's resumption: Since from an
// id 100 updates before the end of a 1,000-update log, reading to the end.
func BenchmarkSinceResume(b *testing.B, open func(b *testing.B) eventlog.Log) {
	l := open(b)
	var from string
	for i := range 1000 {
		u, err := l.Append(context.Background(), eventlog.Update{Topics: []string{"bench"}, Data: "x"})
		if err != nil {
			b.Fatal(err)
		}
		if i == 899 {
			from = u.ID
		}
	}
	for b.Loop() {
		n := 0
		if _, err := l.Since(context.Background(), from, func(eventlog.Update) bool { n++; return true }); err != nil || n != 100 {
			b.Fatalf("Since: %d updates, %v", n, err)
		}
	}
}
