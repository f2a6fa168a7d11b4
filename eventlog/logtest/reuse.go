package logtest

import (
	"errors"
	"slices"
	"testing"

	"github.com/heraldhub/herald/eventlog"
)

// testReusedIDIsStoredAndResolvesToTheFirstOccurrence appends A with id x,
// B with id y and C with id x and ReuseID: C is stored and delivered with
// id x, and a resume from x resumes after A, so it yields B and C.
func testReusedIDIsStoredAndResolvesToTheFirstOccurrence(t *testing.T, open Factory) {
	l := openLog(t, open, 0)
	tl := follow(t, ctxFor(t), l)
	a := mustAppend(t, l, eventlog.Update{ID: "x", Topics: []string{"t"}, Data: "A"})
	b := mustAppend(t, l, eventlog.Update{ID: "y", Topics: []string{"t"}, Data: "B"})
	c := mustAppend(t, l, eventlog.Update{ID: "x", Topics: []string{"t"}, Data: "C", Private: true, ReuseID: true})
	if c.ID != "x" || c.Seq <= b.Seq || c.ReuseID {
		t.Fatalf("Append reusing %q returned id %q, Seq %d (after %d), ReuseID %v; want the id kept, a later Seq, ReuseID false", "x", c.ID, c.Seq, b.Seq, c.ReuseID)
	}
	checkReusedID(t, l, l, tl, a, b, c)

	// ReuseID with an id that is not retained is an ordinary append.
	z := mustAppend(t, l, eventlog.Update{ID: "z", Topics: []string{"t"}, Data: "Z", ReuseID: true})
	sameUpdates(t, "Since(z) after appending it with ReuseID", mustSince(t, l, "z"), nil)
	sameUpdates(t, "Since(x) after another append", mustSince(t, l, "x"), []eventlog.Update{b, c, z})
}

// checkReusedID checks what was stored: a and c with one id, b between
// them. On reader, Since(a.ID) yields b and c and returns a, and Since(b.ID)
// yields c; tl, a tail started before a was appended, delivers all three,
// c with a's id; and both writer and reader refuse a's id without ReuseID.
func checkReusedID(t *testing.T, writer, reader eventlog.Log, tl *tail, a, b, c eventlog.Update) {
	t.Helper()
	from, err := reader.Since(ctxFor(t), a.ID, func(eventlog.Update) bool { return true })
	if err != nil {
		t.Fatalf("Since(%q): %v", a.ID, err)
	}
	if d := diff(from, a); d != "" {
		t.Fatalf("Since(%q) resumed from an update other than the id's first occurrence: %s", a.ID, d)
	}
	sameUpdates(t, "Since of a reused id", mustSince(t, reader, a.ID), []eventlog.Update{b, c})
	sameUpdates(t, "Since of the id between", mustSince(t, reader, b.ID), []eventlog.Update{c})
	sameUpdates(t, "Since(Earliest)", mustSince(t, reader, eventlog.Earliest), []eventlog.Update{a, b, c})
	sameUpdates(t, "Follow", tl.take(t, 3), []eventlog.Update{a, b, c})
	for _, l := range []eventlog.Log{writer, reader} {
		if _, err := l.Append(ctxFor(t), eventlog.Update{ID: a.ID, Topics: []string{"t"}}); !errors.Is(err, eventlog.ErrDuplicateID) {
			t.Fatalf("Append(%q) without ReuseID after it was reused: err %v, want ErrDuplicateID", a.ID, err)
		}
	}
}

// testReuseIDWithoutTheFlagStillRefused checks that an id that is
// retained, once or several times, is refused without ReuseID, and that
// the refusal stores nothing.
func testReuseIDWithoutTheFlagStillRefused(t *testing.T, open Factory) {
	l := openLog(t, open, 0)
	a := mustAppend(t, l, eventlog.Update{ID: "x", Topics: []string{"t"}, Data: "A"})
	for range 2 {
		if _, err := l.Append(ctxFor(t), eventlog.Update{ID: "x", Topics: []string{"t"}, Data: "refused"}); !errors.Is(err, eventlog.ErrDuplicateID) {
			t.Fatalf("Append(%q) without ReuseID: err %v, want ErrDuplicateID", "x", err)
		}
		mustAppend(t, l, eventlog.Update{ID: "x", Topics: []string{"t"}, Data: "reused", ReuseID: true})
	}
	got := mustSince(t, l, eventlog.Earliest)
	if want := []string{"A", "reused", "reused"}; !slices.Equal(datas(got), want) {
		t.Fatalf("log holds %q, want %q", datas(got), want)
	}
	if got[0].Seq != a.Seq {
		t.Fatalf("log begins with Seq %d, want %d", got[0].Seq, a.Seq)
	}
}

