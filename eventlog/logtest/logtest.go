package logtest

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/heraldhub/herald/eventlog"
	"github.com/heraldhub/herald/sse"
)

// Factory opens a fresh, empty log that retains at most retain updates,
// or the backend's default if retain is 0. It is called from the subtest
// that uses the log, with that subtest's t: it may call t.Skip or t.Fatal
// and register cleanups. Run closes the log when the subtest ends (Close
// may thus be called twice).
type Factory func(t *testing.T, retain int) eventlog.Log

// Timeout bounds every wait in the suite: for an update to reach a tail,
// for a tail to stop, for a call to return. A backend that needs longer
// may raise it before calling Run.
var Timeout = 5 * time.Second

// Run runs the conformance suite against the logs open returns, one
// subtest per behaviour.
func Run(t *testing.T, open Factory) {
	t.Helper()
	tests := []struct {
		name string
		run  func(t *testing.T, open Factory)
	}{
		{"AppendAssignsIncreasingSeqAndTime", testAppendAssignsIncreasingSeqAndTime},
		{"GeneratedIDsAreUniqueAndValid", testGeneratedIDsAreUniqueAndValid},
		{"PublisherIDsAreKept", testPublisherIDsAreKept},
		{"DuplicateIDIsRejectedAndNothingStored", testDuplicateIDIsRejected},
		{"InvalidIDIsRejectedAndNothingStored", testInvalidIDIsRejected},
		{"ReusedIDIsStoredAndResolvesToTheFirstOccurrence", testReusedIDIsStoredAndResolvesToTheFirstOccurrence},
		{"ReuseIDWithoutTheFlagStillRefused", testReuseIDWithoutTheFlagStillRefused},
		{"ReusedIDResolvesToTheNextRetainedOccurrence", testReusedIDResolvesToTheNextRetainedOccurrence},
		{"UpdateFieldsRoundTrip", testUpdateFieldsRoundTrip},
		{"SinceEachIDYieldsExactlyTheRest", testSinceEachIDYieldsTheRest},
		{"SinceEarliestYieldsAllRetained", testSinceEarliestYieldsAllRetained},
		{"SinceUnknownIDFailsWithoutCallingFn", testSinceUnknownIDFails},
		{"SinceStopsWhenFnReturnsFalse", testSinceStopsWhenFnReturnsFalse},
		{"SinceEndsAtTheEndAsOfTheCall", testSinceEndsAtTheEndAsOfTheCall},
		{"RetentionKeepsExactlyTheLastUpdates", testRetentionByCount},
		{"SinceOvertakenByRetentionLeavesNoGap", testSinceOvertakenByRetention},
		{"SinceReturnsTheResumePoint", testSinceReturnsTheResumePoint},
		{"ResumeAtTheNewestUpdateIsNeverRepeated", testResumeAtTheNewestUpdateIsNeverRepeated},
		{"IDsAndTypesKeepEveryCharacter", testIDsAndTypesKeepEveryCharacter},
		{"ConcurrentAppendsAreTotallyOrdered", testConcurrentAppends},
		{"FollowIsPositionedWhenItReturns", testFollowIsPositioned},
		{"TailsSeeIdenticalSequences", testTailsSeeIdenticalSequences},
		{"FollowStopsWhenContextIsDone", testFollowStopsOnCancel},
		{"CloseStopsTailsAndLaterCallsFail", testCloseStopsTails},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { tt.run(t, open) })
	}
}

// UniqueName returns a name for a stream, key or file that no other test
// or run uses: "herald-test-", the test's name reduced to letters, digits,
// '-' and '_', and a random suffix. It fits NATS stream and Redis key
// naming rules.
func UniqueName(t *testing.T) string {
	t.Helper()
	name := strings.Map(func(r rune) rune {
		switch {
		case 'a' <= r && r <= 'z', 'A' <= r && r <= 'Z', '0' <= r && r <= '9', r == '-', r == '_':
			return r
		}
		return '_'
	}, t.Name())
	if len(name) > 64 {
		name = name[len(name)-64:]
	}
	return "herald-test-" + name + "-" + strings.ToLower(rand.Text()[:10])
}

// openLog opens a log with open and closes it when t ends.
func openLog(t *testing.T, open Factory, retain int) eventlog.Log {
	t.Helper()
	l := open(t, retain)
	if l == nil {
		t.Fatal("Factory returned a nil log")
	}
	t.Cleanup(func() { l.Close() })
	return l
}

