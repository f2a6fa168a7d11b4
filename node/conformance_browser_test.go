package node

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/golang-jwt/jwt/v5"
	"github.com/heraldhub/herald/internal/browsertest"
	"github.com/heraldhub/herald/internal/tcpproxy"
	"github.com/heraldhub/herald/mercure"
)

// conformancePage is a blank page served at the hub's own origin, so that
// its EventSource and fetch calls are same-origin with the hub. Its script
// only wraps the browser's own EventSource and fetch:
//
//   - subscribe(selectors, token, param) opens an EventSource on the
//     selectors, each in the query parameter param (default "topic"; a
//     subscriber token goes in the authorization query parameter) and
//     resolves once it is open with a recorder: rec.seen lists every
//     message event, rec.opens and rec.errors count open and error events,
//     and rec.until(pred, ms) resolves true as soon as pred(rec) holds, or
//     false after ms.
//   - publish(token, topics, fields) POSTs a form (URLSearchParams) with a
//     Bearer token and resolves with the answer's status, Content-Type and
//     body.
const conformancePage = `<!doctype html>
<meta charset="utf-8">
<title>Herald in a browser</title>
<script>
function subscribe(selectors, token, param = "topic") {
  const url = new URL("/.well-known/mercure", location.origin);
  for (const s of selectors) url.searchParams.append(param, s);
  if (token) url.searchParams.set("authorization", token);
  const rec = { es: new EventSource(url), seen: [], opens: 0, errors: 0, waiters: [] };
  const check = () => { rec.waiters = rec.waiters.filter((w) => !w()); };
  rec.until = (pred, ms) => new Promise((resolve) => {
    let timer;
    const w = () => {
      if (!pred(rec)) return false;
      clearTimeout(timer);
      resolve(true);
      return true;
    };
    if (w()) return;
    timer = setTimeout(() => { rec.waiters = rec.waiters.filter((x) => x !== w); resolve(false); }, ms);
    rec.waiters.push(w);
  });
  rec.es.onmessage = (e) => {
    rec.seen.push({ type: e.type, id: e.lastEventId, data: e.data, at: performance.now() });
    check();
  };
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error("EventSource not open within 5 s: " + url)), 5000);
    rec.es.onopen = () => { rec.opens++; clearTimeout(timer); resolve(rec); check(); };
    rec.es.onerror = () => {
      rec.errors++;
      if (rec.opens === 0 && rec.es.readyState === EventSource.CLOSED) {
        clearTimeout(timer);
        reject(new Error("EventSource refused: " + url));
      }
      check();
    };
  });
}

async function publish(token, topics, fields) {
  const body = new URLSearchParams();
  for (const t of topics) body.append("topic", t);
  for (const [k, v] of Object.entries(fields)) body.set(k, v);
  const resp = await fetch("/.well-known/mercure", { method: "POST", headers: { Authorization: "Bearer " + token }, body });
  return { status: resp.status, contentType: resp.headers.get("Content-Type") || "", body: await resp.text() };
}
</script>
`

// conformancePath is where the page server serves conformancePage.
const conformancePath = "/conformance.html"

// servePage serves conformancePage at conformancePath and everything else
// with hub, on a loopback server of its own, closed when the test ends.
func servePage(t *testing.T, hub http.Handler) *httptest.Server {
	t.Helper()
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+conformancePath, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Write([]byte(conformancePage))
	})
	mux.Handle("/", hub)
	ts := httptest.NewServer(mux)
	t.Cleanup(ts.Close)
	return ts
}

// openPage starts a fresh headless Chromium and loads conformancePage from
// origin (a base URL such as "http://127.0.0.1:PORT").
func openPage(t *testing.T, origin string) context.Context {
	t.Helper()
	tab := browsertest.New(t, 90*time.Second)
	if err := chromedp.Do(tab, chromedp.Navigate(origin+conformancePath)); err != nil {
		t.Fatalf("load %s: %v", origin+conformancePath, err)
	}
	return tab
}

