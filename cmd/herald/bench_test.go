package main

import (
	"encoding/json"
	"net/http"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/heraldhub/herald/auth"
	"github.com/heraldhub/herald/internal/loadgen"
	"github.com/heraldhub/herald/node"
)

// herald bench against a real node: every update reaches every subscriber
// once, and the node's own count of writes says how many writes that took.
func TestBenchMeasuresANodeWithItsWriteCount(t *testing.T) {
	const key = "bench-cli-test-key-0123456789abcdef"
	_, ts := testNode(t, node.Config{PublisherKey: key, MaxConnsPerIP: -1})
	k, _ := auth.SecretKey(key)
	tok, _ := k.Sign(auth.Claims{Publish: []string{"*"}})

	const subscribers, updates = 20, 50
	code, out, errOut := runCmd(t, "bench", "--hub", ts.URL, "--token", tok, "--subscribers", "20", "--updates", "50",
		"--rate", "500", "--drain", "10s", "--max-duration", "1m", "--json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	var rep loadgen.Report
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("report %q: %v", out, err)
	}
	if rep.Connected != subscribers || rep.Published != updates || rep.Deliveries != subscribers*updates || rep.Lost != 0 || rep.Duplicated != 0 {
		t.Fatalf("report %+v, want %d deliveries, none lost or duplicated", rep, subscribers*updates)
	}
	if rep.AchievedRate <= 0 || rep.PublishP50ms <= 0 || rep.PublishMaxMs < rep.PublishP50ms {
		t.Fatalf("achieved %v/s, publish times p50 %v max %v ms: the publisher process's report did not arrive", rep.AchievedRate, rep.PublishP50ms, rep.PublishMaxMs)
	}
	if rep.ServerWrites < subscribers || rep.ServerWrites > float64(rep.Deliveries) || rep.WritesPerDelivery != rep.ServerWrites/float64(rep.Deliveries) {
		t.Fatalf("server writes %v (%v per delivery) for %d deliveries to %d subscribers", rep.ServerWrites, rep.WritesPerDelivery, rep.Deliveries, subscribers)
	}
}

// benchToken signs a publisher token for the key of benchNode.
func benchToken(t *testing.T) string {
	t.Helper()
	k, _ := auth.SecretKey(benchKey)
	tok, err := k.Sign(auth.Claims{Publish: []string{"*"}})
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

const benchKey = "bench-cli-test-key-0123456789abcdef"

// benchReport runs herald bench with args and --json, and returns its report.
func benchReport(t *testing.T, args ...string) loadgen.Report {
	t.Helper()
	code, out, errOut := runCmd(t, append(append([]string{"bench"}, args...), "--drain", "10s", "--max-duration", "1m", "--json")...)
	if code != 0 {
		t.Fatalf("herald bench %v: exit %d: %s", args, code, errOut)
	}
	var rep loadgen.Report
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("report %q: %v", out, err)
	}
	return rep
}

// Every reader against a real node with many connections: every update
// counted once, and the generator's own CPU reported.
func TestBenchReadersCountEveryUpdateFromANodeOnce(t *testing.T) {
	_, ts := testNode(t, node.Config{PublisherKey: benchKey, MaxConnsPerIP: -1})
	tok := benchToken(t)
	for _, reader := range []string{"epoll", "uring", "goroutines"} {
		rep := benchReport(t, "--hub", ts.URL, "--token", tok, "--subscribers", "300", "--updates", "40",
			"--rate", "200", "--reader", reader, "--reader-workers", "2")
		if rep.Reader != reader || rep.Connected != 300 || rep.Deliveries != 300*40 || rep.Lost != 0 || rep.Duplicated != 0 {
			t.Fatalf("%s: report %+v, want 12,000 deliveries, none lost or duplicated", reader, rep)
		}
		if rep.GeneratorCPUPerDeliver <= 0 {
			t.Fatalf("%s: generator CPU per delivery %v, not measured", reader, rep.GeneratorCPUPerDeliver)
		}
	}
	if code, _, errOut := runCmd(t, "bench", "--hub", ts.URL, "--reader", "threads"); code == 0 || !strings.Contains(errOut, "unknown reader") {
		t.Fatalf("exit %d, %q; want the unknown reader refused", code, errOut)
	}
}

