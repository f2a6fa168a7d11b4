package node

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/heraldhub/herald/eventlog"
)

// fullDisk is a memory log whose appends fail while full is set, as a
// bolt file's do on a full disk: reads keep working.
type fullDisk struct {
	*eventlog.Memory
	full atomic.Bool
}

func (l *fullDisk) Append(ctx context.Context, u eventlog.Update) (eventlog.Update, error) {
	if l.full.Load() {
		return eventlog.Update{}, fmt.Errorf("bolt: write herald.db: %w", syscall.ENOSPC)
	}
	return l.Memory.Append(ctx, u)
}

func (n *node) readyz(t *testing.T) (int, string) {
	t.Helper()
	return n.call(t, "GET", "/readyz", "", "")
}

func TestReadinessFollowsWhetherTheLogTakesWrites(t *testing.T) {
	lg := &fullDisk{Memory: eventlog.NewMemory(0)}
	cfg := Config{Log: "memory", PublisherKey: publisherKey, DataDir: t.TempDir()}
	cfg.setDefaults()
	srv, err := start(cfg, lg)
	if err != nil {
		t.Fatal(err)
	}
	n := serveNode(t, srv)
	pub := token(t, publisherKey, []string{"*"}, nil)
	form := url.Values{"topic": {"a"}, "data": {"x"}}

	if st, body := n.readyz(t); st != http.StatusOK {
		t.Fatalf("before any write: %d %s, want 200", st, body)
	}
	lg.full.Store(true)
	if st, body := n.publish(t, pub, form); st == http.StatusOK {
		t.Fatalf("publish on a full disk: %d %s, want a failure", st, body)
	}
	if st, body := n.readyz(t); st != http.StatusServiceUnavailable || !strings.Contains(body, "no space left") {
		t.Fatalf("after a failed write: %d %q, want 503 naming the write's error", st, body)
	}
	lg.full.Store(false)
	if st, body := n.publish(t, pub, form); st != http.StatusOK {
		t.Fatalf("publish with space again: %d %s", st, body)
	}
	if st, body := n.readyz(t); st != http.StatusOK {
		t.Fatalf("after a write succeeded again: %d %s, want 200", st, body)
	}
}

func TestWriteFailureDoesNotKeepANodeUnreadyForever(t *testing.T) {
	lg := &fullDisk{Memory: eventlog.NewMemory(0)}
	lg.full.Store(true)
	now := time.Unix(1e9, 0)
	w := &writeWatch{Log: lg, now: func() time.Time { return now }}
	w.Append(context.Background(), eventlog.Update{Topics: []string{"a"}})
	if w.failing() == nil {
		t.Fatal("a failed append left the node ready")
	}
	now = now.Add(failureHold)
	if err := w.failing(); err != nil {
		t.Fatalf("%v after %v without a write attempted: want ready, for traffic to try again", err, failureHold)
	}
}

// TestAShuttingDownNodeIsNotReady checks the first step of a node's drain:
// from Shutdown on, /readyz answers 503, so a balancer takes the node out
// of rotation, and the node's streams end (each client told when to
// reconnect, elsewhere).
func TestAShuttingDownNodeIsNotReady(t *testing.T) {
	n := startNode(t, Config{})
	s := n.subscribe(t, "topic=a", nil)
	if st, body := n.readyz(t); st != http.StatusOK {
		t.Fatalf("before Shutdown: %d %s, want 200", st, body)
	}
	n.srv.Drain()
	if st, body := n.readyz(t); st != http.StatusServiceUnavailable || !strings.Contains(body, "shutting down") {
		t.Fatalf("after Shutdown: %d %q, want 503 saying the node is shutting down", st, body)
	}
	select {
	case <-s.done:
	case <-time.After(wait):
		t.Fatal("a stream outlived Shutdown")
	}
}
