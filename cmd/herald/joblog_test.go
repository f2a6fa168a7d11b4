package main

import (
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/heraldhub/herald/jobs"
)

// pipeStdin makes the process's standard input a pipe the test writes to.
func pipeStdin(t *testing.T) *os.File {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	old := os.Stdin
	os.Stdin = r
	t.Cleanup(func() {
		os.Stdin = old
		r.Close()
		w.Close()
	})
	return w
}

func TestJobLogPostsStandardInputLineByLineWhileItComes(t *testing.T) {
	srv, _ := jobNode(t)
	if code, _, errOut := runCmd(t, "job", "create", "--id", "build-42"); code != 0 {
		t.Fatal(errOut)
	}
	if code, _, errOut := runCmd(t, "job", "create", "--id", "build-42.test", "--parent", "build-42", "--weight", "2"); code != 0 {
		t.Fatal(errOut)
	}
	if s, _ := srv.Jobs().Get("build-42"); len(s.Children) != 1 || s.Children[0].Weight != 2 {
		t.Fatalf("the parent lists %+v, want the sub-job with weight 2", s.Children)
	}
	in := pipeStdin(t)
	done := make(chan int, 1)
	var errOut string
	go func() {
		var code int
		code, _, errOut = runCmd(t, "job", "log", "build-42", "--batch", "3", "--interval", "20ms")
		done <- code
	}()
	fmt.Fprint(in, "cc -c main.c\r\n")
	// The first line arrives while the input is still open.
	deadline := time.Now().Add(10 * time.Second)
	for page, _ := srv.Jobs().Lines("build-42", 1, 10); len(page.Lines) == 0; page, _ = srv.Jobs().Lines("build-42", 1, 10) {
		if time.Now().After(deadline) {
			t.Fatal("no line posted before the end of the input")
		}
		time.Sleep(10 * time.Millisecond)
	}
	for i := range 7 {
		fmt.Fprintf(in, "step %d\n", i)
	}
	fmt.Fprint(in, strings.Repeat("x", 3*jobs.MaxLineBytes)+"\nlast line without a newline")
	in.Close()
	if code := <-done; code != 0 {
		t.Fatalf("job log: exit %d: %s", code, errOut)
	}
	page, _ := srv.Jobs().Lines("build-42", 1, 100)
	if len(page.Lines) != 10 || page.Lines[0].Text != "cc -c main.c" || page.Lines[7].Text != "step 6" || page.Lines[9].Text != "last line without a newline" {
		t.Fatalf("the job's log is %+v", page.Lines)
	}
	for i, l := range page.Lines {
		if l.N != uint64(i+1) {
			t.Fatalf("line %d is numbered %d", i+1, l.N)
		}
	}
	if long := page.Lines[8].Text; !strings.HasSuffix(long, jobs.TruncatedMark) {
		t.Fatalf("a long line was posted as %d bytes without the mark", len(long))
	}

	in = pipeStdin(t)
	fmt.Fprintln(in, "a line")
	in.Close()
	if code, _, errOut := runCmd(t, "job", "log", "nope"); code == 0 || !strings.Contains(errOut, "404") {
		t.Fatalf("job log of no job: exit %d %q; want a failure naming the answer", code, errOut)
	}
}