// ctxFor returns a context that ends after Timeout or with t.
func ctxFor(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), Timeout)
	t.Cleanup(cancel)
	return ctx
}

// mustAppend appends u and fails t on error.
func mustAppend(t *testing.T, l eventlog.Log, u eventlog.Update) eventlog.Update {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), Timeout)
	defer cancel()
	got, err := l.Append(ctx, u)
	if err != nil {
		t.Fatalf("Append(%q): %v", u.ID, err)
	}
	return got
}

// appendN appends n updates on topic with ids prefix0, prefix1, … (or
// generated ids if prefix is empty) and returns them as stored.
func appendN(t *testing.T, l eventlog.Log, prefix string, n int) []eventlog.Update {
	t.Helper()
	out := make([]eventlog.Update, n)
	for i := range n {
		u := eventlog.Update{Topics: []string{"t"}, Data: fmt.Sprint(i)}
		if prefix != "" {
			u.ID = fmt.Sprint(prefix, i)
		}
		out[i] = mustAppend(t, l, u)
	}
	return out
}

// since returns what Since(id) passes to fn, copying each update's Topics.
func since(t *testing.T, l eventlog.Log, id string) ([]eventlog.Update, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), Timeout)
	defer cancel()
	var got []eventlog.Update
	_, err := l.Since(ctx, id, func(u eventlog.Update) bool {
		u.Topics = slices.Clone(u.Topics)
		got = append(got, u)
		return true
	})
	return got, err
}

// mustSince is since that fails t on error.
func mustSince(t *testing.T, l eventlog.Log, id string) []eventlog.Update {
	t.Helper()
	got, err := since(t, l, id)
	if err != nil {
		t.Fatalf("Since(%q): %v", id, err)
	}
	return got
}

// ids returns the ids of us.
func ids(us []eventlog.Update) []string {
	out := make([]string, len(us))
	for i, u := range us {
		out[i] = u.ID
	}
	return out
}

// sameUpdates fails t unless got and want hold the same updates (every
// field, Time compared with Equal), in the same order.
func sameUpdates(t *testing.T, what string, got, want []eventlog.Update) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: got %d updates %q, want %d %q", what, len(got), ids(got), len(want), ids(want))
	}
	for i := range got {
		if d := diff(got[i], want[i]); d != "" {
			t.Fatalf("%s: update %d: %s", what, i, d)
		}
	}
}

// diff describes how got differs from want, or returns "".
func diff(got, want eventlog.Update) string {
	switch {
	case got.Seq != want.Seq:
		return fmt.Sprintf("Seq %d, want %d", got.Seq, want.Seq)
	case got.ID != want.ID:
		return fmt.Sprintf("ID %q, want %q", got.ID, want.ID)
	case !slices.Equal(got.Topics, want.Topics):
		return fmt.Sprintf("Topics %q, want %q", got.Topics, want.Topics)
	case got.Data != want.Data:
		return fmt.Sprintf("Data %q, want %q", got.Data, want.Data)
	case got.Type != want.Type:
		return fmt.Sprintf("Type %q, want %q", got.Type, want.Type)
	case got.Retry != want.Retry:
		return fmt.Sprintf("Retry %v, want %v", got.Retry, want.Retry)
	case got.Private != want.Private:
		return fmt.Sprintf("Private %v, want %v", got.Private, want.Private)
	case !got.Time.Equal(want.Time):
		return fmt.Sprintf("Time %v, want %v", got.Time, want.Time)
	}
	return ""
}

// tail collects what a Follow passes to fn.
type tail struct {
	updates chan eventlog.Update
	done    <-chan struct{}
	late    atomic.Bool // fn was called after done was closed
}

// follow starts a tail on l with ctx.
func follow(t *testing.T, ctx context.Context, l eventlog.Log) *tail {
	t.Helper()
	tl := &tail{updates: make(chan eventlog.Update, 4096)}
	var doneSet atomic.Pointer[<-chan struct{}]
	done, err := l.Follow(ctx, func(u eventlog.Update) {
		if d := doneSet.Load(); d != nil {
			select {
			case <-*d:
				tl.late.Store(true)
			default:
			}
		}
		u.Topics = slices.Clone(u.Topics)
		select {
		case tl.updates <- u:
		default:
			// More than the suite ever appends to one tail: drop, and
			// let the count checks fail.
		}
	})
	if err != nil {
		t.Fatalf("Follow: %v", err)
	}
	if done == nil {
		t.Fatal("Follow returned a nil done channel")
	}
	doneSet.Store(&done)
	tl.done = done
	return tl
}

