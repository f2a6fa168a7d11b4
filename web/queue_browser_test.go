package web_test

import (
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/heraldhub/herald/internal/browsertest"
	"github.com/heraldhub/herald/jobs"
)

func TestHeraldProgressShowsAQueuedJobsPlaceAsJobsAheadStart(t *testing.T) {
	srv, ts := startNode(t)
	ctx := t.Context()
	for _, id := range []string{"a", "b", "build"} {
		if _, err := srv.Jobs().Create(ctx, jobs.Spec{ID: id, Queue: "ci", Stages: []jobs.Stage{{Name: "compile"}}}); err != nil {
			t.Fatal(err)
		}
	}
	browser := browsertest.New(t, 60*time.Second)
	if err := chromedp.Do(browser, chromedp.Navigate(ts.URL+"/")); err != nil {
		t.Fatal(err)
	}
	if _, err := chromedp.Run(browser, chromedp.Evaluate[bool](addProgress, chromedp.EvalAwaitPromise)); err != nil {
		t.Fatal(err)
	}
	const stage = `document.querySelector("herald-progress .hp-stage").textContent`
	browsertest.WaitFor(t, browser, "third in line", stage+` === "queued: position 3"`, 15*time.Second)
	if _, err := srv.Jobs().Begin(ctx, "a"); err != nil {
		t.Fatal(err)
	}
	browsertest.WaitFor(t, browser, "second in line", stage+` === "queued: position 2"`, 15*time.Second)
	if _, err := srv.Jobs().Begin(ctx, "b"); err != nil {
		t.Fatal(err)
	}
	// Two starts give the queue a throughput: the wait is shown.
	browsertest.WaitFor(t, browser, "first in line, with its wait", stage+`.startsWith("queued: position 1, start")`, 15*time.Second)
	if _, err := srv.Jobs().Begin(ctx, "build"); err != nil {
		t.Fatal(err)
	}
	browsertest.WaitFor(t, browser, "running", stage+` === "compile" && document.querySelector("herald-progress").getAttribute("state") === "running"`, 15*time.Second)
}
