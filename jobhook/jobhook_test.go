package jobhook_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/heraldhub/herald/eventlog"
	"github.com/heraldhub/herald/internal/outbound"
	"github.com/heraldhub/herald/internal/outbound/outboundtest"
	"github.com/heraldhub/herald/jobhook"
	"github.com/heraldhub/herald/jobs"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// appendEnded appends the final event of job id with callback.
func appendEnded(t *testing.T, lg eventlog.Log, id, callback string) {
	t.Helper()
	now := time.Now()
	snap := jobs.Snapshot{ID: id, Topic: jobs.TopicPrefix + id, State: jobs.Succeeded, Seq: 2, Callback: callback, Created: now, Updated: now, Finished: &now}
	data, _ := json.Marshal(snap)
	if _, err := lg.Append(context.Background(), eventlog.Update{Topics: []string{snap.Topic}, Type: jobs.EventDone, Data: string(data)}); err != nil {
		t.Fatal(err)
	}
}

func TestRecoverSendsOnlyTheWebhooksNotYetDelivered(t *testing.T) {
	secret := []byte("secret-of-the-test")
	recv := outboundtest.New(t, secret)
	lg := eventlog.NewMemory(0)
	defer lg.Close()
	allow, _ := outbound.ParseAllowlist([]string{"127.0.0.1"})
	cfg := jobhook.Config{Log: lg, Allow: allow, Secret: secret, Policy: outbound.Policy{MinBackoff: time.Millisecond}}

	records := make(chan string, 4)
	ctx, stop := context.WithCancel(context.Background())
	done, err := lg.Follow(ctx, func(u eventlog.Update) {
		if u.Type == jobhook.EventType {
			records <- strings.TrimPrefix(u.Topics[0], jobhook.RecordPrefix)
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { stop(); <-done }()
	awaitRecord := func(id string) {
		t.Helper()
		select {
		case got := <-records:
			if got != id {
				t.Fatalf("delivery recorded for %q, want %q", got, id)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("no delivery record for %q", id)
		}
	}

	appendEnded(t, lg, "first", recv.URL)
	first, err := jobhook.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := first.Recover(context.Background()); err != nil {
		t.Fatal(err)
	}
	awaitRecord("first")
	first.Close()
	if list, ok := first.Deliveries("first"); !ok || len(list) != 1 || !list[0].OK() {
		t.Fatalf("delivery log %+v", list)
	}

	// A node starting later sends the second job's webhook, not the first
	// again: its delivery is recorded in the log.
	appendEnded(t, lg, "second", recv.URL)
	next, _ := jobhook.New(cfg)
	if err := next.Recover(context.Background()); err != nil {
		t.Fatal(err)
	}
	awaitRecord("second")
	next.Close() // waits for any delivery under way
	got := recv.Accepted()
	if len(got) != 2 || !strings.Contains(string(got[0]), `"id":"first"`) || !strings.Contains(string(got[1]), `"id":"second"`) {
		t.Fatalf("webhooks %q, want first's once then second's", got)
	}
	if list, ok := next.Deliveries("first"); !ok || len(list) != 1 {
		t.Fatalf("the recorded delivery log of the first job: %+v, %v", list, ok)
	}
}