// take waits for the tail's next n updates.
func (tl *tail) take(t *testing.T, n int) []eventlog.Update {
	t.Helper()
	timer := time.NewTimer(Timeout)
	defer timer.Stop()
	out := make([]eventlog.Update, 0, n)
	for len(out) < n {
		select {
		case u := <-tl.updates:
			out = append(out, u)
		case <-timer.C:
			t.Fatalf("tail: got %d updates %q within %v, want %d", len(out), ids(out), Timeout, n)
		}
	}
	return out
}

// waitDone waits for the tail to stop.
func (tl *tail) waitDone(t *testing.T, why string) {
	t.Helper()
	select {
	case <-tl.done:
	case <-time.After(Timeout):
		t.Fatalf("tail still running %v after %s", Timeout, why)
	}
}

func testAppendAssignsIncreasingSeqAndTime(t *testing.T, open Factory) {
	l := openLog(t, open, 0)
	start := time.Now()
	var last uint64
	for i := range 20 {
		in := eventlog.Update{Topics: []string{"a", "b"}, Data: fmt.Sprint("data ", i), Type: "step"}
		u := mustAppend(t, l, in)
		if i > 0 && u.Seq <= last {
			t.Fatalf("append %d: Seq %d after %d, want strictly increasing", i, u.Seq, last)
		}
		last = u.Seq
		if u.Time.IsZero() {
			t.Fatalf("append %d: Time not set", i)
		}
		if u.Time.Before(start.Add(-time.Minute)) || u.Time.After(time.Now().Add(time.Minute)) {
			t.Fatalf("append %d: Time %v, want about now (%v)", i, u.Time, start)
		}
		in.Seq, in.ID, in.Time = u.Seq, u.ID, u.Time
		if d := diff(u, in); d != "" {
			t.Fatalf("append %d returned %s", i, d)
		}
	}
}

func testGeneratedIDsAreUniqueAndValid(t *testing.T, open Factory) {
	l := openLog(t, open, 0)
	seen := map[string]bool{}
	for i := range 100 {
		u := mustAppend(t, l, eventlog.Update{Topics: []string{"t"}})
		switch {
		case u.ID == "":
			t.Fatalf("append %d: no id assigned", i)
		case !sse.ValidID(u.ID):
			t.Fatalf("append %d: assigned id %q contains CR, LF or NUL", i, u.ID)
		case u.ID == eventlog.Earliest:
			t.Fatalf("append %d: assigned the reserved id %q", i, u.ID)
		case seen[u.ID]:
			t.Fatalf("append %d: id %q assigned twice", i, u.ID)
		}
		seen[u.ID] = true
	}
}

func testPublisherIDsAreKept(t *testing.T, open Factory) {
	l := openLog(t, open, 0)
	want := []string{"1", "order-17", "https://example.com/updates/9", "ünïcødé ✓", "with space", "urn:uuid:4a3e1c5d-0000-4000-8000-000000000001"}
	for _, id := range want {
		if u := mustAppend(t, l, eventlog.Update{ID: id, Topics: []string{"t"}}); u.ID != id {
			t.Fatalf("Append with id %q stored id %q", id, u.ID)
		}
	}
	if got := ids(mustSince(t, l, eventlog.Earliest)); !slices.Equal(got, want) {
		t.Fatalf("Since(Earliest) ids %q, want %q", got, want)
	}
}

func testDuplicateIDIsRejected(t *testing.T, open Factory) {
	l := openLog(t, open, 0)
	first := mustAppend(t, l, eventlog.Update{ID: "dup", Topics: []string{"t"}, Data: "first"})
	gen := mustAppend(t, l, eventlog.Update{Topics: []string{"t"}, Data: "generated"})
	for _, id := range []string{"dup", gen.ID} {
		_, err := l.Append(ctxFor(t), eventlog.Update{ID: id, Topics: []string{"t"}, Data: "second"})
		if !errors.Is(err, eventlog.ErrDuplicateID) {
			t.Fatalf("second Append with id %q: err %v, want ErrDuplicateID", id, err)
		}
	}
	after := mustAppend(t, l, eventlog.Update{ID: "after", Topics: []string{"t"}})
	if after.Seq <= gen.Seq {
		t.Fatalf("Append after a duplicate: Seq %d, want above %d", after.Seq, gen.Seq)
	}
	if got, want := ids(mustSince(t, l, eventlog.Earliest)), []string{first.ID, gen.ID, "after"}; !slices.Equal(got, want) {
		t.Fatalf("after duplicates, log holds %q, want %q", got, want)
	}
}

