package jobs

import (
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/heraldhub/herald/eventlog"
)

// parentOf returns the last published snapshot of job id.
func lastOf(snaps []Snapshot, id string) Snapshot {
	for i := len(snaps) - 1; i >= 0; i-- {
		if snaps[i].ID == id {
			return snaps[i]
		}
	}
	return Snapshot{}
}

func ptr(x float64) *float64 { return &x }

func TestAParentsPercentAndETARollUpFromItsChildrenByWeight(t *testing.T) {
	for _, c := range []struct {
		name     string
		children []Child
		percent  float64
		eta      *float64
	}{
		{"halfway through the light one", []Child{
			{ID: "a", State: Running, Percent: ptr(50), ETA: ptr(10), Weight: 1},
			{ID: "b", State: Running, Percent: ptr(0), ETA: ptr(40), Weight: 3},
		}, 12.5, ptr(40)},
		{"a finished child counts whole", []Child{
			{ID: "a", State: Failed, Percent: ptr(20), Weight: 1},
			{ID: "b", State: Running, Percent: ptr(50), ETA: ptr(7), Weight: 3},
		}, 62.5, ptr(7)},
		{"a child without an ETA leaves it unknown", []Child{
			{ID: "a", State: Running, Percent: nil, Weight: 2},
			{ID: "b", State: Running, Percent: ptr(100), ETA: ptr(0), Weight: 2},
		}, 50, nil},
	} {
		s := Snapshot{State: Running, Children: c.children}
		s.compute(time.Now())
		if s.Percent == nil || *s.Percent != c.percent || (s.ETA == nil) != (c.eta == nil) || s.ETA != nil && *s.ETA != *c.eta {
			t.Errorf("%s: percent %v eta %v, want %v and %v", c.name, deref(s.Percent), deref(s.ETA), c.percent, deref(c.eta))
		}
	}
}

func deref(p *float64) any {
	if p == nil {
		return nil
	}
	return *p
}

func TestAParentListsItsChildrenAndFollowsTheirReports(t *testing.T) {
	m, rec := newManager(t, Config{MinInterval: time.Nanosecond})
	ctx := t.Context()
	p, _ := m.Start(ctx, Spec{ID: "p"})
	a, err := p.Sub(ctx, Spec{ID: "a", Total: 10})
	if err != nil {
		t.Fatal(err)
	}
	m.Create(ctx, Spec{ID: "b", Parent: "p", Weight: 3, Total: 10})
	a.Progress(ctx, "", 5, 0, "")
	got := rec.waitFor(t, "the parent at 12.5%", func(s []Snapshot) bool {
		ps := lastOf(s, "p")
		return ps.Percent != nil && *ps.Percent == 12.5
	})
	ps := lastOf(got, "p")
	if len(ps.Children) != 2 || ps.Children[0].ID != "a" || ps.Children[1].ID != "b" || ps.Children[1].Weight != 3 || ps.Children[0].State != Running {
		t.Fatalf("parent lists %+v, want a then b (weight 3), running", ps.Children)
	}
	if _, err := m.Create(ctx, Spec{ID: "c", Parent: "nope"}); !errors.Is(err, ErrInvalid) {
		t.Fatalf("a child of an unknown job: %v, want ErrInvalid", err)
	}
	if _, err := m.Create(ctx, Spec{ID: "d", Policy: "first-wins"}); !errors.Is(err, ErrInvalid) {
		t.Fatalf("an unknown policy: %v, want ErrInvalid", err)
	}
}

