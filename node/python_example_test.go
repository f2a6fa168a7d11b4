package node

import (
	"encoding/json"
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

func TestPythonProgressExampleReportsAJob(t *testing.T) {
	python, err := exec.LookPath("python3")
	if err != nil {
		t.Fatal("python3 is needed to run examples/python/progress.py (scripts/test.sh installs it)")
	}
	n := startNode(t, Config{})
	s := n.subscribe(t, "topic=jobs/import-1", nil)
	cmd := exec.CommandContext(t.Context(), python, "../examples/python/progress.py", "--hub", n.http.URL, "--id", "import-1", "--rows", "20", "--delay", "0.01")
	cmd.Env = append(cmd.Environ(), "HERALD_TOKEN="+token(t, publisherKey, []string{"jobs/{id}"}, nil))
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("progress.py: %v\n%s", err, out)
	}
	if got := strings.Fields(string(out)); len(got) != 2 || got[0] != "import-1" || got[1] != "succeeded" {
		t.Fatalf("progress.py printed %q, want the job id and succeeded", out)
	}
	stages := map[string]bool{}
	for {
		ev := s.next(t)
		var snap struct {
			State  string          `json:"state"`
			Stage  string          `json:"stage"`
			Result json.RawMessage `json:"result"`
		}
		if err := json.Unmarshal([]byte(ev.Data), &snap); err != nil {
			t.Fatalf("event data %q: %v", ev.Data, err)
		}
		stages[snap.Stage] = true
		if ev.Type == "done" {
			if snap.State != "succeeded" || string(snap.Result) != `{"rows":20}` {
				t.Fatalf("final event %+v, want succeeded with the result", snap)
			}
			break
		}
		if ev.Type != "progress" {
			t.Fatalf("event type %q before the end, want progress", ev.Type)
		}
	}
	if !stages["reading"] || !stages["saving"] {
		t.Fatalf("stages seen %v, want reading and saving", stages)
	}
}

func TestPythonProgressExampleStopsWhenTheJobIsCancelled(t *testing.T) {
	python, err := exec.LookPath("python3")
	if err != nil {
		t.Fatal("python3 is needed to run examples/python/progress.py (scripts/test.sh installs it)")
	}
	n := startNode(t, Config{})
	s := n.subscribe(t, "topic=jobs/import-2", nil)
	pub := token(t, publisherKey, []string{"jobs/{id}"}, nil)
	// A slow import: 2 × 500 rows at 20 ms a row would take 20 s.
	cmd := exec.CommandContext(t.Context(), python, "../examples/python/progress.py", "--hub", n.http.URL, "--id", "import-2", "--rows", "500", "--delay", "0.02")
	cmd.Env = append(cmd.Environ(), "HERALD_TOKEN="+pub)
	out := make(chan []byte, 1)
	go func() {
		b, _ := cmd.CombinedOutput()
		out <- b
	}()
	// Once the job reports progress, cancel it.
	for {
		ev := s.next(t)
		if strings.Contains(ev.Data, `"done":`) && !strings.Contains(ev.Data, `"done":0,`) {
			break
		}
	}
	if status, body := n.call(t, "POST", "/api/jobs/import-2/cancel", pub, ""); status != 202 {
		t.Fatalf("cancel: %d %s", status, body)
	}
	for {
		ev := s.next(t)
		if ev.Type == "cancelled" {
			break
		}
		if ev.Type != "progress" {
			t.Fatalf("event %q before the cancellation, want progress", ev.Type)
		}
	}
	if got := strings.Fields(string(<-out)); len(got) != 2 || got[0] != "import-2" || got[1] != "cancelled" {
		t.Fatalf("progress.py printed %q, want the job id and cancelled", got)
	}
}
