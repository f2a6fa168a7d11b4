package jobs

// What a job, a report and an outcome may hold, and the checks that refuse
// the rest with ErrInvalid before anything changes.

import (
	"bytes"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
)

// Spec describes a new job.
type Spec struct {
	// ID names the job; empty generates one. It becomes part of the topic.
	ID string `json:"id,omitempty"`
	// Title is shown to people watching.
	Title string `json:"title,omitempty"`
	// Stages lists the job's stages in order, with their weights.
	Stages []Stage `json:"stages,omitempty"`
	// Total is the first stage's amount of work, if known.
	Total float64 `json:"total,omitempty"`
	// Private jobs are visible only to subscribers authorized for the
	// job's topic.
	Private bool `json:"private,omitempty"`
	// Parent names the job this one is a part of (a sub-job): the
	// parent's percent and ETA roll up from its children, and it finishes
	// when they all have. The parent must exist and be unfinished.
	Parent string `json:"parent,omitempty"`
	// Weight is a sub-job's share of its parent (default 1).
	Weight float64 `json:"weight,omitempty"`
	// Policy says how a parent ends when a child fails (default
	// AllSettled).
	Policy Policy `json:"policy,omitempty"`
	// Kind names what sort of work the job is ("import"): the stage
	// durations of the kind's successful runs give its ETA range.
	Kind string `json:"kind,omitempty"`
	// Queue names the queue the job waits in: it is created queued, and
	// runs once started (Manager.Begin) or reported on.
	Queue string `json:"queue,omitempty"`
	// Callback is a URL the final snapshot is POSTed to, signed, when the
	// job ends (a completion webhook); its host must be allowed
	// (Config.CheckCallback). It is part of the snapshot: put no secret in
	// it.
	Callback string `json:"callback,omitempty"`
}

// Policy says how a parent job ends when one of its children fails.
type Policy string

// The policies of a parent job.
const (
	// AllSettled waits for every child; the parent then fails if any
	// child failed, is cancelled if any was cancelled, and succeeds
	// otherwise. The default.
	AllSettled Policy = "all-settled"
	// FailFast fails the parent as soon as a child fails, and asks the
	// other children to cancel.
	FailFast Policy = "fail-fast"
)

// Report is one progress report: Done units of work out of Total in Stage.
type Report struct {
	// Stage is the stage the work is in; empty means the current one.
	Stage string `json:"stage,omitempty"`
	// Done is the work done so far in the stage.
	Done float64 `json:"done"`
	// Total is the stage's amount of work; nil keeps the current one
	// within a stage and means unknown in a new stage.
	Total *float64 `json:"total,omitempty"`
	// Message is a short note for watchers; empty keeps the last one.
	Message string `json:"message,omitempty"`
}

// Outcome ends a job.
type Outcome struct {
	// State is Succeeded, Failed or Cancelled.
	State State `json:"state"`
	// Result is a succeeded job's result, as JSON.
	Result json.RawMessage `json:"result,omitempty"`
	// Error says why a job failed.
	Error string `json:"error,omitempty"`
}

// Bounds on what a job may hold, so that one job cannot make every
// snapshot and every event huge.
const (
	maxIDLen     = 128
	maxStages    = 64
	maxWeight    = 1e9
	maxTextBytes = 4096 // title, stage names, message, error
)

// validID reports whether id can name a job (and a topic segment).
func validID(id string) bool {
	if id == "" || len(id) > maxIDLen {
		return false
	}
	for _, c := range id {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.ContainsRune("-_.~", c)) {
			return false
		}
	}
	return true
}

func invalidID(id string) error {
	return fmt.Errorf("%w: id %q: use 1 to %d letters, digits, '-', '_', '.' or '~'", ErrInvalid, id, maxIDLen)
}

func newJobID() string {
	return strings.ToLower(rand.Text()[:16])
}

// checkText refuses text too long for a snapshot.
func checkText(what, s string) error {
	if len(s) > maxTextBytes {
		return fmt.Errorf("%w: %s is longer than %d bytes", ErrInvalid, what, maxTextBytes)
	}
	return nil
}

// checkSpec validates a new job's description.
func checkSpec(spec Spec) error {
	if !validID(spec.ID) {
		return invalidID(spec.ID)
	}
	if err := checkText("title", spec.Title); err != nil {
		return err
	}
	if err := checkStages(spec.Stages); err != nil {
		return err
	}
	if !(spec.Total >= 0) || !finite(spec.Total) {
		return fmt.Errorf("%w: total must be a finite number, 0 or more", ErrInvalid)
	}
	switch {
	case spec.Kind != "" && !validID(spec.Kind):
		return fmt.Errorf("%w: kind %q: use 1 to %d letters, digits, '-', '_', '.' or '~'", ErrInvalid, spec.Kind, maxIDLen)
	case spec.Queue != "" && !validID(spec.Queue):
		return fmt.Errorf("%w: queue %q: use 1 to %d letters, digits, '-', '_', '.' or '~'", ErrInvalid, spec.Queue, maxIDLen)
	}
	return checkFamily(spec)
}

