package cluster_test

import (
	"context"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/heraldhub/herald/internal/proctest"
	"github.com/heraldhub/herald/sse"
)

// TestResumeOnAnotherNodeAtTheNewestUpdateIsNeverRepeated publishes an
// update on node A and at once resumes on node B after it, many times: B's
// tail may not have read the update yet, and must still never send it. A
// second update published after B answered is the first event B may send.
func TestResumeOnAnotherNodeAtTheNewestUpdateIsNeverRepeated(t *testing.T) {
	if testing.Short() {
		t.Skip("starts real herald processes")
	}
	const tries = 300
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			logURL := b.url(t, sharedAddr[b.name])
			a := proctest.StartHerald(t, "--log", logURL, "--publisher-key", key, "--no-demo")
			bn := proctest.StartHerald(t, "--log", logURL, "--publisher-key", key, "--no-demo")
			tok := publisherToken(t)
			for i := range tries {
				resumeAt := fmt.Sprintf("r-%03d", i)
				if !publish(tok, resumeAt, []string{a.URL}) {
					t.Fatalf("try %d: node A did not acknowledge %s", i, resumeAt)
				}
				got, header := firstAfterResume(t, bn.URL, resumeAt, func() {
					if !publish(tok, resumeAt+"-next", []string{a.URL}) {
						t.Fatalf("try %d: node A did not acknowledge %s-next", i, resumeAt)
					}
				})
				if header != resumeAt {
					t.Fatalf("try %d: node B answered Last-Event-ID %q, want the resume point %q", i, header, resumeAt)
				}
				if got != resumeAt+"-next" {
					t.Fatalf("try %d: resumed on node B after %s, the first event was %q, want %s-next (the resume point repeated)", i, resumeAt, got, resumeAt)
				}
			}
		})
	}
}

// firstAfterResume subscribes to node's cluster topic after lastID, calls
// then once the response's headers are in, and returns the first event's
// id and the response's Last-Event-ID header.
func firstAfterResume(t *testing.T, node, lastID string, then func()) (id, header string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, node+"/.well-known/mercure?topic=cluster", nil)
	req.Header.Set("Last-Event-ID", lastID)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("resume after %s: status %d", lastID, resp.StatusCode)
	}
	then()
	ev, err := sse.NewDecoder(resp.Body).Next()
	if err != nil {
		t.Fatalf("resume after %s: %v before the first event", lastID, err)
	}
	return ev.ID, resp.Header.Get("Last-Event-ID")
}
