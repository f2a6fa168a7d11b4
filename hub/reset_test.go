package hub

import (
	"encoding/json"
	"errors"
	"testing"

	"github.com/heraldhub/herald/eventlog"
)

// TestResumeFromACutHistoryStartsWithAReset: a subscriber resuming from an
// id the log does not hold gets a herald-reset event, naming that id,
// before the replay; one starting live, from earliest or from a held id
// does not.
func TestResumeFromACutHistoryStartsWithAReset(t *testing.T) {
	for _, mode := range []struct {
		name     string
		noDetach bool
	}{{"detached", false}, {"goroutine", true}} {
		t.Run(mode.name, func(t *testing.T) {
			noDetach = mode.noDetach
			defer func() { noDetach = false }()
			th := startHub(t, Config{})
			kept := th.publish(t, eventlog.Update{Topics: []string{"t"}, Data: "kept"})
			th.publish(t, eventlog.Update{Topics: []string{"other"}, Data: "not yours"})
			other := th.publish(t, eventlog.Update{Topics: []string{"other"}, Data: "not yours either"})

			for _, lost := range []string{"urn:uuid:cut-by-retention", other.ID} {
				s := th.subscribe(t, lost, "topic=t")
				reset := s.next(t)
				if reset.Type != ResetType || reset.ID != "" {
					t.Fatalf("resuming from %q: first event %+v, want a %s event without id", lost, reset, ResetType)
				}
				var got struct{ Reason, LastEventID string }
				if err := json.Unmarshal([]byte(reset.Data), &got); err != nil || got.Reason != "history-cut" || got.LastEventID != lost {
					t.Fatalf("reset data %q (%v), want the reason history-cut and the id %q", reset.Data, err, lost)
				}
				if ev := s.next(t); ev.Data != "kept" || ev.Type != "message" {
					t.Fatalf("after the reset: %+v, want the retained update", ev)
				}
			}

			live := th.subscribe(t, "", "topic=t")
			earliest := th.subscribe(t, eventlog.Earliest, "topic=t")
			held := th.subscribe(t, kept.ID, "topic=t")
			th.publish(t, eventlog.Update{Topics: []string{"t"}, Data: "next"})
			for name, want := range map[*testSub][]string{live: {"next"}, earliest: {"kept", "next"}, held: {"next"}} {
				for _, data := range want {
					if ev := name.next(t); ev.Type == ResetType || ev.Data != data {
						t.Fatalf("got %+v, want %q and no reset", ev, data)
					}
				}
			}
		})
	}
}

func TestTheResetTypeIsReservedToTheHub(t *testing.T) {
	th := startHub(t, Config{})
	_, err := th.h.Publish(t.Context(), eventlog.Update{Topics: []string{"t"}, Type: ResetType, Data: "{}"})
	if !errors.Is(err, ErrInvalidType) {
		t.Fatalf("publishing a %s event: %v, want ErrInvalidType", ResetType, err)
	}
}