func TestAnAllSettledParentEndsWhenEveryChildHasAndFailsIfOneFailed(t *testing.T) {
	m, _ := newManager(t, Config{MinInterval: time.Nanosecond})
	ctx := t.Context()
	m.Create(ctx, Spec{ID: "p"})
	m.Create(ctx, Spec{ID: "a", Parent: "p"})
	m.Create(ctx, Spec{ID: "b", Parent: "p"})
	m.Finish(ctx, "a", Outcome{State: Failed, Error: "disk full"})
	if s, _ := m.Get("p"); s.State != Running {
		t.Fatalf("after one child failed the parent is %s, want running until b ends", s.State)
	}
	if _, err := m.Progress(ctx, "b", Report{Done: 1}); err != nil {
		t.Fatalf("the other child was disturbed: %v", err)
	}
	m.Finish(ctx, "b", Outcome{State: Succeeded})
	s, _ := m.Get("p")
	if s.State != Failed || !strings.Contains(s.Error, "1 of 2 sub-jobs failed: a") || *s.Percent != 100 {
		t.Fatalf("parent ended %s %q at %v%%, want failed naming a, 100%%", s.State, s.Error, deref(s.Percent))
	}

	m.Create(ctx, Spec{ID: "q"})
	m.Create(ctx, Spec{ID: "c", Parent: "q"})
	m.Finish(ctx, "c", Outcome{State: Succeeded})
	if s, _ := m.Get("q"); s.State != Succeeded {
		t.Fatalf("a parent whose children all succeeded is %s", s.State)
	}
}

func TestAFailFastParentFailsAtOnceAndCancelsTheOthers(t *testing.T) {
	m, _ := newManager(t, Config{MinInterval: time.Nanosecond})
	ctx := t.Context()
	m.Create(ctx, Spec{ID: "p", Policy: FailFast})
	m.Create(ctx, Spec{ID: "a", Parent: "p"})
	m.Create(ctx, Spec{ID: "b", Parent: "p"})
	m.Finish(ctx, "a", Outcome{State: Failed, Error: "disk full"})
	s, _ := m.Get("p")
	if s.State != Failed || !strings.Contains(s.Error, `"a" failed: disk full`) {
		t.Fatalf("parent is %s %q, want failed at once, naming a and why", s.State, s.Error)
	}
	if _, err := m.Progress(ctx, "b", Report{Done: 1}); !errors.Is(err, ErrCancelRequested) {
		t.Fatalf("the other child's next report: %v, want ErrCancelRequested", err)
	}
}

func TestCancellingAParentCancelsItsChildrenAndItEndsWithThem(t *testing.T) {
	m, _ := newManager(t, Config{MinInterval: time.Nanosecond})
	ctx := t.Context()
	m.Create(ctx, Spec{ID: "p"})
	m.Create(ctx, Spec{ID: "a", Parent: "p"})
	m.Create(ctx, Spec{ID: "g", Parent: "a"}) // a grandchild
	m.Create(ctx, Spec{ID: "b", Parent: "p"})
	if _, err := m.Cancel(ctx, "p"); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"a", "g", "b"} {
		if s, _ := m.Get(id); !s.CancelRequested {
			t.Fatalf("%s: cancel not requested after its ancestor's cancellation", id)
		}
	}
	for _, id := range []string{"g", "b"} {
		if _, err := m.Finish(ctx, id, Outcome{State: Cancelled}); err != nil {
			t.Fatal(err)
		}
	}
	for _, id := range []string{"a", "p"} {
		if s, _ := m.Get(id); s.State != Cancelled {
			t.Fatalf("%s is %s once its children were cancelled, want cancelled", id, s.State)
		}
	}
}

func TestRecoverRebuildsAJobTree(t *testing.T) {
	log := eventlog.NewMemory(100)
	t.Cleanup(func() { log.Close() })
	a := writerOn(t, log)
	ctx := t.Context()
	a.Create(ctx, Spec{ID: "p", Policy: FailFast})
	a.Create(ctx, Spec{ID: "c1", Parent: "p", Total: 4})
	a.Create(ctx, Spec{ID: "c2", Parent: "p", Weight: 2})
	a.Progress(ctx, "c1", Report{Done: 2})
	a.Log(ctx, "c1", "half way")
	a.Close()

	b, _ := newManager(t, Config{MinInterval: time.Nanosecond})
	if err := b.Recover(ctx, log); err != nil {
		t.Fatal(err)
	}
	s, err := b.Get("p")
	if err != nil || len(s.Children) != 2 || s.Children[1].Weight != 2 || s.Policy != FailFast {
		t.Fatalf("recovered parent %+v, %v; want its two children and its policy", s, err)
	}
	if s.Percent == nil || *s.Percent != 16.7 {
		t.Fatalf("recovered parent at %v%%, want 16.7 (half of c1, by weight 1 of 3)", deref(s.Percent))
	}
	if page, _ := b.Lines("c1", 1, 10); len(page.Lines) != 1 || page.Lines[0].Text != "half way" {
		t.Fatalf("recovered log of c1: %+v", page)
	}
	// The recovered tree carries on: a child failing fails the parent.
	b.Finish(ctx, "c2", Outcome{State: Failed, Error: "boom"})
	if s, _ := b.Get("p"); s.State != Failed {
		t.Fatalf("after recovery, a failed child left the fail-fast parent %s", s.State)
	}
	if _, err := b.Progress(ctx, "c1", Report{Done: 3}); !errors.Is(err, ErrCancelRequested) {
		t.Fatalf("the other child: %v, want ErrCancelRequested", err)
	}
}

