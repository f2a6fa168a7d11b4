package node

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// jobStory reads a job's events and its log's, in the order the hub sent
// them, until the job's final event, and tells them as steps: "stage NAME"
// when a newer snapshot (by seq) moves to a stage, "log TEXT" for a log
// line, and the final state with its error or result. The final snapshot's
// raw data is returned too.
func jobStory(t *testing.T, s *stream) ([]string, string) {
	t.Helper()
	var story []string
	var seq uint64
	stage := ""
	for range 10000 {
		ev := s.next(t)
		if ev.Type == "log" {
			var line struct{ Line string }
			json.Unmarshal([]byte(ev.Data), &line)
			story = append(story, "log "+line.Line)
			continue
		}
		var snap struct {
			Seq          uint64
			State, Stage string
			Error        string
		}
		if err := json.Unmarshal([]byte(ev.Data), &snap); err != nil {
			t.Fatalf("event %s %q: %v", ev.Type, ev.Data, err)
		}
		if snap.Seq <= seq && ev.Type == "progress" {
			continue // an older snapshot published late: readers drop it
		}
		seq = max(seq, snap.Seq)
		if ev.Type != "progress" {
			return append(story, strings.TrimSpace(snap.State+" "+snap.Error)), ev.Data
		}
		if snap.Stage != stage {
			stage = snap.Stage
			story = append(story, "stage "+stage)
		}
	}
	t.Fatal("the job did not end")
	return nil, ""
}

// checkStory fails unless got is want.
func checkStory(t *testing.T, got []string, want ...string) {
	t.Helper()
	if strings.Join(got, " | ") != strings.Join(want, " | ") {
		t.Fatalf("the job's events told\n  %q\nwant\n  %q", got, want)
	}
}

func subscribeJob(t *testing.T, n *node, id string) *stream {
	t.Helper()
	return n.subscribe(t, "topic=jobs/"+id+"&topic=jobs/"+id+"/log", nil)
}

func TestPythonJobContextManagerReportsAndFinishes(t *testing.T) {
	python, err := exec.LookPath("python3")
	if err != nil {
		t.Fatal("python3 is needed to run examples/python/herald_progress.py (scripts/test.sh installs it)")
	}
	n := startNode(t, Config{})
	pub := token(t, publisherKey, []string{"jobs/{id}"}, nil)
	run := func(args ...string) *exec.Cmd {
		cmd := exec.CommandContext(t.Context(), python, append([]string{"../examples/python/herald_progress.py", "--hub", n.http.URL}, args...)...)
		cmd.Env = append(cmd.Environ(), "HERALD_TOKEN="+pub)
		return cmd
	}

	t.Run("succeeds", func(t *testing.T) {
		s := subscribeJob(t, n, "import-3")
		out, err := run("--id", "import-3", "--rows", "20", "--delay", "0.002").CombinedOutput()
		if err != nil || strings.Join(strings.Fields(string(out)), " ") != "import-3 succeeded" {
			t.Fatalf("herald_progress.py: %v, printed %q; want the id and succeeded", err, out)
		}
		story, final := jobStory(t, s)
		checkStory(t, story, "stage reading", "log reading 20 rows", "stage saving", "log saving 20 rows", "succeeded")
		if !strings.Contains(final, `"result":{"rows":20}`) {
			t.Fatalf("final snapshot %s, want the block's result", final)
		}
	})

	t.Run("fails with the exception", func(t *testing.T) {
		s := subscribeJob(t, n, "import-4")
		out, err := run("--id", "import-4", "--rows", "20", "--delay", "0.002", "--fail").CombinedOutput()
		if err == nil || !strings.Contains(string(out), "disk full") {
			t.Fatalf("herald_progress.py --fail: %v, printed %q; want a non-zero exit with the error", err, out)
		}
		story, _ := jobStory(t, s)
		checkStory(t, story, "stage reading", "log reading 20 rows", "stage saving", "log saving 20 rows", "failed RuntimeError: row 11: disk full")
	})

	t.Run("ends cancelled on request", func(t *testing.T) {
		s := subscribeJob(t, n, "import-5")
		cmd := run("--id", "import-5", "--rows", "500", "--delay", "0.02") // 20 s unless cancelled
		out := make(chan []byte, 1)
		go func() {
			b, _ := cmd.CombinedOutput()
			out <- b
		}()
		for {
			if ev := s.next(t); strings.Contains(ev.Data, `"stage":"reading"`) {
				break
			}
		}
		if status, body := n.call(t, "POST", "/api/jobs/import-5/cancel", pub, ""); status != 202 {
			t.Fatalf("cancel: %d %s", status, body)
		}
		story, _ := jobStory(t, s)
		if story[len(story)-1] != "cancelled" {
			t.Fatalf("the job's events told %q, want it cancelled", story)
		}
		if got := strings.Join(strings.Fields(string(<-out)), " "); got != "import-5 cancelled" {
			t.Fatalf("herald_progress.py printed %q, want the id and cancelled", got)
		}
	})
}

