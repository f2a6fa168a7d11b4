package main

import (
	"io"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/heraldhub/herald/jobs"
)

// parsedJob parses and validates a job command line with a token and a
// hub, failing the test on an error.
func parsedJob(t *testing.T, args ...string) *jobCmd {
	t.Helper()
	cleanEnv(t)
	c, err := parseJob(append(args, "--token", "T", "--hub", "http://h:1"), io.Discard)
	if err != nil {
		t.Fatalf("%v: %v", args, err)
	}
	if _, err := c.validate(); err != nil {
		t.Fatalf("%v: %v", args, err)
	}
	return c
}

func TestParseJobCreateFillsTheSpec(t *testing.T) {
	c := parsedJob(t, "create", "--id", "b", "--title", "Build", "--stage", "compile:3", "--stage", "test",
		"--total", "4", "--private", "--parent", "p", "--weight", "2", "--policy", "fail-fast",
		"--kind", "build", "--queue", "ci", "--callback", "https://ci.example/done")
	want := jobs.Spec{ID: "b", Title: "Build", Stages: []jobs.Stage{{Name: "compile", Weight: 3}, {Name: "test", Weight: 1}},
		Total: 4, Private: true, Parent: "p", Weight: 2, Policy: jobs.FailFast, Kind: "build", Queue: "ci", Callback: "https://ci.example/done"}
	if !reflect.DeepEqual(c.spec, want) || c.id != "b" {
		t.Fatalf("spec %+v, want %+v", c.spec, want)
	}
	if c := parsedJob(t, "create"); !reflect.DeepEqual(c.spec, jobs.Spec{}) {
		t.Fatalf("create without flags: %+v, want the zero spec (the hub names the job)", c.spec)
	}
}

func TestParseJobProgressFinishStartCancelWatchAndLog(t *testing.T) {
	if c := parsedJob(t, "progress", "j", "--done", "3", "--total", "8", "--stage", "s", "--message", "m"); c.id != "j" ||
		c.report.Done != 3 || c.report.Total == nil || *c.report.Total != 8 || c.report.Stage != "s" || c.report.Message != "m" {
		t.Errorf("progress: %+v", c.report)
	}
	if c := parsedJob(t, "progress", "j", "--done", "0"); c.report.Total != nil {
		t.Errorf("progress without --total sends total %v, want none (unchanged)", *c.report.Total)
	}
	if c := parsedJob(t, "finish", "j", "--result", `{"n":1}`); c.outcome.State != jobs.Succeeded || string(c.outcome.Result) != `{"n":1}` {
		t.Errorf("finish: %+v, want succeeded by default with the result", c.outcome)
	}
	if c := parsedJob(t, "finish", "j", "--state", "failed", "--error", "disk full"); !reflect.DeepEqual(c.outcome, jobs.Outcome{State: jobs.Failed, Error: "disk full"}) {
		t.Errorf("finish failed: %+v", c.outcome)
	}
	for _, verb := range []string{"start", "cancel"} {
		if c := parsedJob(t, verb, "j"); c.id != "j" || c.verb != verb {
			t.Errorf("%s: %+v", verb, c)
		}
	}
	if c := parsedJob(t, "watch", "j", "--json"); !c.asJSON {
		t.Error("watch --json: not as JSON")
	}
	if c := parsedJob(t, "log", "j", "--batch", "5", "--interval", "1s", "--tee"); c.log != (logFlags{batch: 5, interval: time.Second, tee: true}) {
		t.Errorf("log: %+v", c.log)
	}
}

func TestJobCommandLinesAreRefusedWithTheFix(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"frobnicate"}, `unknown job command "frobnicate"`},
		{[]string{"progress"}, "missing job id: herald job progress ID"},
		{[]string{"start", "--token", "T"}, "missing job id: herald job start ID"},
		{[]string{"cancel", "j", "extra"}, `unexpected argument "extra"`},
		{[]string{"create", "--stage", "copy:lots", "--token", "T"}, `invalid --stage "copy:lots"`},
		{[]string{"finish", "j", "--result", "{oops", "--token", "T"}, "--result is not valid JSON"},
		{[]string{"log", "j", "--batch", "0", "--token", "T"}, "--batch 0: use 1 to"},
		{[]string{"log", "j", "--interval", "0s", "--token", "T"}, "--interval 0s: use a positive duration"},
		{[]string{"progress", "j", "--done", "1"}, "no token"},
		{[]string{"start", "j", "--token", "T", "--hub", "localhost"}, "invalid hub URL"},
		{[]string{"progress", "j", "--done", "many"}, errUsage.Error()},
	} {
		cleanEnv(t)
		c, err := parseJob(tc.args, io.Discard)
		if err == nil {
			_, err = c.validate()
		}
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: %v, want %q", tc.args, err, tc.want)
		}
	}
	// watch needs no token: a public job can be watched by anyone.
	cleanEnv(t)
	c, err := parseJob([]string{"watch", "j"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.validate(); err != nil {
		t.Fatalf("watch without a token: %v", err)
	}
}
