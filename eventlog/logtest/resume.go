package logtest

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/heraldhub/herald/eventlog"
)

// resumeTries is how many times checkResumeAtTheNewestUpdate appends and
// at once resumes after the update it appended.
const resumeTries = 300

// testResumeAtTheNewestUpdateIsNeverRepeated checks the resume point on
// one handle: see checkResumeAtTheNewestUpdate.
func testResumeAtTheNewestUpdateIsNeverRepeated(t *testing.T, open Factory) {
	l := openLog(t, open, 0)
	checkResumeAtTheNewestUpdate(t, l, l)
}

// testSinceReturnsTheResumePoint checks that Since returns id's update,
// every field of it, whatever follows it, and the zero Update for
// Earliest.
func testSinceReturnsTheResumePoint(t *testing.T, open Factory) {
	l := openLog(t, open, 0)
	all := []eventlog.Update{
		mustAppend(t, l, eventlog.Update{ID: "first", Topics: []string{"a", "b/{x}"}, Data: "one", Type: "t1", Retry: 3 * time.Second}),
		mustAppend(t, l, eventlog.Update{Topics: []string{"c"}, Data: "two", Private: true}),
		mustAppend(t, l, eventlog.Update{ID: "last", Topics: []string{"d"}, Data: "three"}),
	}
	for _, want := range all {
		from, err := l.Since(ctxFor(t), want.ID, func(eventlog.Update) bool { return true })
		if err != nil {
			t.Fatalf("Since(%q): %v", want.ID, err)
		}
		if d := diff(from, want); d != "" {
			t.Fatalf("Since(%q) returned an update other than %q: %s", want.ID, want.ID, d)
		}
	}
	from, err := l.Since(ctxFor(t), eventlog.Earliest, func(eventlog.Update) bool { return false })
	if err != nil || from.Seq != 0 || from.ID != "" {
		t.Fatalf("Since(Earliest) returned %+v, %v; want the zero Update", from, err)
	}
}

// checkResumeAtTheNewestUpdate appends through writer and at once resumes
// through reader with the id just appended, resumeTries times, the way a
// hub switches a subscriber from replay to live: it joins reader's tail,
// replays with Since, and then takes from the tail only the updates above
// the Seq of the update Since returned. Each such subscriber must get exactly the
// updates appended after its resume point, once each and in order, however
// far reader's tail lags behind writer; and Since must return the resume
// point itself.
func checkResumeAtTheNewestUpdate(t *testing.T, writer, reader eventlog.Log) {
	t.Helper()
	var (
		mu   sync.Mutex
		seen []eventlog.Update // what reader's tail passed, in order
	)
	ctx, cancel := context.WithCancel(t.Context())
	done, err := reader.Follow(ctx, func(u eventlog.Update) {
		mu.Lock()
		seen = append(seen, eventlog.Update{Seq: u.Seq, ID: u.ID})
		mu.Unlock()
	})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { cancel(); <-done }()

	type resume struct {
		joined   int    // how much of the tail came before the subscriber joined
		after    uint64 // the Seq of the update Since returned
		replayed []string
	}
	appended := make([]eventlog.Update, resumeTries)
	resumes := make([]resume, resumeTries)
	for i := range resumeTries {
		appended[i] = mustAppend(t, writer, eventlog.Update{Topics: []string{"t"}, Data: fmt.Sprint(i)})
		mu.Lock()
		r := resume{joined: len(seen)}
		mu.Unlock()
		sctx, scancel := context.WithTimeout(t.Context(), Timeout)
		from, err := reader.Since(sctx, appended[i].ID, func(u eventlog.Update) bool {
			r.replayed = append(r.replayed, u.ID)
			return true
		})
		scancel()
		if err != nil {
			t.Fatalf("try %d: Since(%q) just after appending it: %v", i, appended[i].ID, err)
		}
		if d := diff(from, appended[i]); d != "" {
			t.Fatalf("try %d: Since(%q) returned an update other than the resume point: %s", i, appended[i].ID, d)
		}
		r.after = from.Seq
		resumes[i] = r
	}

	deadline := time.Now().Add(Timeout)
	for {
		mu.Lock()
		n := len(seen)
		mu.Unlock()
		if n >= resumeTries {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("reader's tail passed %d of %d updates within %v", n, resumeTries, Timeout)
		}
		time.Sleep(5 * time.Millisecond) // polling a tail that has no completion event
	}
	mu.Lock()
	defer mu.Unlock()
	want := ids(appended)
	for i, r := range resumes {
		got := slices.Clone(r.replayed)
		for _, u := range seen[r.joined:] {
			if u.Seq > r.after {
				got = append(got, u.ID)
			}
		}
		if !slices.Equal(got, want[i+1:]) {
			t.Fatalf("try %d, resumed after %q: got %d updates %q, want %d %q (the resume point repeated, or a gap)",
				i, appended[i].ID, len(got), got, len(want[i+1:]), want[i+1:])
		}
	}
}
