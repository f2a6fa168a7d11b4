package hub

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/heraldhub/herald/eventlog"
)

// TestResumeFromAReusedIDFollowsItsFirstOccurrence checks that a reused id
// resumes after its first occurrence, and that a subscriber who could not
// have received that one is answered as for an unknown id.
func TestResumeFromAReusedIDFollowsItsFirstOccurrence(t *testing.T) {
	th := startHub(t, Config{})
	th.publish(t, eventlog.Update{ID: "public-first", Topics: []string{"t"}, Data: "public twin"})
	th.publish(t, eventlog.Update{ID: "private-first", Topics: []string{"t"}, Data: "private twin", Private: true})
	th.publish(t, eventlog.Update{ID: "public-first", Topics: []string{"t"}, Data: "private reuse", Private: true, ReuseID: true})
	th.publish(t, eventlog.Update{ID: "private-first", Topics: []string{"t"}, Data: "public reuse", ReuseID: true})
	th.publish(t, eventlog.Update{Topics: []string{"t"}, Data: "last"})
	tests := []struct {
		name, lastID, query string
		header              string
		want                []string
	}{
		{"first occurrence public", "public-first", "topic=t", "public-first", []string{"public reuse", "last"}},
		{"first occurrence public, authorized", "public-first", "topic=t&allow=t", "public-first", []string{"private twin", "private reuse", "public reuse", "last"}},
		{"first occurrence private to others", "private-first", "topic=t", eventlog.Earliest, []string{"public twin", "public reuse", "last"}},
		{"first occurrence private, authorized", "private-first", "topic=t&allow=t", "private-first", []string{"private reuse", "public reuse", "last"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := th.subscribe(t, tt.lastID, tt.query)
			if got := s.resp.Header.Get("Last-Event-ID"); got != tt.header {
				t.Errorf("Last-Event-ID header %q, want %q", got, tt.header)
			}
			if tt.header == eventlog.Earliest {
				// The id is one this subscriber cannot know: its history
				// is announced as cut, as for an unknown id.
				if ev := s.next(t); ev.Type != ResetType {
					t.Fatalf("first event %+v, want a %s event", ev, ResetType)
				}
			}
			for _, want := range tt.want {
				if ev := s.next(t); ev.Data != want {
					t.Fatalf("got %q, want %q", ev.Data, want)
				}
			}
		})
	}
}

// reusedLog is a memory log that runs hook, once, before the first Since
// from id.
type reusedLog struct {
	*eventlog.Memory
	id   string
	once sync.Once
	hook func()
}

func (l *reusedLog) Since(ctx context.Context, id string, fn func(eventlog.Update) bool) (eventlog.Update, error) {
	if id == l.id {
		l.once.Do(l.hook)
	}
	return l.Memory.Since(ctx, id, fn)
}

// TestReplayPastAReusedIDDroppedByRetentionHasNoGap ends a replay's first
// batch with an id whose next occurrence follows at once, and has
// retention drop every occurrence but that next one before the replay
// goes on: the id then resolves past what was sent, and the replay must
// not skip the next occurrence.
func TestReplayPastAReusedIDDroppedByRetentionHasNoGap(t *testing.T) {
	const retain = 300
	log := &reusedLog{Memory: eventlog.NewMemory(retain), id: "x"}
	t.Cleanup(func() { log.Close() })
	th := startHub(t, Config{Log: log})
	log.hook = func() {
		// Retention keeps the second "x" and drops all before it.
		// (It runs on the stream's goroutine: no t.Fatal here.)
		for i := range retain - 1 {
			u := eventlog.Update{Topics: []string{"other"}, Data: fmt.Sprint("filler ", i)}
			if i == retain-2 {
				u = eventlog.Update{Topics: []string{"t"}, Data: "live"}
			}
			if _, err := th.h.Publish(context.Background(), u); err != nil {
				t.Errorf("publish %q: %v", u.Data, err)
			}
		}
	}
	th.publish(t, eventlog.Update{ID: "start", Topics: []string{"t"}})
	var want []string
	for i := range replayBatch - 1 {
		want = append(want, fmt.Sprint("u", i))
		th.publish(t, eventlog.Update{Topics: []string{"t"}, Data: want[i]})
	}
	// The first batch ends with "x" (C); its next occurrence (D) follows.
	th.publish(t, eventlog.Update{ID: "x", Topics: []string{"t"}, Data: "C"})
	th.publish(t, eventlog.Update{ID: "x", Topics: []string{"t"}, Data: "D", ReuseID: true})
	want = append(want, "C", "D", "live")

	s := th.subscribe(t, "start", "topic=t")
	for i, w := range want {
		if ev := s.next(t); ev.Data != w {
			t.Fatalf("event %d is %q (id %q), want %q: a gap", i, ev.Data, ev.ID, w)
		}
	}
}