func TestATreeSpreadOverTwoNodesRollsUpAndItsLogIsServedByEither(t *testing.T) {
	nodes, sub := newCluster(t, 2, Config{MinInterval: time.Nanosecond})
	ctx := t.Context()
	one, two := nodes[0].m, nodes[1].m
	one.Create(ctx, Spec{ID: "p"})
	one.Create(ctx, Spec{ID: "a", Parent: "p"})
	one.Log(ctx, "a", "from one")
	sub.waitFor(t, 15*time.Second, "node two to know the parent", func([]Snapshot) bool {
		page, _ := two.Lines("a", 1, 10)
		_, err := two.Get("p")
		return err == nil && len(page.Lines) == 1
	})
	if _, err := two.Create(ctx, Spec{ID: "b", Parent: "p"}); err != nil {
		t.Fatal(err)
	}
	if first, _, err := two.Log(ctx, "a", "from two"); err != nil || first != 2 {
		t.Fatalf("node two numbered its line %d (%v), want 2: it follows node one's", first, err)
	}
	two.Finish(ctx, "b", Outcome{State: Succeeded})
	sub.waitFor(t, 15*time.Second, "node one to see b finished", func([]Snapshot) bool {
		s, _ := one.Get("p")
		return len(s.Children) == 2 && s.Children[1].State == Succeeded
	})
	one.Finish(ctx, "a", Outcome{State: Succeeded})
	sub.waitFor(t, 15*time.Second, "the parent to succeed on both nodes", func([]Snapshot) bool {
		s1, _ := one.Get("p")
		s2, _ := two.Get("p")
		return s1.State == Succeeded && s2.State == Succeeded
	})
	if page, _ := one.Lines("a", 1, 10); len(page.Lines) != 2 || page.Lines[1].Text != "from two" {
		t.Fatalf("node one serves %+v, want both lines", page.Lines)
	}
}

func TestSubJobsAreCreatedThroughTheAPI(t *testing.T) {
	a := newAPI(t)
	for _, c := range []struct {
		ctype, body string
		status      int
	}{
		{jsonType, `{"id":"p","policy":"fail-fast"}`, http.StatusCreated},
		{jsonType, `{"id":"c1","parent":"p","weight":2}`, http.StatusCreated},
		{"application/x-www-form-urlencoded", "id=c2&parent=p&weight=0.5", http.StatusCreated},
		{jsonType, `{"id":"c3","parent":"nope"}`, http.StatusBadRequest},
		{jsonType, `{"id":"c4","weight":2}`, http.StatusBadRequest},
		{jsonType, `{"id":"c5","policy":"whatever"}`, http.StatusBadRequest},
	} {
		if code, body, _ := a.do(t, "POST", "/api/jobs", "pub", c.ctype, c.body); code != c.status {
			t.Fatalf("%s: %d %s, want %d", c.body, code, body, c.status)
		}
	}
	_, body, _ := a.do(t, "GET", "/api/jobs/p", "", "", "")
	if !strings.Contains(body, `"children":[{"id":"c1","state":"running","percent":null,"eta":null,"weight":2,"seq":1},{"id":"c2"`) {
		t.Fatalf("the parent's snapshot: %s", body)
	}
}