func testInvalidIDIsRejected(t *testing.T, open Factory) {
	l := openLog(t, open, 0)
	for _, id := range []string{"a\nb", "a\rb", "a\x00b", "\n", eventlog.Earliest} {
		if u, err := l.Append(ctxFor(t), eventlog.Update{ID: id, Topics: []string{"t"}}); err == nil {
			t.Errorf("Append with id %q stored it as %q, want an error", id, u.ID)
		}
	}
	if got := mustSince(t, l, eventlog.Earliest); len(got) != 0 {
		t.Fatalf("after invalid ids, log holds %q, want nothing", ids(got))
	}
}

func testUpdateFieldsRoundTrip(t *testing.T, open Factory) {
	l := openLog(t, open, 0)
	tl := follow(t, ctxFor(t), l)
	in := []eventlog.Update{
		{
			ID:      "full",
			Topics:  []string{"https://example.com/books/1", "urn:isbn:978-3-16", "書籍/1", "https://example.com/{id}"},
			Data:    "line 1\nline 2\r\nline 3\rend\n\n",
			Type:    "progress",
			Retry:   1500 * time.Millisecond,
			Private: true,
		},
		{Topics: []string{"bare"}},
		{Topics: []string{"unicode"}, Data: "héllo wörld ✓ 🚀 \t tab", Retry: 3 * time.Second},
		{Topics: []string{"big"}, Data: strings.Repeat("0123456789abcdef", 4096), Type: "blob"},
		{Topics: []string{"leading/trailing space "}, Data: " data: not a field\n:not a comment\nid: x", Private: true},
	}
	var stored []eventlog.Update
	for _, u := range in {
		got := mustAppend(t, l, u)
		u.Seq, u.Time = got.Seq, got.Time
		if u.ID == "" {
			u.ID = got.ID
		}
		if d := diff(got, u); d != "" {
			t.Fatalf("Append(%+v) returned %s", u.Topics, d)
		}
		stored = append(stored, got)
	}
	sameUpdates(t, "Since(Earliest)", mustSince(t, l, eventlog.Earliest), stored)
	sameUpdates(t, "Follow", tl.take(t, len(stored)), stored)
}

func testSinceEachIDYieldsTheRest(t *testing.T, open Factory) {
	l := openLog(t, open, 0)
	var all []eventlog.Update
	for i := range 30 {
		u := eventlog.Update{Topics: []string{"t"}, Data: fmt.Sprint(i)}
		if i%3 == 0 {
			u.ID = fmt.Sprint("custom-", i)
		}
		all = append(all, mustAppend(t, l, u))
	}
	for i, u := range all {
		sameUpdates(t, fmt.Sprintf("Since(%q)", u.ID), mustSince(t, l, u.ID), all[i+1:])
	}
}

func testSinceEarliestYieldsAllRetained(t *testing.T, open Factory) {
	l := openLog(t, open, 0)
	if got := mustSince(t, l, eventlog.Earliest); len(got) != 0 {
		t.Fatalf("Since(Earliest) on an empty log yielded %q", ids(got))
	}
	all := appendN(t, l, "", 12)
	sameUpdates(t, "Since(Earliest)", mustSince(t, l, eventlog.Earliest), all)
}

func testSinceUnknownIDFails(t *testing.T, open Factory) {
	l := openLog(t, open, 0)
	check := func(id string) {
		t.Helper()
		called := false
		_, err := l.Since(ctxFor(t), id, func(eventlog.Update) bool { called = true; return true })
		if !errors.Is(err, eventlog.ErrUnknownID) {
			t.Fatalf("Since(%q): err %v, want ErrUnknownID", id, err)
		}
		if called {
			t.Fatalf("Since(%q) called fn before failing", id)
		}
	}
	check("never-appended") // empty log
	appendN(t, l, "known-", 5)
	for _, id := range []string{"never-appended", "known-", "known-5", "KNOWN-1", "known-1 ", "urn:uuid:00000000-0000-4000-8000-000000000000", ""} {
		check(id)
	}
}

