package web_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/heraldhub/herald/internal/browsertest"
	"github.com/heraldhub/herald/internal/tcpproxy"
	"github.com/heraldhub/herald/jobs"
	"github.com/heraldhub/herald/node"
)

// startNode runs a complete node with a fast demo behind a loopback server.
func startNode(t *testing.T) (*node.Node, *httptest.Server) {
	t.Helper()
	return startNodeAt(t, 15*time.Millisecond)
}

// startNodeAt runs a complete node whose demo query goes at pace (see
// node.Config.DemoPace) behind a loopback server.
func startNodeAt(t *testing.T, pace time.Duration) (*node.Node, *httptest.Server) {
	t.Helper()
	srv, err := node.New(context.Background(), node.Config{
		Log: "memory", PublisherKey: "browser-test-key-0123456789abcdef", DataDir: t.TempDir(),
		DemoPace: pace,
	})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewUnstartedServer(srv.Handler())
	ts.Config.RegisterOnShutdown(srv.Drain)
	ts.Start()
	t.Cleanup(func() {
		srv.Drain()
		ts.Close()
		srv.Close()
	})
	return srv, ts
}

// recordStatus makes the page keep every text its status line shows.
const recordStatus = `(() => {
  window.statusLog = [document.getElementById("status").textContent];
  new MutationObserver(() => window.statusLog.push(document.getElementById("status").textContent))
    .observe(document.getElementById("status"), { childList: true, characterData: true, subtree: true });
  return true;
})()`

func statusLog(t *testing.T, tab context.Context) []string {
	t.Helper()
	log, err := chromedp.Run(tab, chromedp.Evaluate[[]string]("window.statusLog"))
	if err != nil {
		t.Fatal(err)
	}
	return log
}

