package main

import (
	"encoding/json"
	"testing"

	"github.com/heraldhub/herald/auth"
	"github.com/heraldhub/herald/loadgen"
	"github.com/heraldhub/herald/server"
)

// herald bench against a real node: every update reaches every subscriber
// once, and the node's own count of writes says how many writes that took.
func TestBenchMeasuresANodeWithItsWriteCount(t *testing.T) {
	const key = "bench-cli-test-key-0123456789abcdef"
	_, ts := testNode(t, server.Config{PublisherKey: key, MaxConnsPerIP: -1})
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
	if rep.ServerWrites < subscribers || rep.ServerWrites > float64(rep.Deliveries) || rep.WritesPerDelivery != rep.ServerWrites/float64(rep.Deliveries) {
		t.Fatalf("server writes %v (%v per delivery) for %d deliveries to %d subscribers", rep.ServerWrites, rep.WritesPerDelivery, rep.Deliveries, subscribers)
	}
}