// checkFamily validates what a spec says about its parent and children.
func checkFamily(spec Spec) error {
	switch {
	case spec.Parent != "" && !validID(spec.Parent):
		return fmt.Errorf("%w: parent %q is not a job id", ErrInvalid, spec.Parent)
	case spec.Parent == spec.ID:
		return fmt.Errorf("%w: a job cannot be its own parent", ErrInvalid)
	case !(spec.Weight >= 0 && spec.Weight <= maxWeight):
		return fmt.Errorf("%w: weight must be between 0 and %g (0 means 1)", ErrInvalid, float64(maxWeight))
	case spec.Weight != 0 && spec.Parent == "":
		return fmt.Errorf("%w: weight is a sub-job's share of its parent: name the parent too", ErrInvalid)
	case spec.Policy != "" && spec.Policy != AllSettled && spec.Policy != FailFast:
		return fmt.Errorf("%w: policy %q: use %q or %q", ErrInvalid, spec.Policy, AllSettled, FailFast)
	}
	return nil
}

// checkStages validates a new job's stages: a few, uniquely named, with
// weights in bounds.
func checkStages(stages []Stage) error {
	if len(stages) > maxStages {
		return fmt.Errorf("%w: %d stages; at most %d", ErrInvalid, len(stages), maxStages)
	}
	names := map[string]bool{}
	for i, st := range stages {
		if st.Name == "" || names[st.Name] {
			return fmt.Errorf("%w: stage %d needs a unique, non-empty name", ErrInvalid, i+1)
		}
		if err := checkText("a stage name", st.Name); err != nil {
			return err
		}
		if !(st.Weight >= 0 && st.Weight <= maxWeight) {
			return fmt.Errorf("%w: stage %q: weight must be between 0 and %g (0 means 1)", ErrInvalid, st.Name, float64(maxWeight))
		}
		names[st.Name] = true
	}
	return nil
}

// checkReport validates what a report holds on its own; admit checks it
// against the job.
func checkReport(r Report) error {
	if !finite(r.Done) || r.Total != nil && !finite(*r.Total) {
		return fmt.Errorf("%w: done and total must be finite numbers", ErrInvalid)
	}
	return errors.Join(checkText("stage", r.Stage), checkText("message", r.Message))
}

// admit checks a report against the job s is a snapshot of, and returns
// the stage total the job has after it (a new stage's total is unknown
// unless given) and whether the report moves the job to another stage.
func (s *Snapshot) admit(r Report) (total float64, stageChanged bool, err error) {
	stageChanged = r.Stage != "" && r.Stage != s.Stage
	total = s.Total
	switch {
	case r.Total != nil:
		total = *r.Total
	case stageChanged:
		total = 0 // a new stage's total is unknown unless given
	}
	switch {
	case r.Done < 0 || total < 0:
		err = fmt.Errorf("%w: done and total must not be negative", ErrInvalid)
	case total > 0 && r.Done > total:
		err = fmt.Errorf("%w: done (%g) is greater than total (%g)", ErrInvalid, r.Done, total)
	case stageChanged && len(s.Stages) > 0 && !hasStage(s.Stages, r.Stage):
		err = fmt.Errorf("%w: unknown stage %q (the job's stages: %s)", ErrInvalid, r.Stage, stageNames(s.Stages))
	}
	return total, stageChanged, err
}

// checkOutcome validates an outcome and returns it with its result in
// compact form, so that a retried Finish compares equal.
func checkOutcome(o Outcome) (Outcome, error) {
	if !o.State.Final() {
		return o, fmt.Errorf("%w: state %q: finish a job as succeeded, failed or cancelled", ErrInvalid, o.State)
	}
	if len(o.Result) > 0 && !json.Valid(o.Result) {
		return o, fmt.Errorf("%w: result is not valid JSON", ErrInvalid)
	}
	if o.State != Succeeded && len(o.Result) > 0 {
		return o, fmt.Errorf("%w: only a succeeded job has a result", ErrInvalid)
	}
	if err := checkText("error", o.Error); err != nil {
		return o, err
	}
	if len(o.Result) > 0 {
		var compact bytes.Buffer
		if err := json.Compact(&compact, o.Result); err == nil {
			o.Result = compact.Bytes()
		}
	}
	return o, nil
}

func hasStage(stages []Stage, name string) bool {
	for _, st := range stages {
		if st.Name == name {
			return true
		}
	}
	return false
}

func stageNames(stages []Stage) string {
	names := make([]string, len(stages))
	for i, st := range stages {
		names[i] = st.Name
	}
	return strings.Join(names, ", ")
}
