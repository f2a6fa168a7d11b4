package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/heraldhub/herald/heraldclient"
	"github.com/heraldhub/herald/jobs"
)

func init() {
	register("job", "report a job's progress from a shell: create, start, progress, log, finish, cancel, watch", runJob)
}

// errCancelRequested makes `herald job progress` exit with status 3, so a
// script can stop its work.
var errCancelRequested = errors.New("cancel requested: stop and run \"herald job finish --state cancelled\"")

const jobUsage = `usage:
  herald job create   [--id ID] [--title T] [--stage NAME[:WEIGHT]]… [--total N] [--private]
                      [--parent ID [--weight W]] [--policy all-settled|fail-fast]
                      [--kind KIND] [--queue NAME] [--callback URL]
  herald job start    ID
  herald job progress ID --done N [--total N] [--stage NAME] [--message M]
  herald job log      ID [--batch N] [--interval D] [--tee]   (lines from stdin)
  herald job finish   ID --state succeeded|failed|cancelled [--result JSON] [--error E]
  herald job cancel   ID
  herald job watch    ID [--json]

Every form takes --hub URL (env HERALD_HUB) and --token T (env HERALD_TOKEN).
create prints the job's id (with --queue the job waits, queued, until start or its first progress);
progress exits with status 3 once a cancel was requested;
log posts each line of its standard input to the job's log (make 2>&1 | herald job log ID),
in batches of up to --batch lines, at least every --interval;
watch prints a line per state (or, with --json, each snapshot) until the job ends,
and exits non-zero unless it succeeded.`

// jobRequestTimeout bounds each request of the job commands but watch.
const jobRequestTimeout = 30 * time.Second

// jobCmd is a `herald job` command line: parseJob fills it from the
// flags, validate completes the request from what needed checking, and
// run sends it.
type jobCmd struct {
	verb, hub, token string
	id               string // the job's (create: --id)
	args             []string

	spec    jobs.Spec    // create
	stages  listFlag     // create, before validate
	policy  string       // create, before validate
	report  jobs.Report  // progress
	total   float64      // progress --total, before validate (0: unchanged)
	outcome jobs.Outcome // finish
	state   string       // finish --state, before validate
	result  string       // finish --result, before validate
	asJSON  bool         // watch
	log     logFlags     // log
}

func runJob(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" {
		fmt.Fprintln(stderr, jobUsage)
		if len(args) == 0 {
			return errUsage
		}
		return nil
	}
	c, err := parseJob(args, stderr)
	if err != nil {
		return err
	}
	hc, err := c.validate()
	if err != nil {
		return err
	}
	return c.run(ctx, hc, os.Stdin, stdout)
}

// parseJob reads a job command line: the verb, the job's id for the verbs
// that take one, and the verb's flags.
func parseJob(args []string, stderr io.Writer) (*jobCmd, error) {
	c := &jobCmd{verb: args[0]}
	args = args[1:]
	fs := newFlags("job "+c.verb, stderr)
	fs.StringVar(&c.hub, "hub", envOr("HERALD_HUB", "http://127.0.0.1:8080"), "hub base URL (env HERALD_HUB)")
	fs.StringVar(&c.token, "token", os.Getenv("HERALD_TOKEN"), "publisher token (env HERALD_TOKEN)")
	if !c.defineFlags(fs) {
		fmt.Fprintln(stderr, jobUsage)
		return nil, fmt.Errorf("unknown job command %q", c.verb)
	}
	// The id comes first for the commands that take one.
	if c.verb != "create" {
		if len(args) == 0 || strings.HasPrefix(args[0], "-") {
			return nil, fmt.Errorf("missing job id: herald job %s ID [flags]", c.verb)
		}
		c.id, args = args[0], args[1:]
	}
	if err := parseFlags(fs, args); err != nil {
		return nil, err
	}
	c.args = fs.Args()
	if c.verb == "create" {
		c.id = c.spec.ID
	}
	return c, nil
}

