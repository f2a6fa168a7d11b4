package mercure

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/heraldhub/herald/auth"
	"github.com/heraldhub/herald/eventlog"
	"github.com/heraldhub/herald/hub"
)

// publisher lets every request publish to every topic.
type publisher struct{}

func (publisher) Verify(*http.Request) (*auth.Claims, error) {
	return &auth.Claims{Publish: []string{"*"}}, nil
}

func newHandler(t testing.TB) (*Handler, *eventlog.Memory) {
	t.Helper()
	log := eventlog.NewMemory(4)
	h, err := hub.New(hub.Config{Log: log, NoDetach: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close(); log.Close() })
	m, err := New(Config{Hub: h, Publishers: publisher{}, MaxUpdateBytes: 4 << 10,
		Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	return m, log
}

// newest returns the log's newest update, the zero Update if none.
func newest(t testing.TB, log *eventlog.Memory) eventlog.Update {
	t.Helper()
	var last eventlog.Update
	_, err := log.Since(context.Background(), eventlog.Earliest, func(u eventlog.Update) bool {
		last = u
		return true
	})
	if err != nil {
		t.Fatal(err)
	}
	return last
}

// checkAnswer fails unless the response is a success, or a client error
// with a one-line reason.
func checkAnswer(t *testing.T, rec *httptest.ResponseRecorder, ok int) {
	t.Helper()
	body := rec.Body.String()
	switch {
	case rec.Code == ok:
	case rec.Code >= 400 && rec.Code < 500:
		if strings.Count(body, "\n") != 1 || !strings.HasSuffix(body, "\n") || len(strings.TrimSpace(body)) == 0 {
			t.Fatalf("status %d with reason %q, want one line", rec.Code, body)
		}
	default:
		t.Fatalf("status %d (%q), want %d or a client error", rec.Code, body, ok)
	}
}

// seed adds each input to f's seed corpus.
func seed(f *testing.F, inputs ...string) {
	for _, in := range inputs {
		f.Add(in)
	}
}

func FuzzPublish(f *testing.F) {
	seed(f, "topic=a&data=hello", "topic=a&topic=b&data=x%0Ay&id=u1&type=t&retry=100&private=on",
		"topic=a&data=x&id=%0A", "topic=a&type=a%0Db&data=x", "topic=a&retry=-1", "data=orphan",
		"topic=a&id=%25&data=%ff%fe", "topic=%zz")
	m, log := newHandler(f)
	f.Fuzz(func(t *testing.T, body string) {
		before := newest(t, log)
		req := httptest.NewRequest(http.MethodPost, Path, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		rec := httptest.NewRecorder()
		m.ServeHTTP(rec, req)
		checkAnswer(t, rec, http.StatusOK)
		after := newest(t, log)
		if rec.Code != http.StatusOK {
			if after.ID != before.ID {
				t.Fatalf("refused with %d (%q) but the log changed", rec.Code, rec.Body.String())
			}
			return
		}
		if id := rec.Body.String(); id == "" || id != after.ID || after.ID == before.ID {
			t.Fatalf("answered id %q, the log's newest is %q, before %q", id, after.ID, before.ID)
		}
		form, err := url.ParseQuery(body)
		if err != nil {
			t.Fatalf("accepted a body Go's form parser refuses: %v", err)
		}
		if after.Data != form.Get("data") || strings.Join(after.Topics, " ") != strings.Join(form["topic"], " ") {
			t.Fatalf("stored data %q topics %q, published %q %q", after.Data, after.Topics, form.Get("data"), form["topic"])
		}
	})
}

func FuzzSubscribeQuery(f *testing.F) {
	seed(f, "topic=a", "topic=https://example.com/books/{id}&topic=*", "topic={&lastEventID=x",
		"topic=", "lastEventID=earliest", "topic=%7Bx%7D%7By")
	m, _ := newHandler(f)
	f.Fuzz(func(t *testing.T, query string) {
		// HEAD checks the request's limits and token as GET would, without
		// compiling its selectors (hub's FuzzParseSelector covers them) or
		// opening a stream.
		req := httptest.NewRequest(http.MethodHead, "/", nil)
		req.URL.Path, req.URL.RawQuery = Path, query
		rec := httptest.NewRecorder()
		m.ServeHTTP(rec, req)
		checkAnswer(t, rec, http.StatusOK)
		if rec.Code == http.StatusOK && rec.Header().Get("Content-Type") != "text/event-stream" {
			t.Fatalf("HEAD answered 200 with Content-Type %q", rec.Header().Get("Content-Type"))
		}
	})
}

// FuzzUnderHubPath checks that the shortcut for absolute topics never
// answers otherwise than resolving the topic does.
func FuzzUnderHubPath(f *testing.F) {
	seed(f, "https://example.com/books/1", "https://h.example/.well-known/mercure", "urn:uuid:1",
		"HTTP://h.example/a/../.well-known/mercure/x", "https://h.example/%2Ewell-known/mercure", "mercure/x",
		"a+b-c.d:/.well-known/mercure", "1a:/x", ":x", "https:/.well-known/mercure", "ws://x/./.well-known/mercure/")
	f.Fuzz(func(t *testing.T, topic string) {
		for _, base := range []string{"http://h.example" + Path, "https://h.example:8443" + Path} {
			if absoluteOutside(topic) && resolvesUnderHubPath(topic, base) {
				t.Fatalf("%q resolves under %s against %s, but the shortcut says not", topic, Path, base)
			}
		}
	})
}