// debianPython is the interpreter the Debian packages python3-celery and
// python3-redis install for (python3 on PATH may be another one).
const debianPython = "/usr/bin/python3"

func TestACeleryTaskReportsItsProgressThroughHerald(t *testing.T) {
	if out, err := exec.Command(debianPython, "-c", "import celery, redis").CombinedOutput(); err != nil {
		t.Skipf("%s lacks Celery or its Redis client (apt-get install python3-celery python3-redis; scripts/test.sh does): %v %s",
			debianPython, err, strings.TrimSpace(string(out)))
	}
	needLocalRedis(t, "the Celery example")
	n := startNode(t, Config{})
	ctx, cancel := context.WithTimeout(t.Context(), 90*time.Second)
	defer cancel()
	dir, err := filepath.Abs("../examples/python/celery_example")
	if err != nil {
		t.Fatal(err)
	}
	unique := strconv.FormatInt(time.Now().UnixNano(), 36)
	env := append(os.Environ(), "PYTHONPATH="+filepath.Dir(dir), "HERALD_HUB="+n.http.URL,
		"HERALD_TOKEN="+token(t, publisherKey, []string{"jobs/{id}"}, nil),
		"CELERY_QUEUE=herald-test-"+unique) // a queue of its own: no other run's tasks

	logPath := filepath.Join(t.TempDir(), "worker.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	defer logFile.Close()
	worker := exec.CommandContext(ctx, debianPython, "-m", "celery", "-A", "tasks", "worker",
		"--pool", "solo", "--loglevel", "INFO", "--hostname", "herald-test-"+unique+"@%h", "--without-heartbeat", "--without-gossip", "--without-mingle")
	worker.Dir, worker.Env, worker.Stdout, worker.Stderr = dir, env, logFile, logFile
	if err := worker.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		worker.Process.Kill()
		worker.Wait()
		// What Celery leaves in Redis for this run: its queue's binding and
		// the task's result.
		exec.Command(debianPython, "-c", "import redis, sys; redis.Redis.from_url(sys.argv[1]).delete(*sys.argv[2:])",
			"redis://127.0.0.1:6379/11", "_kombu.binding.herald-test-"+unique, "celery-task-meta-t-"+unique).Run()
		if t.Failed() {
			b, _ := os.ReadFile(logPath)
			t.Logf("worker output:\n%s", b)
		}
	}()

	taskID := "t-" + unique
	s := subscribeJob(t, n, "celery-"+taskID)
	submit := exec.CommandContext(ctx, debianPython, "submit.py", "--rows", "10", "--delay", "0.005", "--task-id", taskID, "--timeout", "60")
	submit.Dir, submit.Env = dir, env
	out, err := submit.CombinedOutput()
	if err != nil {
		t.Fatalf("submit.py: %v\n%s", err, out)
	}
	if got := strings.Fields(string(out)); len(got) != 3 || got[0] != "celery-"+taskID || got[1]+got[2] != `{"rows":10}` {
		t.Fatalf("submit.py printed %q, want the job id and the task's result", out)
	}
	story, final := jobStory(t, s)
	started := "log task " + taskID + " started on herald-test-" + unique + "@"
	if len(story) < 2 || !strings.HasPrefix(story[1], started) {
		t.Fatalf("the job's events told %q, want the job created, then %q…", story, started)
	}
	story[1] = "log task started"
	checkStory(t, story, "stage reading", "log task started", "log reading: 10 rows", "stage saving", "log saving: 10 rows", "succeeded")
	if !strings.Contains(final, `"result":{"rows":10}`) {
		t.Fatalf("final snapshot %s, want the task's result", final)
	}
}
