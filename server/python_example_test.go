package server

import (
	"os/exec"
	"strings"
	"testing"
)

func TestPythonPublishExampleReachesASubscriber(t *testing.T) {
	python, err := exec.LookPath("python3")
	if err != nil {
		t.Fatal("python3 is needed to run examples/python/publish.py (scripts/test.sh installs it)")
	}
	n := startNode(t, Config{})
	s := n.subscribe(t, "topic=status", nil)
	cmd := exec.CommandContext(t.Context(), python, "../examples/python/publish.py", "--hub", n.http.URL, "--type", "status", "status", "starting data query…")
	cmd.Env = append(cmd.Environ(), "HERALD_TOKEN="+token(t, publisherKey, []string{"status"}, nil))
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("publish.py: %v\n%s", err, out)
	}
	id := strings.TrimSpace(string(out))
	ev := s.next(t)
	if ev.ID != id || ev.Data != "starting data query…" || ev.Type != "status" {
		t.Fatalf("subscriber got %+v, want the update published by the example with id %q", ev, id)
	}

	// A refusal is reported on one line, with a non-zero exit.
	bad := exec.CommandContext(t.Context(), python, "../examples/python/publish.py", "--hub", n.http.URL, "elsewhere", "x")
	bad.Env = append(bad.Environ(), "HERALD_TOKEN="+token(t, publisherKey, []string{"status"}, nil))
	out, err = bad.CombinedOutput()
	if err == nil || !strings.Contains(string(out), "403") {
		t.Fatalf("publishing to a topic the token does not allow: err %v, output %q; want a 403 reason", err, out)
	}
}
