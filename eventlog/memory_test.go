package eventlog_test

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/heraldhub/herald/eventlog"
	"github.com/heraldhub/herald/eventlog/logtest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestMemoryConformance(t *testing.T) {
	logtest.Run(t, func(t *testing.T, retain int) eventlog.Log {
		return eventlog.NewMemory(retain)
	})
}

func TestMemoryGeneratesUUIDURNs(t *testing.T) {
	l := eventlog.NewMemory(0)
	defer l.Close()
	uuid := regexp.MustCompile(`^urn:uuid:[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)
	for range 10 {
		u, err := l.Append(t.Context(), eventlog.Update{Topics: []string{"t"}})
		if err != nil {
			t.Fatal(err)
		}
		if !uuid.MatchString(u.ID) {
			t.Fatalf("generated id %q is not a version 4 UUID URN", u.ID)
		}
	}
}

func TestMemoryRetainsDefaultCountWhenGivenZero(t *testing.T) {
	l := eventlog.NewMemory(0)
	defer l.Close()
	first := appendN(t, l, eventlog.DefaultRetain+1)[0]
	_, err := l.Since(t.Context(), first.ID, func(eventlog.Update) bool { return true })
	if !errors.Is(err, eventlog.ErrUnknownID) {
		t.Fatalf("Since(first of %d): err %v, want ErrUnknownID", eventlog.DefaultRetain+1, err)
	}
	n := 0
	if _, err := l.Since(t.Context(), eventlog.Earliest, func(eventlog.Update) bool { n++; return true }); err != nil {
		t.Fatal(err)
	}
	if n != eventlog.DefaultRetain {
		t.Fatalf("retained %d updates, want DefaultRetain = %d", n, eventlog.DefaultRetain)
	}
}

func TestMemoryTailOvertakenByRetentionStopsWithoutGap(t *testing.T) {
	const retain = 4
	l := eventlog.NewMemory(retain)
	defer l.Close()
	entered, release := make(chan struct{}), make(chan struct{})
	var got []uint64
	done, err := l.Follow(t.Context(), func(u eventlog.Update) {
		got = append(got, u.Seq)
		if u.Seq == 1 {
			close(entered)
			<-release // a slow tail: appends must not wait for it
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	appendN(t, l, 1)
	<-entered
	// While the tail is stuck in fn, drop everything it has not read.
	appendN(t, l, 2*retain)
	close(release)
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("overtaken tail did not stop")
	}
	// What it saw before stopping is a gapless prefix of the log.
	for i, s := range got {
		if s != uint64(i+1) {
			t.Fatalf("overtaken tail saw Seqs %v, want a gapless prefix from 1", got)
		}
	}
	if n := l.Overtaken(); n != 1 {
		t.Fatalf("Overtaken() = %d, want 1", n)
	}
}

func TestMemoryReplayOvertakenByRetentionFailsWithUnknownID(t *testing.T) {
	const retain = 300 // more than one copy chunk
	l := eventlog.NewMemory(retain)
	defer l.Close()
	appendN(t, l, retain)
	calls := 0
	_, err := l.Since(t.Context(), eventlog.Earliest, func(u eventlog.Update) bool {
		calls++
		if calls == 1 {
			appendN(t, l, retain) // drops the rest of this replay
		}
		return true
	})
	if !errors.Is(err, eventlog.ErrUnknownID) {
		t.Fatalf("replay overtaken by retention: err %v after %d calls, want ErrUnknownID", err, calls)
	}
	if calls == 0 || calls >= retain {
		t.Fatalf("fn called %d times, want a proper prefix", calls)
	}
}

func TestMemoryAppendDoesNotShareTopicsWithCaller(t *testing.T) {
	l := eventlog.NewMemory(0)
	defer l.Close()
	topics := []string{"a", "b"}
	u, err := l.Append(t.Context(), eventlog.Update{Topics: topics})
	if err != nil {
		t.Fatal(err)
	}
	topics[0] = "changed"
	_, err = l.Since(t.Context(), eventlog.Earliest, func(got eventlog.Update) bool {
		if got.Topics[0] != "a" {
			t.Errorf("stored topics %q changed with the caller's slice", got.Topics)
		}
		return true
	})
	if err != nil || u.Topics[0] != "a" {
		t.Fatalf("err %v, returned topics %q", err, u.Topics)
	}
}

func TestMemoryAppendHonoursCancelledContext(t *testing.T) {
	l := eventlog.NewMemory(0)
	defer l.Close()
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := l.Append(ctx, eventlog.Update{Topics: []string{"t"}}); !errors.Is(err, context.Canceled) {
		t.Fatalf("Append with a cancelled context: %v", err)
	}
}

// appendN appends n updates and returns them.
func appendN(t testing.TB, l eventlog.Log, n int) []eventlog.Update {
	t.Helper()
	out := make([]eventlog.Update, n)
	for i := range n {
		u, err := l.Append(context.Background(), eventlog.Update{Topics: []string{"t"}, Data: fmt.Sprint(i)})
		if err != nil {
			t.Fatal(err)
		}
		out[i] = u
	}
	return out
}

func BenchmarkMemoryAppend(b *testing.B) {
	l := eventlog.NewMemory(0)
	defer l.Close()
	u := eventlog.Update{Topics: []string{"https://example.com/books/1"}, Data: "payload"}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := l.Append(context.Background(), u); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkMemorySince(b *testing.B) {
	l := eventlog.NewMemory(0)
	defer l.Close()
	appendN(b, l, eventlog.DefaultRetain)
	b.ReportAllocs()
	n := 0
	for b.Loop() {
		if _, err := l.Since(context.Background(), eventlog.Earliest, func(eventlog.Update) bool { n++; return true }); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "updates/s")
}
