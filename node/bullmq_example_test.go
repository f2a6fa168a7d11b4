package node

import (
	"bufio"
	"bytes"
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// bullmqDB is the Redis database the BullMQ example's test uses; its keys
// also carry a prefix of their own, deleted when the test ends.
const bullmqDB = 12

// bullmqExample returns the example's directory with its node_modules
// installed (by `npm ci` if scripts/test.sh has not), or skips the test
// when Node.js or npm is missing.
func bullmqExample(t *testing.T) string {
	t.Helper()
	for _, tool := range []string{"node", "npm"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("the BullMQ example needs Node.js and npm (%s is not on PATH): %v", tool, err)
		}
	}
	dir, err := filepath.Abs("../examples/node/bullmq")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "bullmq", "package.json")); err != nil {
		ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
		defer cancel()
		ci := exec.CommandContext(ctx, "npm", "ci", "--no-audit", "--no-fund")
		ci.Dir = dir
		if out, err := ci.CombinedOutput(); err != nil {
			t.Fatalf("npm ci in %s (scripts/test.sh runs it): %v\n%s", dir, err, out)
		}
	}
	return dir
}

// nodeProcess is a long-running script of the example.
type nodeProcess struct {
	cmd  *exec.Cmd
	mu   sync.Mutex
	out  bytes.Buffer
	done chan struct{}
}

// startNodeScript runs `node script` in dir and waits (until ctx ends) for
// its line saying it is ready. The process is stopped, by its PID, when the
// test ends: SIGTERM, then SIGKILL after 5 s.
func startNodeScript(t *testing.T, ctx context.Context, dir string, env []string, script string) *nodeProcess {
	t.Helper()
	p := &nodeProcess{cmd: exec.Command("node", script), done: make(chan struct{})}
	p.cmd.Dir, p.cmd.Env = dir, env
	p.cmd.Stderr = &lockedWriter{p}
	stdout, err := p.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	ready := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(stdout)
		once := sync.Once{}
		for sc.Scan() {
			line := sc.Text()
			p.write([]byte(line + "\n"))
			if strings.Contains(line, " ready ") {
				once.Do(func() { close(ready) })
			}
		}
		p.cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		p.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.done:
		case <-time.After(5 * time.Second):
			p.cmd.Process.Kill()
			<-p.done
		}
		if t.Failed() {
			t.Logf("%s output:\n%s", script, p.output())
		}
	})
	select {
	case <-ready:
	case <-p.done:
		t.Fatalf("%s exited before it was ready:\n%s", script, p.output())
	case <-ctx.Done():
		t.Fatalf("%s was not ready in time:\n%s", script, p.output())
	}
	return p
}

func (p *nodeProcess) write(b []byte) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.out.Write(b)
}

func (p *nodeProcess) output() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.out.String()
}

// lockedWriter appends a process's stderr to its output.
type lockedWriter struct{ p *nodeProcess }

func (w *lockedWriter) Write(b []byte) (int, error) {
	w.p.write(b)
	return len(b), nil
}

// needLocalRedis fails the test unless Redis listens on 127.0.0.1:6379.
func needLocalRedis(t *testing.T, who string) {
	t.Helper()
	c, err := net.DialTimeout("tcp", "127.0.0.1:6379", time.Second)
	if err != nil {
		t.Fatalf("%s needs Redis on 127.0.0.1:6379 (scripts/test.sh starts it): %v", who, err)
	}
	c.Close()
}

// deleteKeys deletes the keys of db whose names start with prefix and
// returns how many there were.
func deleteKeys(t *testing.T, db int, prefix string) int {
	t.Helper()
	rdb := redis.NewClient(&redis.Options{Addr: "127.0.0.1:6379", DB: db})
	defer rdb.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	keys, err := rdb.Keys(ctx, prefix+"*").Result()
	if err != nil {
		t.Errorf("listing the example's keys in Redis: %v", err)
		return 0
	}
	if len(keys) > 0 {
		if err := rdb.Del(ctx, keys...).Err(); err != nil {
			t.Errorf("deleting the example's keys in Redis: %v", err)
		}
	}
	return len(keys)
}

func TestABullMQJobReportsItsProgressThroughHerald(t *testing.T) {
	dir := bullmqExample(t)
	needLocalRedis(t, "the BullMQ example")
	n := startNode(t, Config{})
	ctx, cancel := context.WithTimeout(t.Context(), 90*time.Second)
	defer cancel()

	unique := strconv.FormatInt(time.Now().UnixNano(), 36)
	prefix := "herald-test-" + unique // BullMQ's keys: herald-test-…:queue:…
	queue := "imports"
	env := append(os.Environ(), "HERALD_HUB="+n.http.URL,
		"HERALD_TOKEN="+token(t, publisherKey, []string{"jobs/{id}"}, nil),
		"REDIS_URL=redis://127.0.0.1:6379/"+strconv.Itoa(bullmqDB), "BULLMQ_PREFIX="+prefix, "BULLMQ_QUEUE="+queue)
	t.Cleanup(func() {
		// Runs after the processes are stopped (cleanups run last first).
		if deleteKeys(t, bullmqDB, prefix+":") == 0 {
			t.Errorf("no keys under %s: in Redis db %d: did the example use another place?", prefix, bullmqDB)
		}
	})
	startNodeScript(t, ctx, dir, env, "worker.js")
	startNodeScript(t, ctx, dir, env, "bridge.js")

	add := func(id string, args ...string) ([]string, error) {
		cmd := exec.CommandContext(ctx, "node", append([]string{"producer.js", "--id", id, "--timeout", "60"}, args...)...)
		cmd.Dir, cmd.Env = dir, env
		out, err := cmd.CombinedOutput()
		return strings.Fields(string(out)), err
	}

	t.Run("succeeds", func(t *testing.T) {
		s := subscribeJob(t, n, "bullmq-imports-ok")
		out, err := add("ok", "--rows", "5", "--delay", "5")
		if err != nil || strings.Join(out, " ") != `bullmq-imports-ok succeeded {"rows":5}` {
			t.Fatalf("producer.js: %v, printed %q; want the Herald job and the result", err, out)
		}
		story, final := jobStory(t, s)
		checkStory(t, story, "stage reading", "log job ok started", "log reading: 5 rows", "stage saving", "log saving: 5 rows", "succeeded")
		for _, want := range []string{`"result":{"rows":5}`, `"title":"Import 5 rows"`, `"done":5,"total":5`, `"percent":100`} {
			if !strings.Contains(final, want) {
				t.Fatalf("final snapshot %s, want %s in it", final, want)
			}
		}
	})

	t.Run("fails with the reason", func(t *testing.T) {
		s := subscribeJob(t, n, "bullmq-imports-bad")
		out, err := add("bad", "--rows", "5", "--delay", "5", "--fail-at", "3")
		if err == nil || strings.Join(out, " ") != "bullmq-imports-bad failed row 3: disk full" {
			t.Fatalf("producer.js: %v, printed %q; want the Herald job, failed and the reason, and a non-zero exit", err, out)
		}
		story, _ := jobStory(t, s)
		checkStory(t, story, "stage reading", "log job bad started", "log reading: 5 rows", "stage saving", "failed row 3: disk full")
	})
}
