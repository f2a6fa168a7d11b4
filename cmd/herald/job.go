package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/heraldhub/herald/client"
	"github.com/heraldhub/herald/jobs"
	"github.com/heraldhub/herald/sse"
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

func runJob(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" {
		fmt.Fprintln(stderr, jobUsage)
		if len(args) == 0 {
			return errUsage
		}
		return nil
	}
	verb, args := args[0], args[1:]
	fs := newFlags("job "+verb, stderr)
	hubURL := fs.String("hub", envOr("HERALD_HUB", "http://127.0.0.1:8080"), "hub base URL (env HERALD_HUB)")
	token := fs.String("token", os.Getenv("HERALD_TOKEN"), "publisher token (env HERALD_TOKEN)")
	body := map[string]any{}
	var stages listFlag
	var id, title, stage, message, state, result, errMsg string
	var parent, policy, kind, queue, callback string
	var done, total, weight float64
	var private, asJSON bool
	var lf logFlags
	switch verb {
	case "create":
		fs.StringVar(&id, "id", "", "job id (default: generated)")
		fs.StringVar(&title, "title", "", "title shown to watchers")
		fs.Var(&stages, "stage", "stage NAME or NAME:WEIGHT, in order (repeatable)")
		fs.Float64Var(&total, "total", 0, "amount of work of the first stage (0: unknown)")
		fs.BoolVar(&private, "private", false, "only subscribers allowed the job's topic see it")
		fs.StringVar(&parent, "parent", "", "the job this one is a sub-job of")
		fs.Float64Var(&weight, "weight", 0, "a sub-job's share of its parent (0: 1)")
		fs.StringVar(&policy, "policy", "", "how the job ends when a sub-job fails: all-settled (default) or fail-fast")
		fs.StringVar(&kind, "kind", "", "what sort of work it is (e.g. import): past runs give its ETA range")
		fs.StringVar(&queue, "queue", "", "the queue it waits in, queued until started")
		fs.StringVar(&callback, "callback", "", "URL the final snapshot is POSTed to, signed, when the job ends (a host the hub allows with --webhook-allow)")
	case "progress":
		fs.Float64Var(&done, "done", 0, "work done so far in the stage")
		fs.Float64Var(&total, "total", 0, "the stage's amount of work (0: unchanged)")
		fs.StringVar(&stage, "stage", "", "the current stage (default: unchanged)")
		fs.StringVar(&message, "message", "", "a short note for watchers")
	case "finish":
		fs.StringVar(&state, "state", "succeeded", "succeeded, failed or cancelled")
		fs.StringVar(&result, "result", "", "result as JSON (succeeded only)")
		fs.StringVar(&errMsg, "error", "", "what went wrong (failed only)")
	case "watch":
		fs.BoolVar(&asJSON, "json", false, "print each snapshot as one JSON line")
	case "log":
		lf.define(fs)
	case "cancel", "start":
	default:
		fmt.Fprintln(stderr, jobUsage)
		return fmt.Errorf("unknown job command %q", verb)
	}
	// The id comes first for the commands that take one.
	if verb != "create" {
		if len(args) == 0 || strings.HasPrefix(args[0], "-") {
			return fmt.Errorf("missing job id: herald job %s ID [flags]", verb)
		}
		id, args = args[0], args[1:]
	}
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	base := strings.TrimSuffix(*hubURL, "/")
	if verb == "watch" {
		return watchJob(ctx, base, id, *token, asJSON, stdout)
	}
	if verb == "log" {
		if *token == "" {
			return errors.New("no token: pass --token or set HERALD_TOKEN")
		}
		return logJob(ctx, base, id, *token, lf, os.Stdin, stdout)
	}
	path := "/api/jobs"
	switch verb {
	case "create":
		body["id"], body["title"], body["total"] = id, title, total
		body["parent"], body["weight"], body["policy"] = parent, weight, policy
		body["kind"], body["queue"] = kind, queue
		if callback != "" {
			body["callback"] = callback
		}
		if private {
			body["private"] = true
		}
		var st []map[string]any
		for _, s := range stages {
			name, w, _ := strings.Cut(s, ":")
			weight := 1.0
			if w != "" {
				if _, err := fmt.Sscan(w, &weight); err != nil {
					return fmt.Errorf("invalid --stage %q: the weight after ':' must be a number", s)
				}
			}
			st = append(st, map[string]any{"name": name, "weight": weight})
		}
		if st != nil {
			body["stages"] = st
		}
	case "progress":
		path += "/" + id + "/progress"
		body["done"], body["stage"], body["message"] = done, stage, message
		if total > 0 {
			body["total"] = total
		}
	case "finish":
		path += "/" + id + "/finish"
		body["state"], body["error"] = state, errMsg
		if result != "" {
			if !json.Valid([]byte(result)) {
				return fmt.Errorf("--result is not valid JSON: %s", result)
			}
			body["result"] = json.RawMessage(result)
		}
	case "cancel":
		path += "/" + id + "/cancel"
	case "start":
		path += "/" + id + "/start"
	}
	if *token == "" {
		return errors.New("no token: pass --token or set HERALD_TOKEN")
	}
	snap, cancelled, err := postJSON(ctx, base+path, *token, body)
	if err != nil {
		return err
	}
	switch verb {
	case "create":
		fmt.Fprintln(stdout, snap["id"])
	case "progress":
		if cancelled {
			return errCancelRequested
		}
	default:
		fmt.Fprintln(stdout, snap["state"])
	}
	return nil
}