// waitSubscribers waits until n streams are connected to the node.
func waitSubscribers(t *testing.T, srv *node.Node, n int) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for srv.Hub().Subscribers() < n {
		if time.Now().After(deadline) {
			t.Fatalf("%d subscribers connected, want %d", srv.Hub().Subscribers(), n)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestUpdateDataShowsEveryStageInTwoTabsThenIdle(t *testing.T) {
	srv, ts := startNode(t)
	browser := browsertest.New(t, 90*time.Second)
	tab1, tab2 := browser, browsertest.NewTab(t, browser)
	for _, tab := range []context.Context{tab1, tab2} {
		if err := chromedp.Do(tab, chromedp.Navigate(ts.URL+"/")); err != nil {
			t.Fatal(err)
		}
		if _, err := chromedp.Run(tab, chromedp.Evaluate[bool](recordStatus)); err != nil {
			t.Fatal(err)
		}
	}
	// The two tabs share one stream: the first holds it, the second, its
	// page loaded, hears what the first relays.
	waitSubscribers(t, srv, 1)
	if err := chromedp.Do(tab1, chromedp.Click("#update")); err != nil {
		t.Fatal(err)
	}
	for i, tab := range []context.Context{tab1, tab2} {
		browsertest.WaitFor(t, tab, "the result drawn", `document.querySelectorAll("#scatter circle").length > 0 && document.getElementById("status").textContent === "idle"`, 30*time.Second)
		log := statusLog(t, tab)
		var sawStart, sawStage, sawETA bool
		for _, line := range log {
			switch {
			case line == "starting data query…":
				sawStart = true
			case sawStart && isStageLine(line):
				sawStage = true
				sawETA = sawETA || etaLine.MatchString(line)
			}
		}
		if !sawStart || !sawStage || log[len(log)-1] != "idle" {
			t.Fatalf("tab %d showed %q; want \"starting data query…\", then a stage with its percent, then \"idle\"", i+1, log)
		}
		if !sawETA {
			t.Fatalf("tab %d showed %q; want a stage with its ETA (\"filtering: 42%% — about 3 s left\")", i+1, log)
		}
	}
	rows, err := chromedp.Run(tab2, chromedp.Evaluate[int](`document.querySelectorAll("#categories tr").length`))
	if err != nil || rows != 6 {
		t.Fatalf("result table has %d rows (%v), want a header and 5 categories", rows, err)
	}
	shot, err := chromedp.Run(tab1, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join("testdata", "artifacts")
	os.MkdirAll(dir, 0o755)
	if err := os.WriteFile(filepath.Join(dir, "demo-finished.png"), shot, 0o644); err != nil {
		t.Fatal(err)
	}
}

// etaLine matches a status line with an ETA.
var etaLine = regexp.MustCompile(`^[a-z]+: \d+% — about \d+ (s|min) left$`)

// isStageLine reports whether line is "<stage>: N% — …".
func isStageLine(line string) bool {
	for _, stage := range []string{"loading: ", "filtering: ", "aggregating: "} {
		if strings.HasPrefix(line, stage) && strings.Contains(line, "%") {
			return true
		}
	}
	return false
}

// startQueryAtFiltering starts a demo query that stays at 42% of its
// filtering stage (61% of the whole).
func startQueryAtFiltering(t *testing.T, srv *node.Node) {
	t.Helper()
	job, err := srv.Jobs().Start(t.Context(), jobs.Spec{ID: "demo-1", Title: "Data query", Stages: []jobs.Stage{{Name: "loading"}, {Name: "filtering", Weight: 2}}})
	if err != nil {
		t.Fatal(err)
	}
	if err := job.Progress(t.Context(), "filtering", 42, 100, ""); err != nil {
		t.Fatal(err)
	}
}

func TestAReloadMidQueryShowsTheCurrentStageAtOnce(t *testing.T) {
	srv, ts := startNode(t)
	// A job that stays put: after the reload, nothing new is published, so
	// what the page shows can only come from the snapshot sent on connect.
	startQueryAtFiltering(t, srv)
	browser := browsertest.New(t, 60*time.Second)
	if err := chromedp.Do(browser, chromedp.Navigate(ts.URL+"/")); err != nil {
		t.Fatal(err)
	}
	browsertest.WaitFor(t, browser, "the stage before reloading", `document.getElementById("status").textContent.startsWith("filtering: ")`, 15*time.Second)
	if err := chromedp.Do(browser, chromedp.Reload()); err != nil {
		t.Fatal(err)
	}
	browsertest.WaitFor(t, browser, "the stage after reloading", `document.getElementById("status").textContent.startsWith("filtering: 61%")`, 15*time.Second)
}

func TestHeraldProgressReachesDoneAndShowsConnectionLoss(t *testing.T) {
	srv, ts := startNode(t)
	job, err := srv.Jobs().Start(t.Context(), jobs.Spec{ID: "upload", Title: "Upload", Total: 10})
	if err != nil {
		t.Fatal(err)
	}
	// The browser reaches the node through a proxy the test can cut.
	proxy, err := tcpproxy.Start(ts.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer proxy.Close()
	browser := browsertest.New(t, 60*time.Second)
	if err := chromedp.Do(browser, chromedp.Navigate("http://"+proxy.Addr()+"/")); err != nil {
		t.Fatal(err)
	}
	_, err = chromedp.Run(browser, chromedp.Evaluate[bool](`import("/herald.js").then(() => {
		const el = document.createElement("herald-progress");
		el.setAttribute("job", "upload");
		document.body.append(el);
		return true;
	})`, chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatal(err)
	}
	browsertest.WaitFor(t, browser, "the element's first state", `document.querySelector("herald-progress").getAttribute("state") === "running"`, 15*time.Second)
	job.Progress(t.Context(), "", 5, 10, "")
	browsertest.WaitFor(t, browser, "50%", `document.querySelector("herald-progress .hp-percent").textContent === "50%"`, 15*time.Second)

	// Cut the connection: the element says so, then recovers on its own
	// once the hub is reachable again.
	proxy.Cut()
	browsertest.WaitFor(t, browser, "the connection-lost notice", `document.querySelector("herald-progress").hasAttribute("disconnected") && !document.querySelector("herald-progress .hp-connection").hidden`, 15*time.Second)
	if err := proxy.Restore(); err != nil {
		t.Fatal(err)
	}
	browsertest.WaitFor(t, browser, "the reconnection", `!document.querySelector("herald-progress").hasAttribute("disconnected")`, 20*time.Second)

	if err := job.Succeed(t.Context(), map[string]string{"file": "ok"}); err != nil {
		t.Fatal(err)
	}
	browsertest.WaitFor(t, browser, "done at 100%", `(() => {
		const el = document.querySelector("herald-progress");
		return el.getAttribute("state") === "succeeded" && el.querySelector(".hp-bar").value === 100 && el.querySelector(".hp-stage").textContent === "done";
	})()`, 15*time.Second)
}

func TestHeraldJSReopensTheStreamAfterTheBrowserGivesUp(t *testing.T) {
	srv, _ := startNode(t)
	job, err := srv.Jobs().Start(t.Context(), jobs.Spec{ID: "flaky", Title: "Flaky", Total: 10})
	if err != nil {
		t.Fatal(err)
	}
	// A front that can answer 502 to subscriptions, as a reverse proxy does
	// while the hub restarts (EventSource then stops for good), behind a
	// TCP proxy the test can cut.
	var failing atomic.Bool
	var refused atomic.Int32
	front := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if failing.Load() && r.URL.Path == "/.well-known/mercure" {
			refused.Add(1)
			http.Error(w, "bad gateway", http.StatusBadGateway)
			return
		}
		srv.Handler().ServeHTTP(w, r)
	}))
	defer front.Close()
	proxy, err := tcpproxy.Start(front.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer proxy.Close()
	browser := browsertest.New(t, 60*time.Second)
	if err := chromedp.Do(browser, chromedp.Navigate("http://"+proxy.Addr()+"/")); err != nil {
		t.Fatal(err)
	}
	_, err = chromedp.Run(browser, chromedp.Evaluate[bool](`import("/herald.js").then((h) => {
		window.seen = [];
		window.links = [];
		h.subscribe(location.origin, "flaky", {
			onSnapshot: (s) => window.seen.push(s.state + " " + s.done),
			onConnection: (open) => window.links.push(open),
		});
		return true;
	})`, chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatal(err)
	}
	browsertest.WaitFor(t, browser, "the job's snapshot", `window.seen.includes("running 0") && window.links.at(-1) === true`, 15*time.Second)
	failing.Store(true)
	proxy.Cut()
	browsertest.WaitFor(t, browser, "the stream reported down", `window.links.at(-1) === false`, 15*time.Second)
	if err := proxy.Restore(); err != nil {
		t.Fatal(err)
	}
	// The browser's own retry meets the 502 and closes the EventSource;
	// herald.js must try again by itself once subscriptions pass again.
	deadline := time.Now().Add(15 * time.Second)
	for refused.Load() == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the browser did not retry through the front")
		}
		time.Sleep(20 * time.Millisecond) // polling a counter, bounded by the deadline
	}
	if err := job.Progress(t.Context(), "", 4, 10, ""); err != nil {
		t.Fatal(err)
	}
	failing.Store(false)
	browsertest.WaitFor(t, browser, "the stream back up with the missed progress", `window.links.at(-1) === true && window.seen.includes("running 4")`, 20*time.Second)
	if err := job.Succeed(t.Context(), nil); err != nil {
		t.Fatal(err)
	}
	browsertest.WaitFor(t, browser, "the end", `window.seen.at(-1) === "succeeded 10"`, 15*time.Second)
}

func TestHeraldProgressCountsTheETADownBetweenEvents(t *testing.T) {
	srv, ts := startNode(t)
	// About 10 units a second: most of 100 s are left.
	startSteadyJob(t, srv, "slow", 1000)
	browser := browsertest.New(t, 60*time.Second)
	if err := chromedp.Do(browser, chromedp.Navigate(ts.URL+"/")); err != nil {
		t.Fatal(err)
	}
	_, err := chromedp.Run(browser, chromedp.Evaluate[bool](`import("/herald.js").then(() => {
		const el = document.createElement("herald-progress");
		el.setAttribute("job", "slow");
		document.body.append(el);
		return true;
	})`, chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatal(err)
	}
	const etaText = `document.querySelector("herald-progress .hp-eta").textContent`
	browsertest.WaitFor(t, browser, "an ETA", etaText+`.startsWith("about ")`, 15*time.Second)
	first, err := chromedp.Run(browser, chromedp.Evaluate[string](etaText))
	if err != nil {
		t.Fatal(err)
	}
	// No event arrives meanwhile; the element's ETA moves on its own.
	browsertest.WaitFor(t, browser, "the ETA counting down", etaText+` !== `+strconv.Quote(first), 10*time.Second)
	if s, _ := srv.Jobs().Get("slow"); s.Seq > 20 {
		t.Fatalf("seq %d: events were published while waiting", s.Seq)
	}
}

// startSteadyJob starts job id of total units and reports steady progress,
// about 10 units a second, for a little over a second: long enough for an
// estimate, which it checks.
func startSteadyJob(t *testing.T, srv *node.Node, id string, total float64) {
	t.Helper()
	job, err := srv.Jobs().Start(t.Context(), jobs.Spec{ID: id, Title: "Steady", Total: total})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	for done := 1.0; time.Since(start) < 1300*time.Millisecond; done++ {
		if err := job.Progress(t.Context(), "", done, total, ""); err != nil {
			t.Fatal(err)
		}
		time.Sleep(100 * time.Millisecond) // the worker's pace, not a synchronisation
	}
	if s, _ := srv.Jobs().Get(id); s.ETA == nil {
		t.Fatalf("no ETA after steady progress: %+v", s)
	}
}