func testSinceStopsWhenFnReturnsFalse(t *testing.T, open Factory) {
	l := openLog(t, open, 0)
	all := appendN(t, l, "", 10)
	calls := 0
	_, err := l.Since(ctxFor(t), eventlog.Earliest, func(u eventlog.Update) bool {
		calls++
		return calls < 3
	})
	if err != nil {
		t.Fatalf("Since stopped by fn: %v", err)
	}
	if calls != 3 {
		t.Fatalf("fn called %d times after returning false on call 3", calls)
	}
	// A cursor-style replay resumes exactly where it stopped.
	var got []eventlog.Update
	_, err = l.Since(ctxFor(t), all[2].ID, func(u eventlog.Update) bool {
		got = append(got, u)
		return len(got) < 4
	})
	if err != nil {
		t.Fatalf("Since(%q): %v", all[2].ID, err)
	}
	if want := ids(all[3:7]); !slices.Equal(ids(got), want) {
		t.Fatalf("Since(%q) stopped after 4: got %q, want %q", all[2].ID, ids(got), want)
	}
}

func testSinceEndsAtTheEndAsOfTheCall(t *testing.T, open Factory) {
	l := openLog(t, open, 0)
	before := appendN(t, l, "before-", 5)
	var got []eventlog.Update
	_, err := l.Since(ctxFor(t), eventlog.Earliest, func(u eventlog.Update) bool {
		got = append(got, u)
		if len(got) > 2*len(before) {
			return false // runaway: fail below rather than loop forever
		}
		// Appending from fn must neither deadlock nor extend this replay.
		mustAppend(t, l, eventlog.Update{ID: "during-" + u.ID, Topics: []string{"t"}})
		return true
	})
	if err != nil {
		t.Fatalf("Since while appending: %v", err)
	}
	if !slices.Equal(ids(got), ids(before)) {
		t.Fatalf("Since while appending yielded %q, want only what was there at the call: %q", ids(got), ids(before))
	}
	if n := len(mustSince(t, l, eventlog.Earliest)); n != 2*len(before) {
		t.Fatalf("log holds %d updates, want %d", n, 2*len(before))
	}
}

func testRetentionByCount(t *testing.T, open Factory) {
	const retain, n = 10, 25
	l := openLog(t, open, retain)
	all := appendN(t, l, "r", n)
	sameUpdates(t, "Since(Earliest) after retention", mustSince(t, l, eventlog.Earliest), all[n-retain:])
	for _, u := range all[:n-retain] {
		called := false
		_, err := l.Since(ctxFor(t), u.ID, func(eventlog.Update) bool { called = true; return true })
		if !errors.Is(err, eventlog.ErrUnknownID) || called {
			t.Fatalf("Since(%q) dropped by retention: err %v, fn called %v; want ErrUnknownID, not called", u.ID, err, called)
		}
	}
	sameUpdates(t, "Since(oldest retained)", mustSince(t, l, all[n-retain].ID), all[n-retain+1:])
}

