package logtest

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/heraldhub/herald/eventlog"
)

// testSinceOvertakenByRetention appends, while a replay is under way,
// enough updates for retention to drop everything the replay has not read
// yet. The replay either reads the log as it was when it began (a
// snapshot) or stops with ErrUnknownID; whichever it does, what it passed
// to fn has no gap.
func testSinceOvertakenByRetention(t *testing.T, open Factory) {
	const retain = 300 // more than any backend reads ahead (256 updates), little enough for a busy machine
	for _, fromFirst := range []bool{false, true} {
		t.Run(fmt.Sprint("from the first id: ", fromFirst), func(t *testing.T) {
			l := openLog(t, open, retain)
			stored := appendN(t, l, "", retain)
			from, start := eventlog.Earliest, 0
			if fromFirst {
				from, start = stored[0].ID, 1
			}
			var got []eventlog.Update
			_, err := l.Since(ctxFor(t), from, func(u eventlog.Update) bool {
				if len(got) == 0 {
					appendN(t, l, "", retain) // retention drops all that is unread
				}
				got = append(got, u)
				return true
			})
			want := stored[start:]
			switch {
			case err == nil:
				if len(got) != len(want) {
					t.Fatalf("Since(%q) ended without an error after %d updates, want all %d it began with (or ErrUnknownID)", from, len(got), len(want))
				}
			case !errors.Is(err, eventlog.ErrUnknownID):
				t.Fatalf("Since(%q) overtaken by retention: %v after %d updates, want ErrUnknownID or a full snapshot", from, err, len(got))
			}
			for i, u := range got {
				if u.ID != want[i].ID {
					t.Fatalf("update %d of the replay is %s, want %s: a gap", i, u.ID, want[i].ID)
				}
			}
		})
	}
}

// testIDsAndTypesKeepEveryCharacter stores ids, types and topics with
// leading and trailing white space, percent signs and non-ASCII letters,
// and reads them back unchanged from the tail and from replays.
func testIDsAndTypesKeepEveryCharacter(t *testing.T, open Factory) {
	l := openLog(t, open, 0)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	tl := follow(t, ctx, l)
	in := []eventlog.Update{
		{ID: " padded ", Type: " spaced ", Topics: []string{" t "}},
		{ID: "\ttab", Type: "\tx", Topics: []string{"t"}},
		{ID: "100%", Type: "a%41", Topics: []string{"t"}},
		{ID: "urn:x:é/ü?#", Type: "ok", Topics: []string{"t/é"}},
	}
	for _, u := range in {
		mustAppend(t, l, u)
	}
	check := func(how string, got, want eventlog.Update) {
		t.Helper()
		if got.ID != want.ID || got.Type != want.Type || len(got.Topics) != 1 || got.Topics[0] != want.Topics[0] {
			t.Errorf("%s: id %q type %q topics %q, want %q %q %q", how, got.ID, got.Type, got.Topics, want.ID, want.Type, want.Topics)
		}
	}
	for i, u := range tl.take(t, len(in)) {
		check("Follow", u, in[i])
	}
	for i := range in {
		next := mustSince(t, l, in[i].ID)
		if len(next) != len(in)-i-1 {
			t.Fatalf("Since(%q) gave %d updates, want %d", in[i].ID, len(next), len(in)-i-1)
		}
		if len(next) > 0 {
			check("Since", next[0], in[i+1])
		}
	}
	cancel()
	tl.waitDone(t, "its context ended")
}