// defineFlags defines the flags of c's verb, and reports whether the verb
// is known.
func (c *jobCmd) defineFlags(fs *flag.FlagSet) bool {
	switch c.verb {
	case "create":
		fs.StringVar(&c.spec.ID, "id", "", "job id (default: generated)")
		fs.StringVar(&c.spec.Title, "title", "", "title shown to watchers")
		fs.Var(&c.stages, "stage", "stage NAME or NAME:WEIGHT, in order (repeatable)")
		fs.Float64Var(&c.spec.Total, "total", 0, "amount of work of the first stage (0: unknown)")
		fs.BoolVar(&c.spec.Private, "private", false, "only subscribers allowed the job's topic see it")
		fs.StringVar(&c.spec.Parent, "parent", "", "the job this one is a sub-job of")
		fs.Float64Var(&c.spec.Weight, "weight", 0, "a sub-job's share of its parent (0: 1)")
		fs.StringVar(&c.policy, "policy", "", "how the job ends when a sub-job fails: all-settled (default) or fail-fast")
		fs.StringVar(&c.spec.Kind, "kind", "", "what sort of work it is (e.g. import): past runs give its ETA range")
		fs.StringVar(&c.spec.Queue, "queue", "", "the queue it waits in, queued until started")
		fs.StringVar(&c.spec.Callback, "callback", "", "URL the final snapshot is POSTed to, signed, when the job ends (a host the hub allows with --webhook-allow)")
	case "progress":
		fs.Float64Var(&c.report.Done, "done", 0, "work done so far in the stage")
		fs.Float64Var(&c.total, "total", 0, "the stage's amount of work (0: unchanged)")
		fs.StringVar(&c.report.Stage, "stage", "", "the current stage (default: unchanged)")
		fs.StringVar(&c.report.Message, "message", "", "a short note for watchers")
	case "finish":
		fs.StringVar(&c.state, "state", "succeeded", "succeeded, failed or cancelled")
		fs.StringVar(&c.result, "result", "", "result as JSON (succeeded only)")
		fs.StringVar(&c.outcome.Error, "error", "", "what went wrong (failed only)")
	case "watch":
		fs.BoolVar(&c.asJSON, "json", false, "print each snapshot as one JSON line")
	case "log":
		c.log.define(fs)
	case "cancel", "start":
	default:
		return false
	}
	return true
}

// validate checks c, completes its request (stages, policy, total,
// result) and returns the client to send it with. The hub checks the rest.
func (c *jobCmd) validate() (*heraldclient.Client, error) {
	if len(c.args) > 0 {
		return nil, fmt.Errorf("unexpected argument %q", c.args[0])
	}
	var err error
	switch c.verb {
	case "create":
		c.spec.Policy = jobs.Policy(c.policy)
		c.spec.Stages, err = parseStages(c.stages)
	case "progress":
		if c.total > 0 {
			c.report.Total = &c.total
		}
	case "finish":
		c.outcome.State = jobs.State(c.state)
		if c.result != "" {
			if !json.Valid([]byte(c.result)) {
				return nil, fmt.Errorf("--result is not valid JSON: %s", c.result)
			}
			c.outcome.Result = json.RawMessage(c.result)
		}
	case "log":
		err = c.log.validate()
	}
	if err != nil {
		return nil, err
	}
	if c.token == "" && c.verb != "watch" {
		return nil, errors.New("no token: pass --token or set HERALD_TOKEN")
	}
	return heraldclient.New(c.hub, c.token)
}

// parseStages reads --stage NAME[:WEIGHT] flags (weight 1 by default).
func parseStages(flags []string) ([]jobs.Stage, error) {
	var stages []jobs.Stage
	for _, s := range flags {
		name, w, _ := strings.Cut(s, ":")
		weight := 1.0
		if w != "" {
			if _, err := fmt.Sscan(w, &weight); err != nil {
				return nil, fmt.Errorf("invalid --stage %q: the weight after ':' must be a number", s)
			}
		}
		stages = append(stages, jobs.Stage{Name: name, Weight: weight})
	}
	return stages, nil
}

