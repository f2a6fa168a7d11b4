package node

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/heraldhub/herald/internal/outbound"
	"github.com/heraldhub/herald/internal/outbound/outboundtest"
	"github.com/heraldhub/herald/jobs"
)

const webhookSecret = "webhook-secret-for-tests"

func TestJobWebhookPostsTheFinalSnapshotSignedUntilAcknowledged(t *testing.T) {
	n := startNode(t, Config{WebhookAllow: []string{"127.0.0.1"}, WebhookSecret: webhookSecret, CallbackBackoff: 2 * time.Millisecond})
	recv := outboundtest.New(t, []byte(webhookSecret))
	recv.Respond(func(i int, _ []byte) int {
		if i <= 2 {
			return http.StatusInternalServerError
		}
		return http.StatusAccepted
	})
	pub := token(t, publisherKey, []string{"jobs/{id}"}, nil)
	if status, out := n.call(t, http.MethodPost, "/api/jobs", pub, fmt.Sprintf(`{"id": "build-1", "callback": %q}`, recv.URL)); status != http.StatusCreated {
		t.Fatalf("create: %d %s", status, out)
	}
	if status, out := n.call(t, http.MethodPost, "/api/jobs/build-1/finish", pub, `{"state": "failed", "error": "tests failed"}`); status != http.StatusOK {
		t.Fatalf("finish: %d %s", status, out)
	}
	got := recv.WaitAccepted(t, "the webhook", wait, func(b [][]byte) bool { return len(b) >= 1 })
	var snap jobs.Snapshot
	if err := json.Unmarshal(got[0], &snap); err != nil || snap.ID != "build-1" || snap.State != jobs.Failed || snap.Error != "tests failed" {
		t.Fatalf("webhook body %s (%v), want the failed job's snapshot", got[0], err)
	}
	if recv.BadSignatures() != 0 || recv.Attempts() != 3 {
		t.Fatalf("%d requests, %d with a bad signature; want 3 good ones", recv.Attempts(), recv.BadSignatures())
	}
	var log struct{ Deliveries []outbound.Attempt }
	var status int
	var out string
	eventually(t, func() bool {
		status, out = n.call(t, http.MethodGet, "/api/jobs/build-1/deliveries", pub, "")
		json.Unmarshal([]byte(out), &log)
		return len(log.Deliveries) == 3
	})
	if status != http.StatusOK || len(log.Deliveries) != 3 || log.Deliveries[0].Status != 500 || log.Deliveries[2].Status != 202 {
		t.Fatalf("deliveries: %d %s, want 500, 500, 202", status, out)
	}
	if status, _ := n.call(t, http.MethodGet, "/api/jobs/build-1/deliveries", "", ""); status != http.StatusUnauthorized {
		t.Fatalf("deliveries without a token: %d, want 401", status)
	}
}

func TestJobCallbackHostsAreChecked(t *testing.T) {
	on := startNode(t, Config{WebhookAllow: []string{"hooks.example.com"}, WebhookSecret: webhookSecret})
	off := startNode(t, Config{})
	pub := token(t, publisherKey, []string{"jobs/{id}"}, nil)
	cases := []struct {
		n        *node
		callback string
		want     int
	}{
		{on, "https://hooks.example.com/done", http.StatusCreated},
		{on, "https://evil.example.com/done", http.StatusBadRequest},
		{on, "http://127.0.0.1:9/done", http.StatusBadRequest},
		{off, "https://hooks.example.com/done", http.StatusBadRequest},
	}
	for i, c := range cases {
		status, out := c.n.call(t, http.MethodPost, "/api/jobs", pub, fmt.Sprintf(`{"id": "j%d", "callback": %q}`, i, c.callback))
		if status != c.want || c.want != http.StatusCreated && !strings.Contains(out, "callback") {
			t.Errorf("callback %s: %d %s, want %d", c.callback, status, out, c.want)
		}
	}
	if _, err := New(t.Context(), Config{Log: "memory", DataDir: t.TempDir(), PublisherKey: publisherKey, WebhookAllow: []string{"x.example"}}); err == nil {
		t.Error("--webhook-allow without --webhook-secret was accepted")
	}
}

// eventually polls cond (an API's answer: no event to await) until it
// holds or the shared wait is over.
func eventually(t *testing.T, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(wait); !cond() && time.Now().Before(deadline); {
		time.Sleep(5 * time.Millisecond)
	}
}
