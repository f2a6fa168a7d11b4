package proctest

import (
	"bytes"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

var build struct {
	once sync.Once
	path string
	err  error
}

// HeraldBinary returns the path of a herald binary built from this module for
// the whole test run, with the race detector if the tests run with it (the
// packages are then already compiled that way), so that a race in a node
// shows in its output, which Start's cleanup checks.
func HeraldBinary(t *testing.T) string {
	t.Helper()
	build.once.Do(func() {
		dir, err := os.MkdirTemp("", "herald-bin-")
		if err != nil {
			build.err = err
			return
		}
		_, file, _, _ := runtime.Caller(0)
		root := filepath.Join(filepath.Dir(file), "..", "..")
		build.path = filepath.Join(dir, "herald")
		args := []string{"build", "-o", build.path}
		if RaceEnabled() {
			args = append(args, "-race")
		}
		cmd := exec.Command("go", append(args, "./cmd/herald")...)
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			build.err = fmt.Errorf("go %s ./cmd/herald: %v\n%s", strings.Join(args, " "), err, out)
		}
	})
	if build.err != nil {
		t.Fatal(build.err)
	}
	return build.path
}

// RaceEnabled reports whether this test binary was built with -race.
func RaceEnabled() bool {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return false
	}
	for _, s := range bi.Settings {
		if s.Key == "-race" {
			return s.Value == "true"
		}
	}
	return false
}

// FreePort returns a loopback port nothing listens on right now.
func FreePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// Proc is a process a test started.
type Proc struct {
	t      *testing.T
	name   string
	args   []string
	cmd    *exec.Cmd
	out    *lockedBuffer
	done   chan struct{}
	Port   int
	exited error
	env    []string // nil: this process's environment
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// Start runs name with args, keeping its output for failure messages, and
// ends it (SIGKILL) when the test ends if it still runs.
func Start(t *testing.T, port int, name string, args ...string) *Proc {
	t.Helper()
	p := &Proc{t: t, name: name, args: args, Port: port}
	start(t, p)
	return p
}

// start starts p and registers its end, and the check of its output, at
// t's cleanup.
func start(t *testing.T, p *Proc) {
	t.Helper()
	name, port := p.name, p.Port
	p.start()
	t.Cleanup(func() {
		p.Kill()
		if out := p.out.String(); strings.Contains(out, "WARNING: DATA RACE") {
			t.Errorf("%s (port %d) reported a data race:\n%s", filepath.Base(name), port, out)
		} else if t.Failed() {
			t.Logf("output of %s (port %d):\n%s", filepath.Base(name), port, tail(p.out.String(), 4000))
		}
	})
}

func (p *Proc) start() {
	p.t.Helper()
	if p.out == nil {
		p.out = &lockedBuffer{}
	}
	p.cmd = exec.Command(p.name, p.args...)
	p.cmd.Env = p.env
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
	fmt.Fprintf(p.out, "--- %s %s\n", filepath.Base(p.name), strings.Join(p.args, " "))
	if err := p.cmd.Start(); err != nil {
		p.t.Fatalf("start %s: %v", p.name, err)
	}
	p.done = make(chan struct{})
	go func() {
		p.exited = p.cmd.Wait()
		close(p.done)
	}()
}

// PID returns the process id of the process's latest start.
func (p *Proc) PID() int { return p.cmd.Process.Pid }

// Output returns what the process printed so far.
func (p *Proc) Output() string { return p.out.String() }

// Kill ends the process with SIGKILL and waits for it.
func (p *Proc) Kill() { p.signal(syscall.SIGKILL, 5*time.Second) }

// Stop ends the process with SIGTERM and waits for it (SIGKILL after 10 s).
func (p *Proc) Stop() {
	p.signal(syscall.SIGTERM, 10*time.Second)
}

func (p *Proc) signal(sig syscall.Signal, wait time.Duration) {
	select {
	case <-p.done:
		return
	default:
	}
	p.cmd.Process.Signal(sig)
	select {
	case <-p.done:
	case <-time.After(wait):
		p.cmd.Process.Kill()
		<-p.done
	}
}

// StopCleanly ends the process with SIGTERM, as an orchestrator does, and
// fails t unless it exits with status 0 within 15 s (it is then killed).
func (p *Proc) StopCleanly(t *testing.T) {
	t.Helper()
	if !p.Running() {
		t.Fatalf("%s (port %d) had already exited (%v) when asked to stop", filepath.Base(p.name), p.Port, p.exited)
	}
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(15 * time.Second):
		p.Kill()
		t.Fatalf("%s (port %d) did not exit within 15s of SIGTERM; killed it", filepath.Base(p.name), p.Port)
	}
	if p.exited != nil {
		t.Fatalf("%s (port %d) ended with %v after SIGTERM, want exit status 0", filepath.Base(p.name), p.Port, p.exited)
	}
}

// Running reports whether the process's latest start still runs.
func (p *Proc) Running() bool {
	select {
	case <-p.done:
		return false
	default:
		return true
	}
}

// withoutHeraldEnv is this process's environment without HERALD_*
// variables, so that a node runs with its arguments' settings only.
func withoutHeraldEnv() []string {
	return slices.DeleteFunc(os.Environ(), func(kv string) bool { return strings.HasPrefix(kv, "HERALD_") })
}

// Restart starts the process again with the same arguments.
func (p *Proc) Restart() {
	p.Kill()
	p.start()
}

// Exited returns the process's exit error once it has ended.
func (p *Proc) Exited() error {
	<-p.done
	return p.exited
}

