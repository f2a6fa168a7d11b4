package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/heraldhub/herald/internal/doctor"
)

func init() {
	register("doctor", "check a hub through its proxies: buffering, compression, idle timeouts, HTTP version, CORS, clocks", runDoctor)
}

func runDoctor(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("doctor", stderr)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: herald doctor [flags] URL\n\nURL is the hub's endpoint as clients reach it, e.g. https://example.com/.well-known/mercure.\nThe probe publishes public updates on a random urn:herald:doctor: topic.\n\nflags:")
		fs.PrintDefaults()
	}
	token := fs.String("token", os.Getenv("HERALD_TOKEN"), "publisher JWT for the probe updates (env HERALD_TOKEN)")
	origin := fs.String("origin", "", "also check that pages of this origin may subscribe (CORS), e.g. https://app.example.com")
	idle := fs.Duration("idle", 70*time.Second, "how long to hold the stream idle before checking it still delivers")
	maxDelay := fs.Duration("max-delay", time.Second, "how late a probe update may arrive before the stream counts as buffered")
	wait := fs.Duration("wait", 10*time.Second, "how long to wait for each answer, and for a probe update before it counts as lost")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		fs.Usage()
		return errUsage
	}
	if *token == "" {
		return errors.New("no token: pass --token or set HERALD_TOKEN (a publisher token: herald token --publish 'urn:herald:doctor:*')")
	}
	if *idle <= 0 || *maxDelay <= 0 || *wait <= 0 {
		return errors.New("--idle, --max-delay and --wait must be positive")
	}
	fmt.Fprintf(stdout, "checking %s (the idle check takes %s)\n", fs.Arg(0), *idle)
	results, err := doctor.Run(ctx, doctor.Config{
		URL: fs.Arg(0), Token: *token, Origin: *origin, Idle: *idle, MaxDelay: *maxDelay, Wait: *wait,
		OnResult: func(r doctor.Result) { printResult(stdout, r) },
	})
	if err != nil {
		return err
	}
	failed := doctor.Failed(results)
	if len(failed) == 0 {
		fmt.Fprintln(stdout, "all checks passed")
		return nil
	}
	problems := make([]string, len(failed))
	for i, r := range failed {
		problems[i] = r.Check + ": " + r.Problem
	}
	return fmt.Errorf("%d check(s) failed: %s", len(failed), strings.Join(problems, "; "))
}

// printResult prints one check's outcome, with its fix indented below.
func printResult(w io.Writer, r doctor.Result) {
	line := fmt.Sprintf("%s %-8s %s", r.Status, r.Check, r.Finding)
	if r.Problem != "" {
		line = fmt.Sprintf("%s %-8s %s: %s", r.Status, r.Check, r.Problem, r.Finding)
	}
	fmt.Fprintln(w, line)
	if r.Fix != "" {
		for _, l := range strings.Split(r.Fix, "\n") {
			fmt.Fprintln(w, "     fix: "+l)
		}
	}
}