// Concurrent publishers against a real node: every update acknowledged
// and delivered once, whatever order they reach subscribers in.
func TestBenchPublishersReportRateAndAcknowledgementLatency(t *testing.T) {
	_, ts := testNode(t, node.Config{PublisherKey: benchKey, MaxConnsPerIP: -1})
	rep := benchReport(t, "--hub", ts.URL, "--token", benchToken(t), "--subscribers", "5", "--updates", "300", "--publishers", "16")
	if rep.Published != 300 || rep.Deliveries != 5*300 || rep.Lost != 0 || rep.Duplicated != 0 {
		t.Fatalf("report %+v, want 300 published, 1,500 deliveries, none lost or duplicated", rep)
	}
	if rep.AchievedRate <= 0 || rep.PublishP50ms <= 0 || rep.PublishP99ms < rep.PublishP50ms {
		t.Fatalf("%v publications/s, acknowledgement p50 %v p99 %v ms: not measured", rep.AchievedRate, rep.PublishP50ms, rep.PublishP99ms)
	}
	if code, _, errOut := runCmd(t, "bench", "--hub", ts.URL, "--publishers", "-1"); code == 0 || !strings.Contains(errOut, "--publishers") {
		t.Fatalf("exit %d, %q; want a negative --publishers refused", code, errOut)
	}
}

func TestBenchPublishOnlyPublishesAndReportsHowLongItTook(t *testing.T) {
	const key = "bench-cli-test-key-0123456789abcdef"
	_, ts := testNode(t, node.Config{PublisherKey: key})
	k, _ := auth.SecretKey(key)
	tok, _ := k.Sign(auth.Claims{Publish: []string{"*"}})
	code, out, errOut := runCmd(t, "bench", "--publish-only", "--hub", ts.URL, "--token", tok, "--updates", "20", "--rate", "1000")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	var pub loadgen.Publication
	if err := json.Unmarshal([]byte(out), &pub); err != nil {
		t.Fatalf("output %q: %v", out, err)
	}
	if pub.Published != 20 || pub.PublishFailed != 0 || pub.PublishP50ms <= 0 || pub.AchievedRate <= 0 {
		t.Fatalf("report %+v, want 20 publications timed", pub)
	}
	updates := loadgen.MetricsCounter(http.DefaultClient, ts.URL+"/metrics", "herald_updates_total")
	deadline := time.Now().Add(5 * time.Second)
	for {
		n, err := updates(t.Context())
		if err == nil && n == 20 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the node fanned out %v updates (%v), want the 20 published", n, err)
		}
		time.Sleep(10 * time.Millisecond)
	}

	code, _, errOut = runCmd(t, "bench", "--publish-only", "--publish-in-process", "--hub", ts.URL)
	if code == 0 || !strings.Contains(errOut, "do not go together") {
		t.Fatalf("exit %d, %q; want the conflict refused", code, errOut)
	}
}

// herald bench --soak against a real node: subscribers that keep dropping
// and resuming receive every update from their first once, in order, and
// the node is sampled from start to end.
func TestBenchSoakFindsEveryUpdateOnceAcrossResumes(t *testing.T) {
	const key = "bench-cli-test-key-0123456789abcdef"
	_, ts := testNode(t, node.Config{PublisherKey: key, MaxConnsPerIP: -1})
	k, _ := auth.SecretKey(key)
	tok, _ := k.Sign(auth.Claims{Publish: []string{"*"}})
	code, out, errOut := runCmd(t, "bench", "--soak", "--hub", ts.URL, "--token", tok, "--pid", strconv.Itoa(os.Getpid()),
		"--subscribers", "20", "--rate", "50", "--duration", "3s", "--hold-min", "200ms", "--hold-max", "800ms",
		"--sample-every", "1s", "--drain", "5s", "--json")
	if code != 0 {
		t.Fatalf("exit %d: %s\n%s", code, errOut, out)
	}
	var rep loadgen.SoakReport
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("report %q: %v", out, err)
	}
	if !rep.Exact() || rep.Published != 150 || rep.Resumes < 20 || rep.Deliveries < 20*100 {
		t.Fatalf("report %+v: want 150 updates each received once by every subscriber across at least 20 resumes", rep)
	}
	if len(rep.NodeSummaries) != 1 || len(rep.Samples) < 4 {
		t.Fatalf("samples %+v, want one node sampled at least 4 times", rep.Samples)
	}
	n := rep.NodeSummaries[0]
	if n.Subscribers.Start != 0 || n.Subscribers.Max < 20 || n.Subscribers.After != 0 || n.OpenFiles.Max <= 0 || n.RSSKB.Max <= 0 {
		t.Fatalf("node summary %+v: want 0 subscribers first and after, 20 in between, open files and memory sampled", n)
	}
}
