package cluster_test

import (
	"context"
	"encoding/json"
	"os/exec"
	"strconv"
	"testing"
	"time"

	"github.com/heraldhub/herald/internal/loadgen"
	"github.com/heraldhub/herald/internal/proctest"
)

// TestSoakAcrossANodeKillFindsEveryUpdateOnce runs a short `herald bench
// --soak` on two nodes, one killed by the soak half-way: subscribers that
// keep dropping, resuming and moving between the nodes, and those the kill
// cut off, receive every update from their first once, in order.
func TestSoakAcrossANodeKillFindsEveryUpdateOnce(t *testing.T) {
	if testing.Short() {
		t.Skip("starts real herald processes")
	}
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			logURL := b.url(t, sharedAddr[b.name])
			a := proctest.StartHerald(t, "--log", logURL, "--publisher-key", key, "--no-demo", "--max-conns-per-ip", "-1")
			victim := proctest.StartHerald(t, "--log", logURL, "--publisher-key", key, "--no-demo", "--max-conns-per-ip", "-1")
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			cmd := exec.CommandContext(ctx, proctest.HeraldBinary(t), "bench", "--soak", "--hub", a.URL+","+victim.URL,
				"--pid", strconv.Itoa(a.PID()), "--pid", strconv.Itoa(victim.PID()), "--kill-after", "2s",
				"--token", publisherToken(t), "--subscribers", "30", "--rate", "50", "--duration", "4s",
				"--hold-min", "200ms", "--hold-max", "1s", "--move", "0.3", "--sample-every", "1s", "--drain", "10s", "--json")
			out, err := cmd.Output()
			var rep loadgen.SoakReport
			if jerr := json.Unmarshal(out, &rep); jerr != nil {
				t.Fatalf("soak: %v, report %q: %v", err, out, jerr)
			}
			if err != nil || !rep.Exact() {
				t.Fatalf("soak: %v; %d duplicates, %d missing, %d out of order, %d silent: %+v", err, rep.Duplicates, rep.Gaps, rep.OutOfOrder, rep.Silent, rep.Violations)
			}
			if rep.Published != 200 || rep.Killed != victim.URL || rep.Moves == 0 || rep.Cut == 0 {
				t.Fatalf("published %d, killed %q, %d moves, %d streams cut: want 200 updates, %s killed, subscribers moved and cut off",
					rep.Published, rep.Killed, rep.Moves, rep.Cut, victim.URL)
			}
			if err := victim.Exited(); err == nil {
				t.Fatal("the killed node exited cleanly")
			}
		})
	}
}