func testConcurrentAppends(t *testing.T, open Factory) {
	const writers, each = 8, 200
	l := openLog(t, open, 2*writers*each)
	ctx := ctxFor(t)
	tails := []*tail{follow(t, ctx, l), follow(t, ctx, l)}

	var wg sync.WaitGroup
	errs := make(chan error, writers)
	byWriter := make([][]eventlog.Update, writers)
	for w := range writers {
		wg.Go(func() {
			for i := range each {
				u := eventlog.Update{Topics: []string{fmt.Sprint("w", w)}, Data: fmt.Sprint(i)}
				if w%2 == 1 {
					u.ID = fmt.Sprintf("w%d-%d", w, i)
				}
				got, err := l.Append(ctx, u)
				if err != nil {
					errs <- fmt.Errorf("writer %d append %d: %w", w, i, err)
					return
				}
				byWriter[w] = append(byWriter[w], got)
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}

	all := mustSince(t, l, eventlog.Earliest)
	if len(all) != writers*each {
		t.Fatalf("log holds %d updates, want %d", len(all), writers*each)
	}
	seen := map[string]bool{}
	for i, u := range all {
		if i > 0 && u.Seq <= all[i-1].Seq {
			t.Fatalf("update %d: Seq %d after %d", i, u.Seq, all[i-1].Seq)
		}
		if seen[u.ID] {
			t.Fatalf("id %q stored twice", u.ID)
		}
		seen[u.ID] = true
	}
	// Each writer's appends appear in the order it made them.
	pos := map[string]int{}
	for i, u := range all {
		pos[u.ID] = i
	}
	for w, us := range byWriter {
		for i := 1; i < len(us); i++ {
			if pos[us[i].ID] <= pos[us[i-1].ID] {
				t.Fatalf("writer %d: append %d stored before append %d", w, i, i-1)
			}
		}
	}
	for i, tl := range tails {
		sameUpdates(t, fmt.Sprintf("tail %d", i), tl.take(t, len(all)), all)
	}
}

func testFollowIsPositioned(t *testing.T, open Factory) {
	l := openLog(t, open, 0)
	appendN(t, l, "before-", 3)
	tl := follow(t, ctxFor(t), l)
	after := appendN(t, l, "after-", 5)
	sameUpdates(t, "tail", tl.take(t, len(after)), after)
	// Nothing else is pending: the next update is the next one appended.
	marker := mustAppend(t, l, eventlog.Update{ID: "marker", Topics: []string{"t"}})
	sameUpdates(t, "tail after marker", tl.take(t, 1), []eventlog.Update{marker})

	// A tail started on an empty log works the same.
	l2 := openLog(t, open, 0)
	tl2 := follow(t, ctxFor(t), l2)
	first := appendN(t, l2, "", 2)
	sameUpdates(t, "tail on an empty log", tl2.take(t, 2), first)
}

func testTailsSeeIdenticalSequences(t *testing.T, open Factory) {
	l := openLog(t, open, 0)
	ctx := ctxFor(t)
	a := follow(t, ctx, l)
	appendN(t, l, "early-", 3)
	b := follow(t, ctx, l)
	want := appendN(t, l, "", 50)
	a.take(t, 3)
	sameUpdates(t, "first tail", a.take(t, len(want)), want)
	sameUpdates(t, "second tail", b.take(t, len(want)), want)
}

func testFollowStopsOnCancel(t *testing.T, open Factory) {
	l := openLog(t, open, 0)
	ctx, cancel := context.WithCancel(ctxFor(t))
	tl := follow(t, ctx, l)
	first := mustAppend(t, l, eventlog.Update{Topics: []string{"t"}})
	sameUpdates(t, "tail", tl.take(t, 1), []eventlog.Update{first})

	cancel()
	tl.waitDone(t, "its context was cancelled")
	// The log is still usable, and a stopped tail is never called again:
	// once a fresh tail has seen later updates, the stopped one has had
	// every chance to misbehave.
	witness := follow(t, ctxFor(t), l)
	later := appendN(t, l, "later-", 2)
	sameUpdates(t, "fresh tail", witness.take(t, 2), later)
	if tl.late.Load() || len(tl.updates) > 0 {
		t.Fatal("a tail whose context was cancelled still called fn")
	}

	// Following with an already cancelled context stops at once or fails.
	if done, err := l.Follow(ctx, func(eventlog.Update) {}); err == nil {
		select {
		case <-done:
		case <-time.After(Timeout):
			t.Fatal("Follow with a cancelled context did not stop")
		}
	}
}

func testCloseStopsTails(t *testing.T, open Factory) {
	l := openLog(t, open, 0)
	tl := follow(t, ctxFor(t), l)
	u := mustAppend(t, l, eventlog.Update{ID: "kept", Topics: []string{"t"}})
	tl.take(t, 1)

	closed := make(chan error, 1)
	go func() { closed <- l.Close() }()
	select {
	case err := <-closed:
		if err != nil {
			t.Fatalf("Close: %v", err)
		}
	case <-time.After(Timeout):
		t.Fatalf("Close did not return within %v", Timeout)
	}
	tl.waitDone(t, "Close")

	ctx := ctxFor(t)
	if _, err := l.Append(ctx, eventlog.Update{Topics: []string{"t"}}); !errors.Is(err, eventlog.ErrClosed) {
		t.Errorf("Append after Close: err %v, want ErrClosed", err)
	}
	if _, err := l.Since(ctx, u.ID, func(eventlog.Update) bool { return true }); !errors.Is(err, eventlog.ErrClosed) {
		t.Errorf("Since after Close: err %v, want ErrClosed", err)
	}
	if _, err := l.Since(ctx, eventlog.Earliest, func(eventlog.Update) bool { return true }); !errors.Is(err, eventlog.ErrClosed) {
		t.Errorf("Since(Earliest) after Close: err %v, want ErrClosed", err)
	}
	if _, err := l.Follow(ctx, func(eventlog.Update) {}); !errors.Is(err, eventlog.ErrClosed) {
		t.Errorf("Follow after Close: err %v, want ErrClosed", err)
	}
	go func() { closed <- l.Close() }()
	select {
	case err := <-closed:
		if err != nil && !errors.Is(err, eventlog.ErrClosed) {
			t.Errorf("second Close: %v, want nil or ErrClosed", err)
		}
	case <-time.After(Timeout):
		t.Fatalf("second Close did not return within %v", Timeout)
	}
}