// Herald is a running `herald serve`.
type Herald struct {
	*Proc
	// URL is the node's base URL, "http://127.0.0.1:PORT" (or https with
	// StartHeraldTLS).
	URL string
	// Client talks to the node: http.DefaultClient, or one trusting the
	// node's certificate with StartHeraldTLS.
	Client *http.Client
}

// StartHerald runs `herald serve` on a free loopback port with args and
// waits until it answers /healthz.
func StartHerald(t *testing.T, args ...string) *Herald {
	t.Helper()
	return startHerald(t, "http", http.DefaultClient, args)
}

// startHerald runs `herald serve` on a free loopback port with args, to be
// reached over scheme by client, and waits until it answers /healthz.
func startHerald(t *testing.T, scheme string, client *http.Client, args []string) *Herald {
	t.Helper()
	port := FreePort(t)
	args = append([]string{"serve", "--addr", "127.0.0.1:" + strconv.Itoa(port)}, args...)
	p := &Proc{t: t, name: HeraldBinary(t), args: args, Port: port, env: withoutHeraldEnv()}
	start(t, p)
	h := &Herald{Proc: p, URL: scheme + "://127.0.0.1:" + strconv.Itoa(port), Client: client}
	h.WaitHealthy(t)
	return h
}

// WaitHealthy waits until the node answers /healthz.
func (h *Herald) WaitHealthy(t *testing.T) {
	t.Helper()
	WaitTCP(t, h.Port, func() bool {
		resp, err := h.Client.Get(h.URL + "/healthz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	}, h.Proc)
}

// Restart starts the node again (after Kill or Stop) and waits for it.
func (h *Herald) Restart(t *testing.T) {
	t.Helper()
	h.Proc.Restart()
	h.WaitHealthy(t)
}

// WaitTCP waits (10 s at most) until ready returns true, failing early if
// p exits.
func WaitTCP(t *testing.T, port int, ready func() bool, p *Proc) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !ready() {
		select {
		case <-p.done:
			t.Fatalf("%s exited before it was ready: %v\n%s", filepath.Base(p.name), p.exited, tail(p.Output(), 2000))
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s not ready on port %d in time\n%s", filepath.Base(p.name), port, tail(p.Output(), 2000))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Redis starts a private redis-server on a free port (no persistence).
func Redis(t *testing.T) *Proc {
	t.Helper()
	path, err := exec.LookPath("redis-server")
	if err != nil {
		t.Fatal("redis-server is not installed (scripts/test.sh installs it)")
	}
	port := FreePort(t)
	p := Start(t, port, path, "--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", t.TempDir())
	WaitTCP(t, port, func() bool { return dial(port) }, p)
	return p
}

// NATS starts a private nats-server with JetStream on a free port, its
// store in a directory that survives restarts within the test.
func NATS(t *testing.T) *Proc {
	t.Helper()
	path, err := exec.LookPath("nats-server")
	if err != nil {
		t.Fatal("nats-server is not installed (scripts/test.sh installs it)")
	}
	port := FreePort(t)
	p := Start(t, port, path, "-a", "127.0.0.1", "-p", strconv.Itoa(port), "-js", "-sd", t.TempDir())
	WaitTCP(t, port, func() bool { return dial(port) }, p)
	return p
}

// WaitListening waits until p accepts connections on its port.
func (p *Proc) WaitListening(t *testing.T) {
	t.Helper()
	WaitTCP(t, p.Port, func() bool { return dial(p.Port) }, p)
}

func dial(port int) bool {
	c, err := net.DialTimeout("tcp", "127.0.0.1:"+strconv.Itoa(port), 200*time.Millisecond)
	if err != nil {
		return false
	}
	c.Close()
	return true
}

func tail(s string, n int) string {
	if len(s) > n {
		return "…" + s[len(s)-n:]
	}
	return s
}

// Pause freezes the process (SIGSTOP): it keeps its connections but
// answers nothing, as in a partition. It returns once every thread of the
// process has stopped (at most five seconds): the stop takes effect when
// one of them takes the signal, and until then the others, on a busy
// machine, may still answer requests sent after Pause.
func (p *Proc) Pause() {
	p.cmd.Process.Signal(syscall.SIGSTOP)
	deadline := time.Now().Add(5 * time.Second)
	for !p.stopped() && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
}

// stopped reports whether every thread of the process is stopped, or
// whether that cannot be known (no /proc).
func (p *Proc) stopped() bool {
	dir := fmt.Sprintf("/proc/%d/task", p.cmd.Process.Pid)
	tasks, err := os.ReadDir(dir)
	if err != nil {
		return true
	}
	for _, task := range tasks {
		stat, err := os.ReadFile(filepath.Join(dir, task.Name(), "stat"))
		if err != nil {
			continue // the thread ended
		}
		// The state follows the command name, which ends with ") ".
		i := bytes.LastIndexByte(stat, ')')
		if i < 0 || i+2 >= len(stat) || (stat[i+2] != 'T' && stat[i+2] != 't') {
			return false
		}
	}
	return true
}

// Resume lets a paused process go on (SIGCONT).
func (p *Proc) Resume() { p.cmd.Process.Signal(syscall.SIGCONT) }

// RemoveBinary deletes the binary HeraldBinary built, if any; call it from
// TestMain after the tests ran.
func RemoveBinary() {
	if build.path != "" {
		os.RemoveAll(filepath.Dir(build.path))
	}
}
