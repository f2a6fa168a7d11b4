package hub

import (
	"strings"
	"testing"

	"github.com/heraldhub/herald/eventlog"
)

// TestIDTheSubscriberCouldNotHaveReceivedIsAnsweredAsUnknown checks that
// resuming after an id tells nothing about whether it exists unless the
// subscriber could have received it: an id of a private update of others,
// or of a topic it does not select, is answered exactly like an id never
// published (Last-Event-ID: earliest, a reset event naming that id, every
// retained update it may read).
func TestIDTheSubscriberCouldNotHaveReceivedIsAnsweredAsUnknown(t *testing.T) {
	th := startHub(t, Config{})
	public := th.publish(t, eventlog.Update{Topics: []string{"orders/1"}, Data: "public"})
	secret := th.publish(t, eventlog.Update{Topics: []string{"orders/1"}, Data: "secret", Private: true})
	other := th.publish(t, eventlog.Update{Topics: []string{"invoices/1"}, Data: "other topic"})
	th.publish(t, eventlog.Update{Topics: []string{"orders/1"}, Data: "last"})

	tests := []struct {
		name, lastID, query string
		header              string
		first               string // the first event's data
	}{
		{"never published", "urn:uuid:never-published", "topic=orders/{id}", eventlog.Earliest, "public"},
		{"private to others", secret.ID, "topic=orders/{id}", eventlog.Earliest, "public"},
		{"private to others, token for another topic", secret.ID, "topic=orders/{id}&allow=orders/2", eventlog.Earliest, "public"},
		{"a topic not selected", other.ID, "topic=orders/{id}", eventlog.Earliest, "public"},
		{"receivable public", public.ID, "topic=orders/{id}", public.ID, "last"},
		{"receivable private", secret.ID, "topic=orders/{id}&allow=orders/{id}", secret.ID, "last"},
		{"receivable on another selected topic", other.ID, "topic=orders/{id}&topic=invoices/1", other.ID, "last"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := th.subscribe(t, tt.lastID, tt.query)
			if got := s.resp.Header.Get("Last-Event-ID"); got != tt.header {
				t.Errorf("Last-Event-ID header %q, want %q", got, tt.header)
			}
			if tt.header == eventlog.Earliest {
				// The same reset as for an id never published.
				if ev := s.next(t); ev.Type != ResetType || !strings.Contains(ev.Data, `"lastEventID":"`+tt.lastID+`"`) {
					t.Errorf("first event %+v, want a %s naming the id asked for", ev, ResetType)
				}
			}
			if got := s.next(t).Data; got != tt.first {
				t.Errorf("first event %q, want %q", got, tt.first)
			}
		})
	}
}
