package heraldclient

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/heraldhub/herald/client"
	"github.com/heraldhub/herald/jobs"
	"github.com/heraldhub/herald/sse"
)

// Jobs drives the jobs API of a client's hub (see jobs.Manager.Handler):
// Create, Progress, Start, Finish and Cancel are one request each,
// answered with the job's snapshot; Log appends to the job's log; Watch
// follows the job's events. A job id is sent path-escaped: the hub refuses
// one that is not a valid id.
type Jobs struct{ c *Client }

// Jobs returns the client's jobs API.
func (c *Client) Jobs() Jobs { return Jobs{c} }

// errNoID refuses a call about a job without naming it.
var errNoID = errors.New("no job id")

// maxAnswer bounds an answer's body.
const maxAnswer = 1 << 20

// Create creates the job spec describes (an empty ID lets the hub name
// it) and returns its first snapshot.
func (j Jobs) Create(ctx context.Context, spec jobs.Spec) (jobs.Snapshot, error) {
	return j.call(ctx, "", "", spec)
}

// Progress reports progress on job id. When a cancellation is pending the
// report is still recorded, and the error is jobs.ErrCancelRequested with
// the snapshot: the worker should stop and Finish the job as cancelled.
func (j Jobs) Progress(ctx context.Context, id string, r jobs.Report) (jobs.Snapshot, error) {
	return j.call(ctx, id, "progress", r)
}

// Start starts a queued job.
func (j Jobs) Start(ctx context.Context, id string) (jobs.Snapshot, error) {
	return j.call(ctx, id, "start", nil)
}

// Finish ends job id with the outcome o. Finishing a job again with the
// same outcome changes nothing.
func (j Jobs) Finish(ctx context.Context, id string, o jobs.Outcome) (jobs.Snapshot, error) {
	return j.call(ctx, id, "finish", o)
}

// Cancel asks job id's worker to stop: the job is finished when the worker
// finishes it as cancelled (or at once if it is queued).
func (j Jobs) Cancel(ctx context.Context, id string) (jobs.Snapshot, error) {
	return j.call(ctx, id, "cancel", nil)
}

// Log appends lines to job id's log and returns the numbers of the first
// and the last; it sends nothing for no lines. A line holds no newline;
// at most jobs.MaxLinesPerRequest lines go in one call.
func (j Jobs) Log(ctx context.Context, id string, lines ...string) (first, last uint64, err error) {
	if len(lines) == 0 {
		return 0, 0, nil
	}
	if id == "" {
		return 0, 0, errNoID
	}
	body, _, err := j.c.post(ctx, j.url(id, "log"), "text/plain; charset=utf-8", strings.Join(lines, "\n")+"\n", maxAnswer)
	if err != nil {
		return 0, 0, err
	}
	var n struct{ First, Last uint64 }
	if err := json.Unmarshal(body, &n); err != nil {
		return 0, 0, fmt.Errorf("unexpected answer from the hub: %s", body)
	}
	return n.First, n.Last, nil
}

// url is the jobs API's URL of job id's action (/api/jobs itself for
// neither), the id path-escaped.
func (j Jobs) url(id, action string) string {
	if id == "" && action == "" {
		return j.c.base + "/api/jobs"
	}
	return j.c.base + "/api/jobs/" + url.PathEscape(id) + "/" + action
}

// call posts v (nothing if nil) as JSON to job id's action (see url) and
// decodes the snapshot answered.
func (j Jobs) call(ctx context.Context, id, action string, v any) (jobs.Snapshot, error) {
	if id == "" && action != "" {
		return jobs.Snapshot{}, errNoID
	}
	var body []byte
	if v != nil {
		var err error
		if body, err = json.Marshal(v); err != nil {
			return jobs.Snapshot{}, err
		}
	}
	b, h, err := j.c.post(ctx, j.url(id, action), "application/json", string(body), maxAnswer)
	if err != nil {
		return jobs.Snapshot{}, err
	}
	var s jobs.Snapshot
	if err := json.Unmarshal(b, &s); err != nil {
		return jobs.Snapshot{}, fmt.Errorf("unexpected answer from the hub: %s", b)
	}
	if h.Get("Herald-Cancel-Requested") == "true" {
		return s, jobs.ErrCancelRequested
	}
	return s, nil
}

// errJobEnded stops the subscription of Watch once the job has ended.
var errJobEnded = errors.New("job ended")

// Watch subscribes to job id's topic and calls fn with each snapshot newer
// than the last (stale and repeated ones are skipped, see
// jobs.Snapshot.Supersedes), in order, on the calling goroutine. A new
// subscriber first receives the job's current snapshot. The subscription
// reconnects as package client's does. Watch returns nil after fn has
// had the job's final snapshot, fn's error if it returns one, or the
// subscription's (ctx.Err() when ctx is done; a *client.StatusError when
// the hub refuses it).
func (j Jobs) Watch(ctx context.Context, id string, fn func(jobs.Snapshot) error) error {
	var opts client.Options
	if hc := j.c.HTTPClient; hc != nil && hc.Timeout == 0 {
		opts.Client = hc
	}
	if j.c.token != "" {
		opts.Header = http.Header{"Authorization": {"Bearer " + j.c.token}}
	}
	var applied *jobs.Snapshot
	err := client.Subscribe(ctx, j.c.MercureURL()+"?topic="+url.QueryEscape(jobs.TopicPrefix+id), opts, func(ev sse.Event) error {
		var s jobs.Snapshot
		if json.Unmarshal([]byte(ev.Data), &s) != nil || s.ID != id {
			return nil
		}
		if applied != nil && !s.Supersedes(applied) {
			return nil
		}
		applied = &s
		if err := fn(s); err != nil {
			return err
		}
		if s.State.Final() {
			return errJobEnded
		}
		return nil
	})
	if errors.Is(err, errJobEnded) {
		return nil
	}
	return err
}
