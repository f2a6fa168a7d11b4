package web_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/heraldhub/herald/eventlog"
	"github.com/heraldhub/herald/internal/browsertest"
	"github.com/heraldhub/herald/node"
)

// tabsPage follows the topic "tabs" with herald.js and keeps what it hears.
const tabsPage = `<!doctype html><title>tabs</title><script type="module">
import { watch } from "/herald.js";
window.got = [];
window.links = [];
window.resets = [];
const params = new URLSearchParams(location.search);
window.sub = watch(location.origin, params.get("topic") || "tabs", {
  lastEventID: params.get("from") || undefined,
  onMessage: (e) => window.got.push(e.data),
  onConnection: (open) => window.links.push(open),
  onReset: (info) => window.resets.push(info),
});
</script>`

// startTabsFront serves tabsPage at /tabs.html in front of a node.
func startTabsFront(t *testing.T) (*node.Node, *httptest.Server) {
	t.Helper()
	srv, _ := startNode(t)
	front := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/tabs.html" {
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			w.Write([]byte(tabsPage))
			return
		}
		srv.Handler().ServeHTTP(w, r)
	}))
	t.Cleanup(front.Close)
	return srv, front
}

// publishRange publishes the data from, from+1, …, to-1 on topic.
func publishRange(t *testing.T, srv *node.Node, topic string, from, to int) {
	t.Helper()
	for i := from; i < to; i++ {
		if _, err := srv.Hub().Publish(t.Context(), eventlog.Update{Topics: []string{topic}, Data: strconv.Itoa(i)}); err != nil {
			t.Fatal(err)
		}
	}
}

// waitExactlySubscribers waits until exactly n streams are connected.
func waitExactlySubscribers(t *testing.T, srv *node.Node, n int) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for srv.Hub().Subscribers() != n {
		if time.Now().After(deadline) {
			t.Fatalf("%d subscribers connected, want exactly %d", srv.Hub().Subscribers(), n)
		}
		time.Sleep(20 * time.Millisecond) // polling a counter, bounded by the deadline
	}
}

// checkReceived waits until the tab heard n updates and checks that they
// are 0…n-1 in order, each once.
func checkReceived(t *testing.T, tab context.Context, name string, n int) {
	t.Helper()
	browsertest.WaitFor(t, tab, name+" hearing "+strconv.Itoa(n)+" updates", "window.got.length >= "+strconv.Itoa(n), 30*time.Second)
	got, err := chromedp.Run(tab, chromedp.Evaluate[[]string]("window.got"))
	if err != nil {
		t.Fatal(err)
	}
	want := make([]string, n)
	for i := range want {
		want[i] = strconv.Itoa(i)
	}
	if !slices.Equal(got, want) {
		t.Fatalf("%s heard %q, want 0 to %d in order, each once", name, got, n-1)
	}
}

func TestTenTabsShareOneStreamAndSurviveTheLeaderClosing(t *testing.T) {
	srv, front := startTabsFront(t)
	browser := browsertest.New(t, 3*time.Minute)
	const n = 10
	tabs := make([]context.Context, n)
	closers := make([]context.CancelFunc, n)
	for i := range tabs {
		tabs[i], closers[i] = chromedp.NewContext(browser)
		t.Cleanup(closers[i])
		if err := chromedp.Do(tabs[i], chromedp.Navigate(front.URL+"/tabs.html")); err != nil {
			t.Fatalf("tab %d: %v", i, err)
		}
	}
	for i, tab := range tabs {
		browsertest.WaitFor(t, tab, "tab "+strconv.Itoa(i)+" connected", "window.links.at(-1) === true", 30*time.Second)
	}
	if got := srv.Hub().Subscribers(); got != 1 {
		t.Fatalf("%d tabs open %d streams, want one for the browser", n, got)
	}

	publishRange(t, srv, "tabs", 0, 20)
	for i, tab := range tabs {
		checkReceived(t, tab, "tab "+strconv.Itoa(i), 20)
	}

	leader := -1
	for i, tab := range tabs {
		leads, err := chromedp.Run(tab, chromedp.Evaluate[bool]("window.sub.source !== null"))
		if err != nil {
			t.Fatal(err)
		}
		if leads {
			if leader >= 0 {
				t.Fatalf("tabs %d and %d both hold a stream", leader, i)
			}
			leader = i
		}
	}
	if leader < 0 {
		t.Fatal("no tab holds the stream")
	}
	// Close the leading tab and publish at once, while another takes over.
	closers[leader]()
	rest := slices.Delete(slices.Clone(tabs), leader, leader+1)
	publishRange(t, srv, "tabs", 20, 25)
	for i, tab := range rest {
		checkReceived(t, tab, "remaining tab "+strconv.Itoa(i), 25)
	}
	publishRange(t, srv, "tabs", 25, 30)
	for i, tab := range rest {
		checkReceived(t, tab, "remaining tab "+strconv.Itoa(i), 30)
	}
	waitExactlySubscribers(t, srv, 1)
	leaders := 0
	for _, tab := range rest {
		leads, err := chromedp.Run(tab, chromedp.Evaluate[bool]("window.sub.source !== null"))
		if err != nil {
			t.Fatal(err)
		}
		if leads {
			leaders++
		}
	}
	if leaders != 1 {
		t.Fatalf("%d remaining tabs hold a stream, want one", leaders)
	}
}

func TestHeraldJSReportsACutHistoryToOnReset(t *testing.T) {
	srv, front := startTabsFront(t)
	publishRange(t, srv, "cut", 0, 1)
	browser := browsertest.New(t, time.Minute)
	if err := chromedp.Do(browser, chromedp.Navigate(front.URL+"/tabs.html?topic=cut&from=urn:uuid:long-gone")); err != nil {
		t.Fatal(err)
	}
	checkReceived(t, browser, "the page", 1)
	out, err := chromedp.Run(browser, chromedp.Evaluate[string]("JSON.stringify(window.resets)"))
	if err != nil {
		t.Fatal(err)
	}
	var resets []struct{ Reason, LastEventID string }
	if err := json.Unmarshal([]byte(out), &resets); err != nil {
		t.Fatal(err)
	}
	if len(resets) != 1 || resets[0].Reason != "history-cut" || resets[0].LastEventID != "urn:uuid:long-gone" {
		t.Fatalf("onReset got %s, want once the reason history-cut and the id asked for", out)
	}
}

func TestATabOpenedMidQueryShowsTheCurrentStageFromTheSharedStream(t *testing.T) {
	srv, ts := startNode(t)
	// A job that stays put: nothing is published once the second tab
	// opens, so what it shows can only come from the tab holding the stream.
	startQueryAtFiltering(t, srv)
	browser := browsertest.New(t, 60*time.Second)
	first, second := browsertest.NewTab(t, browser), browsertest.NewTab(t, browser)
	const atStage = `document.getElementById("status").textContent.startsWith("filtering: 61%")`
	if err := chromedp.Do(first, chromedp.Navigate(ts.URL+"/")); err != nil {
		t.Fatal(err)
	}
	browsertest.WaitFor(t, first, "the stage in the first tab", atStage, 15*time.Second)
	if err := chromedp.Do(second, chromedp.Navigate(ts.URL+"/")); err != nil {
		t.Fatal(err)
	}
	browsertest.WaitFor(t, second, "the stage in the second tab", atStage, 15*time.Second)
	if got := srv.Hub().Subscribers(); got != 1 {
		t.Fatalf("two tabs of the demo open %d streams, want one", got)
	}
}