// run sends c's request and prints the answer: create prints the job's
// id, start, finish and cancel its state, progress nothing (it fails with
// errCancelRequested once a cancel was requested).
func (c *jobCmd) run(ctx context.Context, hc *heraldclient.Client, stdin io.Reader, stdout io.Writer) error {
	j := hc.Jobs()
	switch c.verb {
	case "watch":
		return watch(ctx, j, c.id, c.asJSON, stdout)
	case "log":
		return logJob(ctx, j, c.id, c.log, stdin, stdout)
	}
	ctx, cancel := context.WithTimeout(ctx, jobRequestTimeout)
	defer cancel()
	var snap jobs.Snapshot
	var err error
	switch c.verb {
	case "create":
		snap, err = j.Create(ctx, c.spec)
	case "progress":
		_, err = j.Progress(ctx, c.id, c.report)
	case "finish":
		snap, err = j.Finish(ctx, c.id, c.outcome)
	case "cancel":
		snap, err = j.Cancel(ctx, c.id)
	case "start":
		snap, err = j.Start(ctx, c.id)
	}
	switch {
	case errors.Is(err, jobs.ErrCancelRequested):
		return errCancelRequested
	case err != nil:
		return err
	case c.verb == "create":
		fmt.Fprintln(stdout, snap.ID)
	case c.verb != "progress":
		fmt.Fprintln(stdout, snap.State)
	}
	return nil
}

// watchJob prints the job's states until it finishes, as status lines or
// (asJSON) one snapshot a line; it returns an error if the job failed or
// was cancelled. Stale and repeated snapshots are skipped.
func watchJob(ctx context.Context, base, id, token string, asJSON bool, stdout io.Writer) error {
	hc, err := heraldclient.New(base, token)
	if err != nil {
		return err
	}
	return watch(ctx, hc.Jobs(), id, asJSON, stdout)
}

// watch is watchJob with the jobs API's client.
func watch(ctx context.Context, j heraldclient.Jobs, id string, asJSON bool, stdout io.Writer) error {
	var last jobs.Snapshot
	err := j.Watch(ctx, id, func(s jobs.Snapshot) error {
		last = s
		if asJSON {
			b, err := json.Marshal(s)
			if err != nil {
				return err
			}
			fmt.Fprintln(stdout, string(b))
		} else {
			fmt.Fprintln(stdout, statusLine(&s))
		}
		return nil
	})
	switch {
	case err != nil:
		return err
	case last.State == jobs.Succeeded:
		return nil
	case last.Error != "":
		return fmt.Errorf("job %s %s: %s", id, last.State, last.Error)
	default:
		return fmt.Errorf("job %s %s", id, last.State)
	}
}

// statusLine is one human line for a snapshot, and the result or error
// of a finished job on a line of its own.
func statusLine(s *jobs.Snapshot) string {
	line := string(s.State)
	if s.Stage != "" {
		line += " " + s.Stage
	}
	if s.Percent != nil {
		line += fmt.Sprintf(" %.1f%%", *s.Percent)
	} else if s.Done > 0 {
		line += fmt.Sprintf(" %g done", s.Done)
	}
	if s.Rate != nil && !s.State.Final() {
		line += fmt.Sprintf(" %.3g/s", *s.Rate)
	}
	if s.QueuePosition != nil {
		line += fmt.Sprintf(" position %d", *s.QueuePosition)
		if s.StartsIn != nil {
			line += fmt.Sprintf(", starts in %.0fs", *s.StartsIn)
		}
	}
	if s.ETA != nil {
		line += fmt.Sprintf(" eta %.0fs", *s.ETA)
		if s.ETALow != nil && s.ETAHigh != nil {
			line += fmt.Sprintf(" (%.0f–%.0fs)", *s.ETALow, *s.ETAHigh)
		}
	}
	if s.CancelRequested && !s.State.Final() {
		line += " (cancel requested)"
	}
	if s.Message != "" {
		line += " — " + s.Message
	}
	if len(s.Result) > 0 {
		line += "\nresult " + string(s.Result)
	}
	if s.Error != "" {
		line += "\nerror " + s.Error
	}
	return line
}
