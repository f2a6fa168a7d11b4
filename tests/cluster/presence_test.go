package cluster_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/heraldhub/herald/internal/proctest"
	"github.com/heraldhub/herald/sse"
)

// presenceEvent is the part of a 1.0 subscription event the test reads.
type presenceEvent struct {
	Match      string `json:"match"`
	Subscriber string `json:"subscriber"`
	Active     bool   `json:"active"`
}

// watch subscribes on node with tok to the 1.0 subscription events and
// returns them as they come.
func watch(t *testing.T, node, tok string) <-chan presenceEvent {
	t.Helper()
	q := url.Values{"topic": {"/.well-known/mercure/subscriptions/{match_type}/{match}/{subscriber}"}}
	req, _ := http.NewRequest(http.MethodGet, node+"/.well-known/mercure?"+q.Encode(), nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("watch the subscription events on %s: %v %v", node, resp, err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	ch := make(chan presenceEvent, 64)
	go func() {
		defer close(ch)
		dec := sse.NewDecoder(resp.Body)
		for {
			ev, err := dec.Next()
			if err != nil {
				return
			}
			var e presenceEvent
			if json.Unmarshal([]byte(ev.Data), &e) == nil {
				ch <- e
			}
		}
	}()
	return ch
}

// await returns the first event on ch about match, failing after within.
func await(t *testing.T, ch <-chan presenceEvent, match string, within time.Duration) presenceEvent {
	t.Helper()
	deadline := time.After(within)
	for {
		select {
		case e, ok := <-ch:
			if !ok {
				t.Fatal("the watcher's stream ended")
			}
			if e.Match == match {
				return e
			}
		case <-deadline:
			t.Fatalf("no subscription event about %q within %v", match, within)
		}
	}
}

func TestSubscribersOfAKilledNodeAreReportedGoneByAnother(t *testing.T) {
	if testing.Short() {
		t.Skip("starts real herald processes")
	}
	const beat = 250 * time.Millisecond
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			logURL := b.url(t, sharedAddr[b.name])
			args := []string{"--log", logURL, "--publisher-key", key, "--subscriber-key", key, "--no-demo",
				"--subscriptions", "--subscriptions-heartbeat", beat.String()}
			doomed, survivor := proctest.StartHerald(t, args...), proctest.StartHerald(t, args...)
			tok, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{
				"mercure": map[string]any{"subscribe": []string{"*"}},
				"exp":     time.Now().Add(time.Hour).Unix(),
			}).SignedString([]byte(key))
			if err != nil {
				t.Fatal(err)
			}
			events := watch(t, survivor.URL, tok)

			resp, err := http.Get(doomed.URL + "/.well-known/mercure?topic=books%2F1")
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			arrived := await(t, events, "books/1", 15*time.Second)
			doomed.Kill()
			// Four intervals, plus a margin for a loaded machine.
			left := await(t, events, "books/1", 4*beat+5*time.Second)
			if left.Active || left.Subscriber != arrived.Subscriber {
				t.Fatalf("after the kill: %+v, want %s reported inactive", left, arrived.Subscriber)
			}
		})
	}
}
