package web_test

import (
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/heraldhub/herald/internal/browsertest"
	"github.com/heraldhub/herald/jobs"
)

// addProgress puts a <herald-progress job="id"> on the page.
const addProgress = `import("/herald.js").then(() => {
	const el = document.createElement("herald-progress");
	el.setAttribute("job", "build");
	document.body.append(el);
	return true;
})`

const logText = `[...document.querySelectorAll("herald-progress .hp-log div")].map((d) => d.textContent).join(",")`

func TestAReloadMidJobShowsTheLogTailThenContinuesWithNoLineTwice(t *testing.T) {
	srv, ts := startNode(t)
	ctx := t.Context()
	build, err := srv.Jobs().Start(ctx, jobs.Spec{ID: "build", Title: "Build"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := build.Sub(ctx, jobs.Spec{ID: "build-test", Total: 4}); err != nil {
		t.Fatal(err)
	}
	build.Log(ctx, "l1", "l2", "l3")
	browser := browsertest.New(t, 60*time.Second)
	if err := chromedp.Do(browser, chromedp.Navigate(ts.URL+"/")); err != nil {
		t.Fatal(err)
	}
	if _, err := chromedp.Run(browser, chromedp.Evaluate[bool](addProgress, chromedp.EvalAwaitPromise)); err != nil {
		t.Fatal(err)
	}
	browsertest.WaitFor(t, browser, "the tail", logText+` === "l1,l2,l3"`, 15*time.Second)
	build.Log(ctx, "l4")
	browsertest.WaitFor(t, browser, "a live line", logText+` === "l1,l2,l3,l4"`, 15*time.Second)
	browsertest.WaitFor(t, browser, "the collapsed sub-job list",
		`(() => { const d = document.querySelector("herald-progress .hp-children");
		  return !d.hidden && !d.open && d.querySelector("li[data-job=build-test]")?.textContent === "build-test: running 0%"; })()`, 15*time.Second)

	if err := chromedp.Do(browser, chromedp.Reload()); err != nil {
		t.Fatal(err)
	}
	build.Log(ctx, "l5") // while the page reloads
	if _, err := chromedp.Run(browser, chromedp.Evaluate[bool](addProgress, chromedp.EvalAwaitPromise)); err != nil {
		t.Fatal(err)
	}
	browsertest.WaitFor(t, browser, "the tail after the reload", logText+` === "l1,l2,l3,l4,l5"`, 15*time.Second)
	build.Log(ctx, "l6", "l7")
	browsertest.WaitFor(t, browser, "the lines after the reload", logText+` === "l1,l2,l3,l4,l5,l6,l7"`, 15*time.Second)
	srv.Jobs().Finish(ctx, "build-test", jobs.Outcome{State: jobs.Succeeded})
	browsertest.WaitFor(t, browser, "the parent done with its child", `document.querySelector("herald-progress").getAttribute("state") === "succeeded"`, 15*time.Second)
	got, err := chromedp.Run(browser, chromedp.Evaluate[string](logText))
	if err != nil || got != "l1,l2,l3,l4,l5,l6,l7" {
		t.Fatalf("the log shows %q (%v), want each line once, in order", got, err)
	}
}