// postJSON posts body and returns the job snapshot answered, and whether
// the hub asked the worker to stop.
func postJSON(ctx context.Context, url, token string, body map[string]any) (map[string]any, bool, error) {
	for k, v := range body {
		if v == "" || v == 0.0 && k != "done" {
			delete(body, k)
		}
	}
	b, _ := json.Marshal(body)
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, strings.NewReader(string(b)))
	if err != nil {
		return nil, false, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, false, fmt.Errorf("cannot reach the hub: %w", err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode/100 != 2 {
		return nil, false, fmt.Errorf("hub answered %s: %s", resp.Status, strings.TrimSpace(string(data)))
	}
	var snap map[string]any
	if err := json.Unmarshal(data, &snap); err != nil {
		return nil, false, fmt.Errorf("unexpected answer from the hub: %s", data)
	}
	return snap, resp.Header.Get("Herald-Cancel-Requested") == "true", nil
}

// watchJob prints the job's states until it finishes, as status lines or
// (asJSON) one snapshot a line; it returns an error if the job failed or
// was cancelled. Stale and repeated snapshots are skipped.
func watchJob(ctx context.Context, base, id, token string, asJSON bool, stdout io.Writer) error {
	h := http.Header{}
	if token != "" {
		h.Set("Authorization", "Bearer "+token)
	}
	var applied *jobs.Snapshot
	err := client.Subscribe(ctx, base+"/.well-known/mercure?topic="+url.QueryEscape(jobs.TopicPrefix+id), client.Options{Header: h}, func(ev sse.Event) error {
		var s jobs.Snapshot
		if json.Unmarshal([]byte(ev.Data), &s) != nil || s.ID != id {
			return nil
		}
		if applied != nil && !s.Supersedes(applied) {
			return nil
		}
		applied = &s
		if asJSON {
			fmt.Fprintln(stdout, strings.TrimSpace(ev.Data))
		} else {
			fmt.Fprintln(stdout, statusLine(&s))
		}
		if s.State.Final() {
			return errCountReached
		}
		return nil
	})
	switch {
	case errors.Is(err, errCountReached) && applied.State == jobs.Succeeded:
		return nil
	case errors.Is(err, errCountReached) && applied.Error != "":
		return fmt.Errorf("job %s %s: %s", id, applied.State, applied.Error)
	case errors.Is(err, errCountReached):
		return fmt.Errorf("job %s %s", id, applied.State)
	default:
		return err
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
