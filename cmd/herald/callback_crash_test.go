package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/golang-jwt/jwt/v5"

	"github.com/heraldhub/herald/heraldclient"
	"github.com/heraldhub/herald/internal/outbound/outboundtest"
	"github.com/heraldhub/herald/jobs"
	"github.com/heraldhub/herald/push"
)

// Process tests of outbound deliveries on a bolt log: a node killed
// (SIGKILL) while a push delivery or a job's webhook is in flight delivers
// it after a restart on the same data dir.

const testSubscriberKey = "herald-process-test-subscriber-key-0123456789"

// call sends a JSON request with a bearer token and returns the status and
// body.
func call(t *testing.T, method, u, tok, body string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(method, u, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err := procRequests.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// holdOnce makes recv hold its n-th request until the returned release is
// called, then answer it 503; every other request is acknowledged. held is
// closed when the n-th request has come.
func holdOnce(t *testing.T, recv *outboundtest.Receiver, n int) (held <-chan struct{}, release func()) {
	h, r := make(chan struct{}), make(chan struct{})
	recv.Respond(func(i int, _ []byte) int {
		if i != n {
			return http.StatusOK
		}
		close(h)
		<-r
		return http.StatusServiceUnavailable
	})
	var once bool
	release = func() {
		if !once {
			once = true
			close(r)
		}
	}
	t.Cleanup(release)
	return h, release
}

func TestKilledHubResumesPushDeliveriesFromTheCursor(t *testing.T) {
	if testing.Short() {
		t.Skip("starts, kills and restarts a real herald process; skipped with -short")
	}
	recv := outboundtest.New(t, nil)
	held, release := holdOnce(t, recv, 6)
	h := startHerald(t, "--subscriber-key", testSubscriberKey, "--push-allow", "127.0.0.1", "--callback-backoff", "10ms")
	sub, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{"mercure": map[string]any{"subscribe": []string{"crash/{n}"}}}).SignedString([]byte(testSubscriberKey))
	if err != nil {
		t.Fatal(err)
	}
	status, out := call(t, http.MethodPost, h.URL()+push.Path, sub, fmt.Sprintf(`{"callback": %q, "topics": ["crash/{n}"]}`, recv.URL))
	var v push.View
	if json.Unmarshal([]byte(out), &v); status != http.StatusCreated {
		t.Fatalf("create: %d %s", status, out)
	}
	recv.SetSecret([]byte(v.Secret))
	pub := publisherToken(t, testPublisherKey)
	var want []string
	publishSome := func(n int) {
		for i := range n {
			id, err := publish(context.Background(), h.URL(), pub, url.Values{"topic": {fmt.Sprintf("crash/%d", i)}, "data": {fmt.Sprint(len(want))}})
			if err != nil {
				t.Fatal(err)
			}
			want = append(want, id)
		}
	}
	publishSome(15)
	<-held // the 6th delivery is in flight
	h.Kill()
	release()
	h.Restart()
	publishSome(5)

	got := recv.WaitAccepted(t, "every update after the restart", eventWait, func(b [][]byte) bool { return len(firstDeliveries(t, b)) >= len(want) })
	if g := firstDeliveries(t, got); strings.Join(g, ",") != strings.Join(want, ",") {
		t.Fatalf("first deliveries %v,\nwant %v", g, want)
	}
	if recv.BadSignatures() != 0 {
		t.Fatalf("%d deliveries with a bad signature", recv.BadSignatures())
	}
}

// firstDeliveries returns the ids of the pushed updates in the order they
// were first acknowledged: a repeat (at least once) is not counted again.
func firstDeliveries(t *testing.T, bodies [][]byte) []string {
	t.Helper()
	seen := map[string]bool{}
	var out []string
	for _, b := range bodies {
		var m push.Message
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatalf("delivery %s: %v", b, err)
		}
		if !seen[m.ID] {
			seen[m.ID] = true
			out = append(out, m.ID)
		}
	}
	return out
}

func TestKilledHubStillSendsTheWebhookOfAJobThatEnded(t *testing.T) {
	if testing.Short() {
		t.Skip("starts, kills and restarts a real herald process; skipped with -short")
	}
	const secret = "webhook-secret-for-the-crash-test"
	recv := outboundtest.New(t, []byte(secret))
	held, release := holdOnce(t, recv, 1)
	h := startHerald(t, "--webhook-allow", "127.0.0.1", "--webhook-secret", secret, "--callback-backoff", "10ms")
	hc, _ := heraldclient.New(h.URL(), publisherToken(t, testPublisherKey))
	hc.HTTPClient = procRequests
	if _, err := hc.Jobs().Create(t.Context(), jobs.Spec{ID: "nightly", Callback: recv.URL}); err != nil {
		t.Fatalf("create: %v", err)
	}
	if _, err := hc.Jobs().Finish(t.Context(), "nightly", jobs.Outcome{State: jobs.Succeeded, Result: []byte(`{"rows": 42}`)}); err != nil {
		t.Fatalf("finish: %v", err)
	}
	<-held // the webhook is in flight
	h.Kill()
	release()
	if len(recv.Accepted()) != 0 {
		t.Fatal("the webhook was acknowledged before the crash")
	}
	h.Restart()

	got := recv.WaitAccepted(t, "the webhook after the restart", eventWait, func(b [][]byte) bool { return len(b) >= 1 })
	var snap jobs.Snapshot
	if err := json.Unmarshal(got[0], &snap); err != nil || snap.ID != "nightly" || snap.State != jobs.Succeeded || string(snap.Result) != `{"rows":42}` {
		t.Fatalf("webhook body %s (%v), want the succeeded job's snapshot", got[0], err)
	}
	if recv.BadSignatures() != 0 {
		t.Fatalf("%d webhooks with a bad signature", recv.BadSignatures())
	}
}
