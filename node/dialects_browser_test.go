package node

import (
	"slices"
	"strings"
	"testing"
)

// dialectObservation is what bothDialects reports.
type dialectObservation struct {
	Legacy, Modern []string
	QueryStatus    int
	QueryType      string
	QueryText      string
}

// bothDialects runs in the page: a Mercure 0.x EventSource (topic=, a URI
// template), a 1.0 EventSource (match_urlpattern=) and a 1.0 QUERY
// subscription read with fetch (match=, in the body) wait on one hub while
// two updates are published; it reports the ids each one received.
const bothDialects = `async (c) => {
  const legacy = await subscribe(["https://example.net/books/{id}"], "");
  const url = new URL("/.well-known/mercure", location.origin);
  url.searchParams.append("match_urlpattern", "https://example.net/books/:id");
  const modern = new EventSource(url);
  const seen = [];
  let arrived = () => {};
  modern.onmessage = (e) => { seen.push(e.lastEventId); arrived(); };
  await new Promise((resolve, reject) => {
    modern.onopen = resolve;
    setTimeout(() => reject(new Error("the 1.0 EventSource did not open within 5 s")), 5000);
  });
  const query = await fetch("/.well-known/mercure", {
    method: "QUERY",
    headers: { "Content-Type": "application/x-www-form-urlencoded" },
    body: "match=" + encodeURIComponent("https://example.net/books/1"),
  });
  for (const i of [1, 2]) {
    await publish(c.token, ["https://example.net/books/" + i], { id: "b" + i, data: "book " + i });
  }
  await legacy.until((r) => r.seen.length >= 2, 5000);
  await new Promise((resolve) => {
    arrived = () => { if (seen.length >= 2) resolve(); };
    arrived();
    setTimeout(resolve, 5000);
  });
  let text = "";
  if (query.ok) {
    const reader = query.body.getReader();
    const decoder = new TextDecoder();
    const deadline = Date.now() + 5000;
    while (!text.includes("id: b1") && Date.now() < deadline) {
      const chunk = await Promise.race([reader.read(), new Promise((r) => setTimeout(() => r({ done: true }), 5000))]);
      if (chunk.done) break;
      text += decoder.decode(chunk.value);
    }
    reader.cancel();
  }
  legacy.es.close();
  modern.close();
  return {
    legacy: legacy.seen.map((e) => e.id), modern: seen,
    queryStatus: query.status, queryType: query.headers.get("Content-Type") || "", queryText: text,
  };
}`

// TestBrowserBothDialectsReceiveTheSameUpdates checks, in headless
// Chromium, that a page's Mercure 0.x and 1.0 subscriptions on one hub
// (EventSource with topic=, EventSource with match_urlpattern=, and fetch
// with the QUERY method) receive the same updates.
func TestBrowserBothDialectsReceiveTheSameUpdates(t *testing.T) {
	n := startNode(t, Config{})
	page := servePage(t, n.srv.Handler())
	tab := openPage(t, page.URL)
	got := runJS[dialectObservation](t, tab, jsCall(t, bothDialects, map[string]any{
		"token": token(t, publisherKey, []string{"*"}, nil),
	}))
	want := []string{"b1", "b2"}
	if !slices.Equal(got.Legacy, want) || !slices.Equal(got.Modern, want) {
		t.Fatalf("the 0.x EventSource received %q, the 1.0 one %q; want both %q", got.Legacy, got.Modern, want)
	}
	if got.QueryStatus != 200 || got.QueryType != "text/event-stream" || !strings.Contains(got.QueryText, "id: b1") {
		t.Fatalf("QUERY subscription: %d %q, read %q; want 200 text/event-stream with b1", got.QueryStatus, got.QueryType, got.QueryText)
	}
}
