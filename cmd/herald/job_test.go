package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/heraldhub/herald/auth"
	"github.com/heraldhub/herald/jobs"
	"github.com/heraldhub/herald/node"
)

// jobNode starts a node without the demo and points the job commands at
// it with a token to publish and watch every job.
func jobNode(t *testing.T) (*node.Node, string) {
	t.Helper()
	const key = "job-cli-test-key-0123456789abcdef"
	srv, ts := testNode(t, node.Config{PublisherKey: key, SubscriberKey: key})
	k, _ := auth.SecretKey(key)
	tok, _ := k.Sign(auth.Claims{Publish: []string{"jobs/{id}"}, Subscribe: []string{"jobs/{id}"}})
	t.Setenv("HERALD_HUB", ts.URL)
	t.Setenv("HERALD_TOKEN", tok)
	return srv, ts.URL
}

// testNode starts a node on a memory log, without the demo, behind a
// loopback HTTP server that the test closes.
func testNode(t *testing.T, cfg node.Config) (*node.Node, *httptest.Server) {
	t.Helper()
	cfg.Log, cfg.DataDir, cfg.NoDemo = "memory", t.TempDir(), true
	srv, err := node.New(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(srv.Handler())
	t.Cleanup(func() {
		srv.Drain()
		ts.Close()
		srv.Close()
	})
	return srv, ts
}

func TestJobCommandsReportAndWatchAJob(t *testing.T) {
	_, hubURL := jobNode(t)
	code, out, errOut := runCmd(t, "job", "create", "--id", "backup", "--title", "Backup", "--stage", "copy:3", "--stage", "verify", "--total", "4")
	if code != 0 || strings.TrimSpace(out) != "backup" {
		t.Fatalf("create: exit %d, %q %q", code, out, errOut)
	}
	var watchOut bytes.Buffer
	var watchErr error
	var wg sync.WaitGroup
	wg.Add(1)
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	go func() {
		defer wg.Done()
		watchErr = watchJob(ctx, hubURL, "backup", "", false, &watchOut)
	}()
	for _, args := range [][]string{
		{"job", "progress", "backup", "--stage", "copy", "--done", "4", "--total", "4"},
		{"job", "progress", "backup", "--stage", "verify", "--done", "1", "--total", "2", "--message", "checking"},
		{"job", "finish", "backup", "--result", `{"files":12}`},
	} {
		if code, _, errOut := runCmd(t, args...); code != 0 {
			t.Fatalf("%v: exit %d: %s", args, code, errOut)
		}
	}
	wg.Wait()
	if watchErr != nil {
		t.Fatalf("watch: %v", watchErr)
	}
	if got := watchOut.String(); !strings.Contains(got, "succeeded") || !strings.Contains(got, `result {"files":12}`) {
		t.Fatalf("watch printed %q, want the final state and result", got)
	}

	// A report after a cancel request exits with status 3.
	runCmd(t, "job", "create", "--id", "long", "--total", "10")
	if code, _, errOut := runCmd(t, "job", "cancel", "long"); code != 0 {
		t.Fatalf("cancel: exit %d: %s", code, errOut)
	}
	if code, _, errOut := runCmd(t, "job", "progress", "long", "--done", "2"); code != 3 || !strings.Contains(errOut, "cancel requested") {
		t.Fatalf("progress after cancel: exit %d %q, want 3 and the reason", code, errOut)
	}
	// Refusals are one line, non-zero.
	for _, args := range [][]string{
		{"job", "progress", "nope", "--done", "1"},
		{"job", "finish", "backup"},
		{"job", "frobnicate"},
		{"job", "progress"},
	} {
		code, _, errOut := runCmd(t, args...)
		if code == 0 || strings.TrimSpace(errOut) == "" {
			t.Errorf("%v: exit %d, stderr %q; want a non-zero exit with a reason", args, code, errOut)
		}
	}
}

func TestJobWatchPrintsSnapshotsAsJSONAndFailsWithTheJob(t *testing.T) {
	srv, hubURL := jobNode(t)
	if code, _, errOut := runCmd(t, "job", "create", "--id", "nightly", "--total", "3", "--private"); code != 0 {
		t.Fatalf("create: exit %d: %s", code, errOut)
	}
	if s, err := srv.Jobs().Get("nightly"); err != nil || !s.Private {
		t.Fatalf("created %+v, %v; want a private job", s, err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	var out bytes.Buffer
	done := make(chan error, 1)
	go func() { done <- watchJob(ctx, hubURL, "nightly", os.Getenv("HERALD_TOKEN"), true, &out) }()
	for _, args := range [][]string{
		{"job", "progress", "nightly", "--done", "1"},
		{"job", "finish", "nightly", "--state", "failed", "--error", "disk full"},
	} {
		if code, _, errOut := runCmd(t, args...); code != 0 {
			t.Fatalf("%v: exit %d: %s", args, code, errOut)
		}
	}
	err := <-done
	if err == nil || !strings.Contains(err.Error(), "failed: disk full") {
		t.Fatalf("watch of a failed job: %v, want the failure and its error", err)
	}
	var prev uint64
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	for _, line := range lines {
		var s jobs.Snapshot
		if err := json.Unmarshal([]byte(line), &s); err != nil || s.ID != "nightly" || s.Seq <= prev {
			t.Fatalf("line %q (%v): want one snapshot of the job a line, seq rising", line, err)
		}
		prev = s.Seq
	}
	var last jobs.Snapshot
	json.Unmarshal([]byte(lines[len(lines)-1]), &last)
	if last.State != jobs.Failed || last.Error != "disk full" {
		t.Fatalf("last snapshot %+v, want failed with the error", last)
	}
}

func TestJobCommandsQueueAJobOfAKindAndStartIt(t *testing.T) {
	srv, _ := jobNode(t)
	for _, id := range []string{"first", "second"} {
		code, out, errOut := runCmd(t, "job", "create", "--id", id, "--queue", "builds", "--kind", "build")
		if code != 0 || strings.TrimSpace(out) != id {
			t.Fatalf("create %s: exit %d, %q %q", id, code, out, errOut)
		}
	}
	// A job takes its place in line when the log shows it to the node, so
	// the second's place is 1 until the first's event has been read.
	s, err := queuedAt(t, srv, "second", 2)
	if err != nil || s.State != jobs.Queued || s.Kind != "build" {
		t.Fatalf("second job: %+v, %v; want queued second in builds, of kind build", s, err)
	}
	code, out, errOut := runCmd(t, "job", "start", "first")
	if code != 0 || strings.TrimSpace(out) != "running" {
		t.Fatalf("start: exit %d, %q %q", code, out, errOut)
	}
	if _, err := queuedAt(t, srv, "second", 1); err != nil {
		t.Fatalf("second job after the first started: %v", err)
	}
	code, _, errOut = runCmd(t, "job", "create", "--queue", "no such/queue")
	if code == 0 || !strings.Contains(errOut, "queue") {
		t.Fatalf("create with a bad queue name: exit %d, %q; want a refusal naming the queue", code, errOut)
	}
	if code, _, errOut = runCmd(t, "job", "start"); code == 0 || !strings.Contains(errOut, "missing job id") {
		t.Fatalf("start without an id: exit %d, %q", code, errOut)
	}
}

// queuedAt waits up to 15 s until the job is queued at position pos, and
// returns its snapshot then, or an error naming the last position seen.
func queuedAt(t *testing.T, srv *node.Node, id string, pos int) (jobs.Snapshot, error) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		s, err := srv.Jobs().Get(id)
		if err == nil && s.QueuePosition != nil && *s.QueuePosition == pos {
			return s, nil
		}
		if time.Now().After(deadline) {
			if err == nil {
				err = fmt.Errorf("job %s at position %v in state %s, want %d", id, s.QueuePosition, s.State, pos)
			}
			return s, err
		}
		time.Sleep(5 * time.Millisecond)
	}
}