// testReusedIDResolvesToTheNextRetainedOccurrence lets retention drop an
// id's first occurrence: the id then resolves to its next retained
// occurrence, is still refused without ReuseID, and is unknown (and free)
// once no occurrence is retained.
func testReusedIDResolvesToTheNextRetainedOccurrence(t *testing.T, open Factory) {
	const retain = 3
	l := openLog(t, open, retain)
	mustAppend(t, l, eventlog.Update{ID: "x", Topics: []string{"t"}, Data: "A"})
	mustAppend(t, l, eventlog.Update{ID: "y", Topics: []string{"t"}, Data: "B"})
	c := mustAppend(t, l, eventlog.Update{ID: "x", Topics: []string{"t"}, Data: "C", ReuseID: true})
	rest := appendN(t, l, "r", 2) // drops A and B
	from, err := l.Since(ctxFor(t), "x", func(eventlog.Update) bool { return true })
	if err != nil {
		t.Fatalf("Since(%q) once its first occurrence was dropped: %v, want its next occurrence", "x", err)
	}
	if d := diff(from, c); d != "" {
		t.Fatalf("Since(%q) once its first occurrence was dropped resumed from another update than the next occurrence: %s", "x", d)
	}
	sameUpdates(t, "Since(x) once its first occurrence was dropped", mustSince(t, l, "x"), rest)
	if _, err := l.Append(ctxFor(t), eventlog.Update{ID: "x", Topics: []string{"t"}}); !errors.Is(err, eventlog.ErrDuplicateID) {
		t.Fatalf("Append(%q) while a later occurrence is retained: err %v, want ErrDuplicateID", "x", err)
	}

	appendN(t, l, "s", 1) // drops C
	if _, err := since(t, l, "x"); !errors.Is(err, eventlog.ErrUnknownID) {
		t.Fatalf("Since(%q) once every occurrence was dropped: err %v, want ErrUnknownID", "x", err)
	}
	again := mustAppend(t, l, eventlog.Update{ID: "x", Topics: []string{"t"}, Data: "again"})
	sameUpdates(t, "Since(x) after the free id was used again", mustSince(t, l, "x"), nil)
	if got := mustSince(t, l, "s0"); len(got) != 1 || got[0].Seq != again.Seq {
		t.Fatalf("Since(s0) yielded %q, want only the new %q", ids(got), "x")
	}
}

// testReusedIDAcrossNodes reuses, on one node, an id appended on another:
// every node resolves it to its first occurrence and delivers the reused
// update with it.
func testReusedIDAcrossNodes(t *testing.T, addr string, open NodeFactory) {
	name := UniqueName(t)
	writer, reader := open(t, addr, name), open(t, addr, name)
	tl := follow(t, ctxFor(t), reader)
	a := mustAppend(t, writer, eventlog.Update{ID: "x", Topics: []string{"t"}, Data: "A"})
	b := mustAppend(t, reader, eventlog.Update{ID: "y", Topics: []string{"t"}, Data: "B"})
	c := mustAppend(t, reader, eventlog.Update{ID: "x", Topics: []string{"t"}, Data: "C", ReuseID: true})
	if c.ID != "x" {
		t.Fatalf("Append reusing %q on another node stored id %q", "x", c.ID)
	}
	// Since on the node that did not reuse the id, the tail on the one that did.
	checkReusedID(t, reader, writer, tl, a, b, c)
	sameUpdates(t, "Since of a reused id on the node that reused it", mustSince(t, reader, "x"), []eventlog.Update{b, c})
}

// datas returns the data of us.
func datas(us []eventlog.Update) []string {
	out := make([]string, len(us))
	for i, u := range us {
		out[i] = u.Data
	}
	return out
}