// runJS evaluates expr (which may return a promise) in tab's page and
// decodes its result.
func runJS[T any](t *testing.T, tab context.Context, expr string) T {
	t.Helper()
	v, err := chromedp.Run(tab, chromedp.Evaluate[T](expr, chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatalf("in the page: %v", err)
	}
	return v
}

// jsCall renders a call of the page function fn with args as JSON.
func jsCall(t *testing.T, fn string, args ...any) string {
	t.Helper()
	b, err := json.Marshal(args)
	if err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("(%s)(...%s)", fn, b)
}

// seenEvent is one message event as the page's EventSource saw it; At is
// milliseconds after the publication was sent.
type seenEvent struct {
	Type, ID, Data string
	At             float64
}

// answer is a publication's HTTP answer as fetch saw it.
type answer struct {
	Status      int
	ContentType string
	Body        string
}

// textPlain matches a text/plain media type, with or without parameters.
var textPlain = regexp.MustCompile(`^text/plain(?:$|;)`)

// observation is what publishAndObserve reports.
type observation struct {
	Update, Marker        answer
	MarkerArrived         bool
	Anonymous, Authorized []seenEvent
}

// publishAndObserve runs in the page: it opens an anonymous EventSource and
// one authorized to receive everything on the same selectors, publishes the
// update, then publishes a public marker update on a topic both
// selectors match. Updates reach each subscriber in log order, so once the
// marker has arrived, anything the update was going to deliver has
// arrived too: absence is observed without waiting out a timeout.
//
// Without c.cookie the selectors go in topic= (Mercure 0.x) and the
// authorized EventSource carries its token in the authorization query
// parameter. With it (Mercure 1.0) they go in c.param, and the token in
// that cookie, set only while the authorized EventSource connects so that
// the anonymous one stays anonymous.
const publishAndObserve = `async (c) => {
  const anonymous = await subscribe(c.selectors, "", c.param);
  let authorized;
  if (c.cookie) {
    document.cookie = c.cookie + "=" + c.subscriberToken + "; path=/";
    authorized = await subscribe(c.selectors, "", c.param);
    document.cookie = c.cookie + "=; path=/; max-age=0";
  } else {
    authorized = await subscribe(c.selectors, c.subscriberToken);
  }
  const fields = { id: c.id, data: c.data };
  if (c.private) fields.private = "on";
  const t0 = performance.now();
  const update = await publish(c.publisherToken, c.topics, fields);
  const marker = await publish(c.publisherToken, [c.marker], { id: c.markerID, data: "marker" });
  const hasMarker = (rec) => rec.seen.some((e) => e.id === c.markerID);
  const markerArrived = (await anonymous.until(hasMarker, 5000)) && (await authorized.until(hasMarker, 5000));
  anonymous.es.close();
  authorized.es.close();
  const rel = (rec) => rec.seen.map((e) => ({ type: e.type, id: e.id, data: e.data, at: e.at - t0 }));
  return { update, marker, markerArrived, anonymous: rel(anonymous), authorized: rel(authorized) };
}`

// TestBrowserMercureConformance checks, through a real EventSource and
// fetch in headless Chromium, what the public Mercure conformance suite
// checks: a publication with a custom id, several topics and data holding
// blank lines is answered 200 text/plain with that id, and arrives within
// two seconds, as a "message" event with that id and data, exactly on the
// subscriptions whose selectors match it; a private update never reaches
// the anonymous EventSource. Beyond the suite, an EventSource authorized by
// the authorization query parameter receives the private updates, and a
// reused custom id is refused and delivers nothing.
func TestBrowserMercureConformance(t *testing.T) {
	n := startNode(t, Config{SubscriberKey: subscriberKey})
	page := servePage(t, n.srv.Handler())
	tab := openPage(t, page.URL)

	// Like the suite's publisher token: HS256, may publish and subscribe to
	// everything, and no expiry.
	publisherToken, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{
		"mercure": map[string]any{"publish": []string{"*"}, "subscribe": []string{"*"}},
	}).SignedString([]byte(publisherKey))
	if err != nil {
		t.Fatal(err)
	}
	subscriberToken := token(t, subscriberKey, nil, []string{"*"})

	const (
		iri      = "https://example.net/books/"
		template = "https://example.net/books/{id}"
	)
	cases := []struct {
		name              string
		topics, selectors []string
		// marker is a topic the selectors match, for the closing update.
		marker  string
		private bool
		// matches says whether the selectors match a topic of the update.
		matches bool
		// taken says an earlier update already has the custom id, so this
		// one is refused.
		taken bool
	}{
		{name: "an exact topic", topics: []string{"plain-0"}, selectors: []string{"plain-0"}, marker: "plain-0", matches: true},
		{name: "the second of several topics", topics: []string{"elsewhere-1", "plain-1"}, selectors: []string{"plain-1"}, marker: "plain-1", matches: true},
		{name: "the second of several selectors", topics: []string{"plain-2"}, selectors: []string{"unrelated-2", "plain-2"}, marker: "unrelated-2", matches: true},
		{name: "an IRI", topics: []string{iri + "3"}, selectors: []string{iri + "3"}, marker: iri + "3", matches: true},
		{name: "a URI template", topics: []string{iri + "4"}, selectors: []string{template}, marker: iri + "marker-4", matches: true},
		{name: "a different exact topic", topics: []string{"plain-5}"}, selectors: []string{"another-5"}, marker: "another-5"},
		{name: "a different IRI", topics: []string{iri + "6}"}, selectors: []string{iri + "other-6"}, marker: iri + "other-6"},
		{name: "a template that does not match", topics: []string{iri + "7}"}, selectors: []string{"https://example.net/authors/{id}"}, marker: "https://example.net/authors/7"},
		{name: "a private exact topic", topics: []string{"plain-8"}, selectors: []string{"plain-8"}, marker: "plain-8", private: true, matches: true},
		{name: "a private IRI", topics: []string{iri + "9"}, selectors: []string{iri + "9"}, marker: iri + "9", private: true, matches: true},
		{name: "a private update matched by a template", topics: []string{iri + "10"}, selectors: []string{template}, marker: iri + "marker-10", private: true, matches: true},
		{name: "a custom id already used", topics: []string{"plain-11"}, selectors: []string{"plain-11"}, marker: "plain-11", matches: true, taken: true},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			topics, _ := json.Marshal(tc.topics)
			id := "id-" + string(topics)             // quotes, brackets, slashes, braces
			data := "data for\n\n        " + tc.name // a blank line, then indentation
			if tc.taken {
				n.mustPublish(t, url.Values{"topic": {"elsewhere"}, "id": {id}, "data": {"first"}})
			}
			got := runJS[observation](t, tab, jsCall(t, publishAndObserve, map[string]any{
				"topics": tc.topics, "selectors": tc.selectors, "marker": tc.marker,
				"id": id, "markerID": fmt.Sprintf("marker-%d", i), "data": data, "private": tc.private,
				"publisherToken": publisherToken, "subscriberToken": subscriberToken,
			}))
			accepted := !tc.taken
			switch {
			case !accepted && got.Update.Status != http.StatusConflict:
				t.Fatalf("publishing with a used id answered %d %q, want 409", got.Update.Status, got.Update.Body)
			case accepted && (got.Update.Status != http.StatusOK || !textPlain.MatchString(got.Update.ContentType) || got.Update.Body != id):
				t.Fatalf("publication answered %d %q %q, want 200, text/plain and the custom id %q",
					got.Update.Status, got.Update.ContentType, got.Update.Body, id)
			case got.Marker.Status != http.StatusOK:
				t.Fatalf("marker publication answered %d %q", got.Marker.Status, got.Marker.Body)
			case !got.MarkerArrived:
				t.Fatalf("the marker update did not reach both EventSources within 5 s: anonymous saw %v, authorized saw %v", got.Anonymous, got.Authorized)
			}
			check := func(who string, seen []seenEvent, receives bool) {
				t.Helper()
				want := []string{fmt.Sprintf("marker-%d", i)}
				if receives {
					want = append([]string{id}, want...)
				}
				var gotIDs []string
				for _, e := range seen {
					gotIDs = append(gotIDs, e.ID)
				}
				if !slices.Equal(gotIDs, want) {
					t.Fatalf("%s EventSource received ids %q, want %q", who, gotIDs, want)
				}
				if !receives {
					return
				}
				if e := seen[0]; e.Type != "message" || e.Data != data || e.At > 2000 {
					t.Fatalf("%s EventSource received %+v, want a \"message\" event with data %q within 2000 ms", who, e, data)
				}
			}
			check("the anonymous", got.Anonymous, accepted && tc.matches && !tc.private)
			check("the authorized", got.Authorized, accepted && tc.matches)
		})
	}
}

