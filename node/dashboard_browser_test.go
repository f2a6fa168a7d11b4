package node

import (
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/heraldhub/herald/internal/browsertest"
	"github.com/heraldhub/herald/jobs"
)

// artifacts returns the directory test artifacts go to: $HERALD_ARTIFACTS
// if set, else a temporary one.
func artifacts(t *testing.T) string {
	t.Helper()
	dir := os.Getenv("HERALD_ARTIFACTS")
	if dir == "" {
		return t.TempDir()
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// shown is a JavaScript expression: the raw number the dashboard shows in
// the output with id.
func shown(id string) string {
	return fmt.Sprintf(`document.getElementById(%q).dataset.value`, id)
}

func TestDashboardPageShowsTheNumbersOfMetricsAfterALoad(t *testing.T) {
	const subscribers, updates = 5, 25
	// No node reports during the test: every update counted is the load's
	// or the job's.
	n := startNode(t, Config{Dashboard: true, DashboardReport: time.Hour, NoDemo: true})
	ctx := t.Context()
	if _, err := n.srv.Jobs().Create(ctx, jobs.Spec{ID: "import", Title: "Import", Total: 10, Stages: []jobs.Stage{{Name: "copy"}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := n.srv.Jobs().Progress(ctx, "import", jobs.Report{Stage: "copy", Done: 4}); err != nil {
		t.Fatal(err)
	}

	browser := browsertest.New(t, 60*time.Second)
	if err := chromedp.Do(browser, chromedp.Navigate(n.http.URL+"/dashboard")); err != nil {
		t.Fatal(err)
	}
	login := fmt.Sprintf(`(() => {
		document.getElementById("token").value = %q;
		document.getElementById("login").requestSubmit();
		document.getElementById("topic").value = "load";
		document.getElementById("watch").requestSubmit();
		return true; })()`, token(t, publisherKey, nil, nil))
	if _, err := chromedp.Run(browser, chromedp.Evaluate[bool](login)); err != nil {
		t.Fatal(err)
	}
	browsertest.WaitFor(t, browser, "the stream", `document.body.dataset.state === "live" && `+shown("subscribers")+` === "0"`, wait)

	var streams []*stream
	for range subscribers {
		streams = append(streams, n.subscribe(t, "topic=load", nil))
	}
	for i := range updates {
		n.mustPublish(t, url.Values{"topic": {"load"}, "data": {strconv.Itoa(i)}})
	}
	for _, s := range streams { // every update fanned out
		for i := range updates {
			if got := s.next(t).Data; got != strconv.Itoa(i) {
				t.Fatalf("subscriber got %q, want %d", got, i)
			}
		}
	}
	subs, ups, dels := n.metric(t, "herald_subscribers"), n.metric(t, "herald_updates_total"), n.metric(t, "herald_deliveries_total")
	if subs != subscribers || ups < updates || dels != subscribers*updates {
		t.Fatalf("/metrics: %v subscribers, %v updates, %v deliveries; want %d, at least %d, %d", subs, ups, dels, subscribers, updates, subscribers*updates)
	}
	num := func(v float64) string { return strconv.FormatFloat(v, 'f', -1, 64) }
	browsertest.WaitFor(t, browser, "the numbers of /metrics on the page", fmt.Sprintf(`%s === %q && %s === %q && %s === %q`,
		shown("subscribers"), num(subs), shown("updates-total"), num(ups), shown("deliveries-total"), num(dels)), wait)
	browsertest.WaitFor(t, browser, "the busiest topic", fmt.Sprintf(
		`document.querySelector("#topics tbody tr")?.dataset.topic === "load" && document.querySelector("#topics tbody tr").cells[1].textContent === "%d"`, updates), wait)
	browsertest.WaitFor(t, browser, "the running job and its progress",
		`document.querySelector("#jobs tr[data-job=import]")?.textContent.includes("40%") && `+shown("jobs-running")+` === "1"`, wait)
	browsertest.WaitFor(t, browser, "the recent updates of the topic typed in",
		fmt.Sprintf(`document.querySelectorAll("#recent li").length === 20 && document.querySelector("#recent li").textContent.endsWith(": %d")`, updates-1), wait)
	browsertest.WaitFor(t, browser, "the charts drawn", `(() => {
		const c = document.getElementById("chart-subscribers");
		const px = c.getContext("2d").getImageData(0, 0, c.width, c.height).data;
		return px.some((v, i) => i % 4 === 1 && v > 100 && px[i - 1] < 80); })()`, wait) // the green line

	shot, err := chromedp.Run(browser, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(artifacts(t), "dashboard.png")
	if err := os.WriteFile(path, shot, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("dashboard screenshot: %s", path)

	// The token stays in the tab's session: a reload reconnects.
	if err := chromedp.Do(browser, chromedp.Reload()); err != nil {
		t.Fatal(err)
	}
	browsertest.WaitFor(t, browser, "the stream after a reload", `document.body.dataset.state === "live" && `+shown("subscribers")+` === "5"`, wait)
}
