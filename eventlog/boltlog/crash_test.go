package boltlog

import (
	"bufio"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/heraldhub/herald/eventlog"
)

// crashChildEnv, when set to a file path, makes the test binary a child
// that appends to the log at that path until it is killed, printing
// "SEQ ID" for every acknowledged append.
const crashChildEnv = "HERALD_BOLTLOG_CRASH_CHILD"

func crashChild() {
	l, err := Open(os.Getenv(crashChildEnv), Options{})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	var mu sync.Mutex
	out := bufio.NewWriter(os.Stdout)
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			for i := 0; ; i++ {
				id := ""
				if i%2 == 0 {
					id = fmt.Sprintf("pid%d-w%d-%d", os.Getpid(), w, i)
				}
				u, err := l.Append(context.Background(), eventlog.Update{ID: id, Topics: []string{"t"}, Data: strings.Repeat("d", i%300)})
				if err != nil {
					fmt.Fprintln(os.Stderr, err)
					os.Exit(3)
				}
				mu.Lock()
				fmt.Fprintln(out, u.Seq, u.ID)
				out.Flush()
				mu.Unlock()
			}
		})
	}
	wg.Wait()
}

func TestKilledProcessLosesNoAcknowledgedUpdate(t *testing.T) {
	if testing.Short() {
		t.Skip("starts processes")
	}
	path := filepath.Join(t.TempDir(), "herald.db")
	acked := map[string]uint64{}
	for round := range 3 {
		killAt := 50 + rand.IntN(400)
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), crashChildEnv+"="+path)
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		var stderr strings.Builder
		cmd.Stderr = &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		// However this round ends, the child does not outlive it.
		stop := time.AfterFunc(30*time.Second, func() { cmd.Process.Kill() })
		t.Cleanup(func() { stop.Stop(); cmd.Process.Kill() })
		sc := bufio.NewScanner(stdout)
		n := 0
		for sc.Scan() {
			seq, id, ok := strings.Cut(sc.Text(), " ")
			if !ok {
				t.Fatalf("child printed %q", sc.Text())
			}
			s, err := strconv.ParseUint(seq, 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			acked[id] = s
			if n++; n == killAt {
				cmd.Process.Signal(syscall.SIGKILL)
			}
		}
		cmd.Wait()
		if n < killAt {
			t.Fatalf("round %d: child acknowledged %d appends, then ended: %s", round, n, stderr.String())
		}

		l, err := Open(path, Options{})
		if err != nil {
			t.Fatalf("round %d: reopening after SIGKILL: %v", round, err)
		}
		stored := map[string]uint64{}
		var last uint64
		_, err = l.Since(context.Background(), eventlog.Earliest, func(u eventlog.Update) bool {
			if u.Seq <= last {
				t.Errorf("round %d: Seq %d after %d", round, u.Seq, last)
			}
			if _, dup := stored[u.ID]; dup {
				t.Errorf("round %d: id %q stored twice", round, u.ID)
			}
			last, stored[u.ID] = u.Seq, u.Seq
			return true
		})
		l.Close()
		if err != nil {
			t.Fatal(err)
		}
		for id, seq := range acked {
			if got, ok := stored[id]; !ok || got != seq {
				t.Fatalf("round %d: acknowledged update %q (Seq %d) is stored as Seq %d (present: %v)", round, id, seq, got, ok)
			}
		}
		t.Logf("round %d: killed after %d acknowledgements; %d stored, all %d acknowledged present", round, n, len(stored), len(acked))
	}
}
