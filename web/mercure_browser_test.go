package web_test

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/heraldhub/herald/auth"
	"github.com/heraldhub/herald/internal/browsertest"
)

// publishAndListen runs in the page: it opens an EventSource on the
// selectors, waits for it to open, publishes the update with fetch (a form
// body and a bearer token), and reports whether the EventSource received
// that exact update within two seconds, with the publication's answer.
const publishAndListen = `async (selectors, topics, id, data, isPrivate, token) => {
  const url = new URL("/.well-known/mercure", location.origin);
  selectors.forEach((s) => url.searchParams.append("topic", s));
  const es = new EventSource(url);
  await new Promise((resolve, reject) => { es.onopen = resolve; setTimeout(() => reject(new Error("no open")), 5000); });
  const received = new Promise((resolve) => {
    es.onmessage = (e) => { if (e.lastEventId === id && e.data === data) resolve(true); };
    setTimeout(() => resolve(false), 2000);
  });
  const body = new URLSearchParams();
  topics.forEach((t) => body.append("topic", t));
  body.set("id", id);
  body.set("data", data);
  if (isPrivate) body.set("private", "on");
  const resp = await fetch("/.well-known/mercure", { method: "POST", headers: { Authorization: "Bearer " + token }, body });
  const answer = await resp.text();
  const got = await received;
  es.close();
  return JSON.stringify({ received: got, status: resp.status, contentType: resp.headers.get("Content-Type"), body: answer });
}`

func TestMercureBehaviourInABrowser(t *testing.T) {
	_, ts := startNode(t)
	key, _ := auth.SecretKey("browser-test-key-0123456789abcdef")
	token, err := key.Sign(auth.Claims{Publish: []string{"*"}, Subscribe: []string{"*"}, Expiry: time.Now().Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	browser := browsertest.New(t, 2*time.Minute)
	if err := chromedp.Do(browser, chromedp.Navigate(ts.URL+"/")); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name              string
		topics, selectors []string
		private, received bool
	}{
		{"an exact topic", []string{"plain-1"}, []string{"plain-1"}, false, true},
		{"one of several topics", []string{"other-2", "plain-2"}, []string{"plain-2"}, false, true},
		{"one of several selectors", []string{"plain-3"}, []string{"unrelated", "plain-3"}, false, true},
		{"an IRI", []string{"https://example.net/books/4"}, []string{"https://example.net/books/4"}, false, true},
		{"a URI template", []string{"https://example.net/books/5"}, []string{"https://example.net/books/{id}"}, false, true},
		{"a different topic", []string{"plain-6}"}, []string{"another-6"}, false, false},
		{"a different IRI", []string{"https://example.net/books/7}"}, []string{"https://example.net/books/other"}, false, false},
		{"a template that does not match", []string{"https://example.net/books/8}"}, []string{"https://example.net/authors/{id}"}, false, false},
		{"a private update, anonymous subscriber", []string{"plain-9"}, []string{"plain-9"}, true, false},
		{"a private update on an IRI", []string{"https://example.net/books/10"}, []string{"https://example.net/books/10"}, true, false},
		{"a private update on a template", []string{"https://example.net/books/11"}, []string{"https://example.net/books/{id}"}, true, false},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			id := fmt.Sprintf(`id-%d-"%s"`, i, tc.name) // a custom id with quotes and spaces
			data := "data for\n\n  " + tc.name
			args, _ := json.Marshal([]any{tc.selectors, tc.topics, id, data, tc.private, token})
			out, err := chromedp.Run(browser, chromedp.Evaluate[string](fmt.Sprintf("(%s)(...%s)", publishAndListen, args), chromedp.EvalAwaitPromise))
			if err != nil {
				t.Fatal(err)
			}
			var got struct {
				Received    bool
				Status      int
				ContentType string
				Body        string
			}
			if err := json.Unmarshal([]byte(out), &got); err != nil {
				t.Fatal(err)
			}
			if got.Received != tc.received {
				t.Fatalf("received %v, want %v", got.Received, tc.received)
			}
			if got.Status != 200 || got.ContentType != "text/plain; charset=utf-8" || got.Body != id {
				t.Fatalf("publication answered %d %q %q, want 200, text/plain and the custom id", got.Status, got.ContentType, got.Body)
			}
		})
	}
}