// resumeHold passes requests to a hub, except that it holds each
// subscription resuming after a Last-Event-ID, reporting that id on
// resumed, until release is closed (or the request is gone).
type resumeHold struct {
	hub     http.Handler
	resumed chan string
	release chan struct{}
	once    sync.Once
}

func (h *resumeHold) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if last := r.Header.Get("Last-Event-ID"); r.Method == http.MethodGet && r.URL.Path == mercure.Path && last != "" {
		select {
		case h.resumed <- last:
		case <-r.Context().Done():
			return
		}
		select {
		case <-h.release:
		case <-r.Context().Done():
			return
		}
	}
	h.hub.ServeHTTP(w, r)
}

func (h *resumeHold) let() { h.once.Do(func() { close(h.release) }) }

// TestBrowserReconnectsWithLastEventIDAndMissesNothing cuts a real
// EventSource's stream under it. Chromium reconnects by itself after the
// retry the hub sent, with the Last-Event-ID header, and receives exactly
// the updates published while it was away, in order, none twice, then live
// ones on the same EventSource.
func TestBrowserReconnectsWithLastEventIDAndMissesNothing(t *testing.T) {
	n := startNode(t, Config{})
	hold := &resumeHold{hub: n.srv.Handler(), resumed: make(chan string), release: make(chan struct{})}
	t.Cleanup(hold.let)
	page := servePage(t, hold)
	// The browser reaches the node through a proxy the test can cut: the
	// hub takes its streams over from net/http, so only cutting the
	// connection itself ends one from outside.
	proxy, err := tcpproxy.Start(page.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(proxy.Close)
	tab := openPage(t, "http://"+proxy.Addr())

	const topic = "https://example.net/reconnect/1"
	publish := func(id, data string, extra url.Values) {
		t.Helper()
		form := url.Values{"topic": {topic}, "id": {id}, "data": {data}}
		for k, v := range extra {
			form[k] = v
		}
		if got := n.mustPublish(t, form); got != id {
			t.Fatalf("publication answered id %q, want the custom id %q", got, id)
		}
	}
	waitPage := func(what, pred string) {
		t.Helper()
		if !runJS[bool](t, tab, fmt.Sprintf("window.rec.until((rec) => %s, 10000)", pred)) {
			seen := runJS[[]seenEvent](t, tab, "window.rec.seen")
			t.Fatalf("the page did not see %s within 10 s; it received %+v", what, seen)
		}
	}

	runJS[bool](t, tab, `subscribe(["https://example.net/reconnect/{n}"], "").then((rec) => { window.rec = rec; return true; })`)
	// A short retry makes Chromium come back at once instead of after its
	// default of about 3 s.
	publish("r-1", "first\n\nbefore the cut", url.Values{"retry": {"100"}})
	waitPage("the first update", `rec.seen.length >= 1`)

	proxy.Cut()
	if err := proxy.Restore(); err != nil {
		t.Fatal(err)
	}
	// Published after the cut: the browser's reconnection is held until
	// release, so it cannot have received these live.
	publish("r-2", "second", nil)
	select {
	case last := <-hold.resumed:
		if last != "r-1" {
			t.Fatalf("Chromium reconnected with Last-Event-ID %q, want %q", last, "r-1")
		}
	case <-time.After(wait):
		t.Fatalf("Chromium did not reconnect with a Last-Event-ID within %v", wait)
	}
	publish("r-3", "third", nil)
	hold.let()
	waitPage("the missed updates after reopening", `rec.opens >= 2 && rec.seen.length >= 3`)
	publish("r-4", "fourth, live", nil)
	waitPage("the live update", `rec.seen.some((e) => e.id === "r-4")`)

	type state struct {
		Seen       []seenEvent
		Opens      int
		ReadyState int
	}
	got := runJS[state](t, tab, `({ seen: window.rec.seen, opens: window.rec.opens, readyState: window.rec.es.readyState })`)
	want := []seenEvent{
		{Type: "message", ID: "r-1", Data: "first\n\nbefore the cut"},
		{Type: "message", ID: "r-2", Data: "second"},
		{Type: "message", ID: "r-3", Data: "third"},
		{Type: "message", ID: "r-4", Data: "fourth, live"},
	}
	for i := range got.Seen {
		got.Seen[i].At = 0
	}
	if !slices.Equal(got.Seen, want) {
		t.Fatalf("the EventSource received %+v, want %+v", got.Seen, want)
	}
	if got.Opens != 2 || got.ReadyState != 1 {
		t.Fatalf("the EventSource opened %d times and is in readyState %d, want 2 opens and OPEN (1)", got.Opens, got.ReadyState)
	}
	select {
	case last := <-hold.resumed:
		t.Fatalf("Chromium reconnected a second time, with Last-Event-ID %q", last)
	default:
	}
}
