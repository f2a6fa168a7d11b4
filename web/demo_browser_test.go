package web_test

import (
	"context"
	"encoding/json"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/heraldhub/herald/internal/browsertest"
	"github.com/heraldhub/herald/internal/demo"
	"github.com/heraldhub/herald/internal/tcpproxy"
	"github.com/heraldhub/herald/jobs"
)

const statusText = `document.getElementById("status").textContent`

// openDemo opens the demo page at url in a new browser.
func openDemo(t *testing.T, url string) context.Context {
	t.Helper()
	browser := browsertest.New(t, 90*time.Second)
	if err := chromedp.Do(browser, chromedp.Navigate(url)); err != nil {
		t.Fatal(err)
	}
	return browser
}

// statusAfter returns the status line after the page has run for ms
// milliseconds more: the behaviour under test is what time does to it.
func statusAfter(t *testing.T, tab context.Context, ms int) string {
	t.Helper()
	got, err := chromedp.Run(tab, chromedp.Evaluate[string](
		`new Promise((done) => setTimeout(() => done(`+statusText+`), `+strconv.Itoa(ms)+`))`, chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatal(err)
	}
	return got
}

// setBox types a bounding box into the page's fields.
func setBox(t *testing.T, tab context.Context, minLat, maxLat, minLon, maxLon float64) {
	t.Helper()
	box, _ := json.Marshal(map[string]float64{"minLat": minLat, "maxLat": maxLat, "minLon": minLon, "maxLon": maxLon})
	if _, err := chromedp.Run(tab, chromedp.Evaluate[bool](`(() => {
		for (const [k, v] of Object.entries(`+string(box)+`)) document.getElementById(k).value = v;
		return true;
	})()`)); err != nil {
		t.Fatal(err)
	}
}

func TestAnInvalidBoxShowsItsErrorUntilTheNextClick(t *testing.T) {
	_, ts := startNode(t)
	tab := openDemo(t, ts.URL+"/")
	setBox(t, tab, 50, 40, -12, 32)
	if err := chromedp.Do(tab, chromedp.Click("#update")); err != nil {
		t.Fatal(err)
	}
	const refused = statusText + `.startsWith("error: invalid bounding box")`
	browsertest.WaitFor(t, tab, "the refusal", refused, 15*time.Second)
	// The page redraws its status every second: the error outlives that.
	if got := statusAfter(t, tab, 2500); !strings.HasPrefix(got, "error: invalid bounding box") {
		t.Fatalf("2.5 s after the refusal the status is %q, want the error still", got)
	}
	setBox(t, tab, 34, 72, -12, 32)
	if err := chromedp.Do(tab, chromedp.Click("#update")); err != nil {
		t.Fatal(err)
	}
	browsertest.WaitFor(t, tab, "the error gone with the next click", `!`+refused, 15*time.Second)
}

func TestCancelStopsTheQueryAndSaysSoWithoutThePreviousResult(t *testing.T) {
	srv, ts := startNodeAt(t, 100*time.Millisecond) // a query of about 15 s
	ctx := t.Context()
	// An earlier query's result, drawn when the page opens.
	earlier, err := srv.Jobs().Start(ctx, jobs.Spec{ID: "demo-0", Title: "Data query"})
	if err != nil {
		t.Fatal(err)
	}
	cats := make([]demo.CategoryStat, len(demo.Categories))
	for i, c := range demo.Categories {
		cats[i] = demo.CategoryStat{Category: c}
	}
	if err := earlier.Succeed(ctx, demo.Result{BBox: demo.Europe, Matched: 1, Categories: cats, Points: [][3]float64{{48.8, 2.3, 0}}}); err != nil {
		t.Fatal(err)
	}
	tab := openDemo(t, ts.URL+"/")
	browsertest.WaitFor(t, tab, "the earlier result", `document.querySelectorAll("#scatter circle").length === 1`, 15*time.Second)
	if err := chromedp.Do(tab, chromedp.Click("#update")); err != nil {
		t.Fatal(err)
	}
	browsertest.WaitFor(t, tab, "the query running with its Cancel button", `!document.getElementById("cancel").hidden`, 15*time.Second)
	if err := chromedp.Do(tab, chromedp.Click("#cancel")); err != nil {
		t.Fatal(err)
	}
	browsertest.WaitFor(t, tab, "the cancellation said", statusText+` === "idle (the last query was cancelled)"`, 20*time.Second)
	got, err := chromedp.Run(tab, chromedp.Evaluate[string](`JSON.stringify({
		result: document.querySelectorAll("#scatter").length,
		button: document.getElementById("cancel").hidden,
		stages: [...document.querySelectorAll("#stages li")].map((li) => li.dataset.state),
	})`))
	if err != nil {
		t.Fatal(err)
	}
	var page struct {
		Result int
		Button bool
		Stages []string
	}
	json.Unmarshal([]byte(got), &page)
	if page.Result != 0 || !page.Button || !contains(page.Stages, "cancelled") {
		t.Fatalf("after the cancellation the page shows %s; want no result, no Cancel button, a stage cancelled", got)
	}
	browsertest.WaitFor(t, tab, "the cancellation in the log", `[...document.querySelectorAll("#log div")].some((d) => d.textContent === "cancelled on request")`, 15*time.Second)
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func TestTheETAStaysPutWhileThePageIsDisconnected(t *testing.T) {
	srv, ts := startNode(t)
	// About 10 units a second: about 30 s are left.
	startSteadyJob(t, srv, "demo-eta", 300)
	proxy, err := tcpproxy.Start(ts.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer proxy.Close()
	tab := openDemo(t, "http://"+proxy.Addr()+"/")
	browsertest.WaitFor(t, tab, "an ETA", `/ — about \d+ s left$/.test(`+statusText+`)`, 15*time.Second)
	proxy.Cut()
	browsertest.WaitFor(t, tab, "the connection-lost notice", `!document.getElementById("connection").hidden`, 15*time.Second)
	before, err := chromedp.Run(tab, chromedp.Evaluate[string](statusText))
	if err != nil {
		t.Fatal(err)
	}
	if after := statusAfter(t, tab, 2500); after != before {
		t.Fatalf("while disconnected the status went from %q to %q, want the ETA frozen", before, after)
	}
}

func TestADemoQueryShowsItsLogItsStagesAndAPlotWithAxesAndLegend(t *testing.T) {
	srv, ts := startNode(t)
	tab := openDemo(t, ts.URL+"/")
	// Keep every stage the breakdown shows running.
	if _, err := chromedp.Run(tab, chromedp.Evaluate[bool](`(() => {
		window.ran = new Set();
		const list = document.getElementById("stages");
		new MutationObserver(() => list.querySelectorAll("li[data-state=running]").forEach((li) => window.ran.add(li.dataset.stage)))
			.observe(list, { childList: true, subtree: true });
		return true;
	})()`)); err != nil {
		t.Fatal(err)
	}
	waitSubscribers(t, srv, 1)
	if err := chromedp.Do(tab, chromedp.Click("#update")); err != nil {
		t.Fatal(err)
	}
	browsertest.WaitFor(t, tab, "the result drawn", `document.querySelectorAll("#scatter circle").length > 0 && `+statusText+` === "idle"`, 30*time.Second)
	browsertest.WaitFor(t, tab, "the last log line", `document.querySelector("#log div:last-child")?.textContent.startsWith("done: ")`, 15*time.Second)
	got, err := chromedp.Run(tab, chromedp.Evaluate[string](`JSON.stringify({
		log: [...document.querySelectorAll("#log div")].map((d) => d.textContent),
		ran: [...window.ran],
		stages: [...document.querySelectorAll("#stages li")].map((li) => li.textContent),
		x: document.querySelector("#scatter .x-axis .label")?.textContent,
		y: document.querySelector("#scatter .y-axis .label")?.textContent,
		xTicks: [...document.querySelectorAll("#scatter .x-axis text:not(.label)")].map((e) => e.textContent),
		legend: [...document.querySelectorAll("#scatter .legend text")].map((e) => e.textContent),
		fills: [...document.querySelectorAll("#scatter .legend rect")].map((e) => e.getAttribute("fill")),
	})`))
	if err != nil {
		t.Fatal(err)
	}
	var page struct {
		Log, Ran, Stages, XTicks, Legend, Fills []string
		X, Y                                    string
	}
	if err := json.Unmarshal([]byte(got), &page); err != nil {
		t.Fatal(err)
	}
	wantLog := []*regexp.Regexp{
		regexp.MustCompile(`^loading 40000 places`), regexp.MustCompile(`^loaded 40000 places$`),
		regexp.MustCompile(`^filtering: latitude 34 to 72, longitude -12 to 32$`), regexp.MustCompile(`^\d+ places in the box$`),
		regexp.MustCompile(`^aggregating \d+ places by category$`), regexp.MustCompile(`^done: \d+ places, \d+ drawn$`),
	}
	if len(page.Log) != len(wantLog) {
		t.Fatalf("log lines %q, want one per step of each stage", page.Log)
	}
	for i, re := range wantLog {
		if !re.MatchString(page.Log[i]) {
			t.Fatalf("log line %d is %q, want %v (all: %q)", i+1, page.Log[i], re, page.Log)
		}
	}
	if strings.Join(page.Stages, ",") != "loading: done,filtering: done,aggregating: done" || len(page.Ran) != 3 {
		t.Fatalf("stage breakdown %q, seen running %q; want each stage seen running, then done", page.Stages, page.Ran)
	}
	if page.X != "longitude" || page.Y != "latitude" || len(page.XTicks) != 5 || page.XTicks[0] != "-12" || page.XTicks[4] != "32" {
		t.Fatalf("axes: x %q with ticks %q, y %q; want longitude from -12 to 32 and latitude", page.X, page.XTicks, page.Y)
	}
	if strings.Join(page.Legend, ",") != strings.Join(demo.Categories, ",") || len(page.Fills) != len(demo.Categories) {
		t.Fatalf("legend %q with colours %q, want every category with its colour", page.Legend, page.Fills)
	}
}
