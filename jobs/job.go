package jobs

import (
	"context"
	"encoding/json"
	"fmt"
)

// Job is a handle for the Go code doing a job's work: a few calls report
// its progress and finish it.
//
//	job, err := m.Start(ctx, jobs.Spec{Title: "Import", Stages: []jobs.Stage{{Name: "load"}, {Name: "save", Weight: 3}}})
//	job.Progress(ctx, "load", 40, 100, "")
//	job.Succeed(ctx, map[string]int{"rows": 100})
type Job struct {
	m  *Manager
	id string
}

// Start creates a job and returns its handle.
func (m *Manager) Start(ctx context.Context, spec Spec) (*Job, error) {
	s, err := m.Create(ctx, spec)
	if err != nil {
		return nil, err
	}
	return &Job{m: m, id: s.ID}, nil
}

// ID returns the job's id; its topic is TopicPrefix + ID.
func (j *Job) ID() string { return j.id }

// Progress reports done out of total in stage (empty: the current one); a
// total of 0 keeps the stage's total, or leaves it unknown in a new stage.
// Reports are coalesced (see Manager.Progress), so calling it for every
// item is fine. It returns ErrCancelRequested once someone asked to cancel
// the job: stop, and call FinishCancelled.
func (j *Job) Progress(ctx context.Context, stage string, done, total float64, message string) error {
	r := Report{Stage: stage, Done: done, Message: message}
	if total > 0 {
		r.Total = &total
	}
	_, err := j.m.Progress(ctx, j.id, r)
	return err
}

// Succeed finishes the job with result, encoded as JSON (nil for none).
func (j *Job) Succeed(ctx context.Context, result any) error {
	var raw json.RawMessage
	if result != nil {
		b, err := json.Marshal(result)
		if err != nil {
			return fmt.Errorf("job result: %w", err)
		}
		raw = b
	}
	_, err := j.m.Finish(ctx, j.id, Outcome{State: Succeeded, Result: raw})
	return err
}

// Fail finishes the job as failed with cause's message.
func (j *Job) Fail(ctx context.Context, cause error) error {
	msg := "failed"
	if cause != nil {
		msg = cause.Error()
	}
	if len(msg) > maxTextBytes {
		msg = msg[:maxTextBytes]
	}
	_, err := j.m.Finish(ctx, j.id, Outcome{State: Failed, Error: msg})
	return err
}

// FinishCancelled finishes the job as cancelled, publishing the final
// event: the worker's answer to a cancellation request (ErrCancelRequested
// from Progress). It is not Manager.Cancel, which only requests the
// cancellation and leaves the job running until its worker calls this.
func (j *Job) FinishCancelled(ctx context.Context) error {
	_, err := j.m.Finish(ctx, j.id, Outcome{State: Cancelled})
	return err
}

// Log appends lines to the job's log (see Manager.Log): each line of each
// text is a numbered line that watchers see live and a late watcher finds
// in the job's tail.
func (j *Job) Log(ctx context.Context, lines ...string) error {
	_, _, err := j.m.Log(ctx, j.id, lines...)
	return err
}

// Sub starts a sub-job of this job: spec.Parent is set to it. The job's
// percent and ETA then roll up from its sub-jobs, and it finishes when they
// all have (see Spec.Policy).
func (j *Job) Sub(ctx context.Context, spec Spec) (*Job, error) {
	spec.Parent = j.id
	return j.m.Start(ctx, spec)
}

// Begin starts the job if it is queued (see Manager.Begin): its worker
// calls it when it takes the job from its queue. A first Progress starts
// it too.
func (j *Job) Begin(ctx context.Context) error {
	_, err := j.m.Begin(ctx, j.id)
	return err
}
