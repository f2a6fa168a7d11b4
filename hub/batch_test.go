package hub

import (
	"strconv"
	"testing"
	"time"

	"github.com/heraldhub/herald/eventlog"
)

// An update after a quiet spell is written at once; the updates that
// follow it within the batch window reach the stream in one write.
func TestUpdatesWithinTheBatchWindowShareOneWrite(t *testing.T) {
	const window = time.Second
	th := startHub(t, Config{BatchWindow: window})
	sub := th.subscribe(t, "", "topic=t")

	start := time.Now()
	th.publish(t, eventlog.Update{Topics: []string{"t"}, Data: "first"})
	if got := sub.next(t).Data; got != "first" {
		t.Fatalf("got %q, want first", got)
	}
	if waited := time.Since(start); waited >= window {
		t.Fatalf("the first update after a quiet spell took %v, want it written at once", waited)
	}

	// A steady flow: one update every 10ms, each long enough after the
	// last for a hub without batching to write it on its own.
	before := th.h.Stats().Writes
	const burst = 10
	for i := range burst {
		th.publish(t, eventlog.Update{Topics: []string{"t"}, Data: strconv.Itoa(i)})
		time.Sleep(10 * time.Millisecond)
	}
	for i := range burst {
		if got := sub.next(t).Data; got != strconv.Itoa(i) {
			t.Fatalf("update %d: got %q", i, got)
		}
	}
	if writes := th.h.Stats().Writes - before; writes > 2 {
		t.Fatalf("%d updates within one window took %d writes, want them batched into one (two at most)", burst, writes)
	}
}

// A detached stream keeps its non-blocking writes after the write deadline
// of its replay has passed, instead of leaving every update to a writer.
func TestDetachedStreamWritesAtOnceLongAfterItsReplay(t *testing.T) {
	if noDetach {
		t.Skip("detached streams only")
	}
	const writeTimeout = 50 * time.Millisecond
	th := startHub(t, Config{WriteTimeout: writeTimeout})
	sub := th.subscribe(t, "", "topic=t")
	th.publish(t, eventlog.Update{Topics: []string{"t"}, Data: "first"})
	if got := sub.next(t).Data; got != "first" {
		t.Fatalf("got %q, want first", got)
	}
	time.Sleep(2 * writeTimeout) // not synchronisation: the replay's deadline passes
	for i := range 5 {
		th.publish(t, eventlog.Update{Topics: []string{"t"}, Data: strconv.Itoa(i)})
		if got := sub.next(t).Data; got != strconv.Itoa(i) {
			t.Fatalf("got %q, want %d", got, i)
		}
	}
	if d := th.h.Stats().Deferred; d != 0 {
		t.Fatalf("%d writes were left to a writer for a client that reads at once, want 0", d)
	}
}
