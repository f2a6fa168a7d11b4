package heraldclient_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/heraldhub/herald/auth"
	"github.com/heraldhub/herald/client"
	"github.com/heraldhub/herald/heraldclient"
	"github.com/heraldhub/herald/jobs"
	"github.com/heraldhub/herald/node"
	"github.com/heraldhub/herald/sse"
	"go.uber.org/goleak"
)

const testKey = "heraldclient-test-key-0123456789abcdef"

// Watch's subscriptions and the examples' hubs leave no goroutine behind.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// startHub starts a node on a memory log behind a loopback server and
// returns its URL.
func startHub(t testing.TB) string {
	t.Helper()
	srv, err := node.New(context.Background(), node.Config{
		Log: "memory", DataDir: t.TempDir(), NoDemo: true,
		PublisherKey: testKey, SubscriberKey: testKey,
	})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(srv.Handler())
	t.Cleanup(func() {
		srv.Drain()
		ts.Close()
		srv.Close()
	})
	return ts.URL
}

// token signs claims with the test key.
func token(t testing.TB, c auth.Claims) string {
	t.Helper()
	k, err := auth.SecretKey(testKey)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := k.Sign(c)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// newClient returns a client of hub with a token allowed topics.
func newClient(t testing.TB, hub string, topics ...string) *heraldclient.Client {
	t.Helper()
	c, err := heraldclient.New(hub, token(t, auth.Claims{Publish: topics, Subscribe: topics}))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestPublishSendsEveryFieldAndReturnsTheID(t *testing.T) {
	hub := startHub(t)
	c := newClient(t, hub, "orders/{id}")
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()

	connected := make(chan struct{})
	got := make(chan sse.Event, 1)
	subErr := make(chan error, 1)
	go func() {
		h := http.Header{"Authorization": {"Bearer " + token(t, auth.Claims{Subscribe: []string{"orders/{id}"}})}}
		subErr <- client.Subscribe(ctx, c.MercureURL()+"?topic="+url.QueryEscape("orders/7"), client.Options{
			Header:    h,
			OnConnect: func(*http.Response) { close(connected) },
		}, func(ev sse.Event) error {
			got <- ev
			return errors.New("one is enough")
		})
	}()
	<-connected
	id, err := c.Publish(ctx, heraldclient.Update{
		Topics: []string{"orders/1", "orders/7"}, Data: "line 1\nline 2",
		ID: "order-1-shipped", Type: "shipped", Retry: 1500 * time.Millisecond, Private: true,
	})
	if err != nil || id != "order-1-shipped" {
		t.Fatalf("Publish = %q, %v; want the update's own id", id, err)
	}
	ev := <-got
	if ev.ID != id || ev.Type != "shipped" || ev.Data != "line 1\nline 2" || ev.Retry != 1500*time.Millisecond {
		t.Fatalf("the subscriber received %+v, want every field published", ev)
	}
	<-subErr

	// Without an id, the hub assigns one.
	if id, err := c.Publish(ctx, heraldclient.Update{Topics: []string{"orders/2"}}); err != nil || id == "" {
		t.Fatalf("Publish without an id = %q, %v; want the id the hub assigned", id, err)
	}
}

func TestPublishRefusalCarriesTheStatusAndTheHubsReason(t *testing.T) {
	hub := startHub(t)
	forged, _ := heraldclient.New(hub, "not.a.token")
	narrow := newClient(t, hub, "orders/{id}")
	for _, tc := range []struct {
		c      *heraldclient.Client
		topic  string
		status int
	}{
		{forged, "orders/1", http.StatusUnauthorized},
		{narrow, "invoices/1", http.StatusForbidden},
	} {
		_, err := tc.c.Publish(t.Context(), heraldclient.Update{Topics: []string{tc.topic}, Data: "x"})
		var he *heraldclient.Error
		if !errors.As(err, &he) || he.StatusCode != tc.status || he.Reason == "" || strings.Contains(err.Error(), "\n") {
			t.Errorf("publish to %s: %v; want a one-line *Error with status %d and a reason", tc.topic, err, tc.status)
		}
	}
	if _, err := narrow.Publish(t.Context(), heraldclient.Update{Data: "x"}); err == nil || !strings.Contains(err.Error(), "no topic") {
		t.Errorf("publish without a topic: %v, want a refusal before sending", err)
	}
	down, _ := heraldclient.New("http://127.0.0.1:1", "t")
	if _, err := down.Publish(t.Context(), heraldclient.Update{Topics: []string{"a"}}); err == nil || !strings.Contains(err.Error(), "cannot reach the hub") {
		t.Errorf("publish to no hub: %v, want it said", err)
	}
}

func TestNewAcceptsTheBaseURLOrTheEndpoint(t *testing.T) {
	for _, u := range []string{"http://h:8080", "http://h:8080/", "http://h:8080/.well-known/mercure"} {
		c, err := heraldclient.New(u, "")
		if err != nil || c.MercureURL() != "http://h:8080/.well-known/mercure" {
			t.Errorf("New(%q): %v, %v", u, c, err)
		}
	}
	for _, u := range []string{"h:8080", "ftp://h", "http://", "::"} {
		if _, err := heraldclient.New(u, ""); err == nil || !strings.Contains(err.Error(), "invalid hub URL") {
			t.Errorf("New(%q): %v, want a refusal", u, err)
		}
	}
}

func TestJobsReportAJobsLifeThatWatchFollowsToItsEnd(t *testing.T) {
	hub := startHub(t)
	j := newClient(t, hub, "jobs/{id}").Jobs()
	ctx, cancel := context.WithTimeout(t.Context(), 15*time.Second)
	defer cancel()

	s, err := j.Create(ctx, jobs.Spec{ID: "import", Stages: []jobs.Stage{{Name: "read", Weight: 1}, {Name: "save", Weight: 3}}, Total: 10})
	if err != nil || s.ID != "import" || s.State != jobs.Running {
		t.Fatalf("Create = %+v, %v", s, err)
	}
	var seen []jobs.Snapshot
	watched := make(chan error, 1)
	go func() {
		watched <- j.Watch(ctx, "import", func(s jobs.Snapshot) error {
			seen = append(seen, s)
			return nil
		})
	}()
	total := 8.0
	if s, err = j.Progress(ctx, "import", jobs.Report{Stage: "save", Done: 4, Total: &total}); err != nil || s.Stage != "save" || s.Done != 4 {
		t.Fatalf("Progress = %+v, %v", s, err)
	}
	if first, last, err := j.Log(ctx, "import", "reading", "saving"); err != nil || first != 1 || last != 2 {
		t.Fatalf("Log = %d, %d, %v; want lines 1 to 2", first, last, err)
	}
	if s, err = j.Finish(ctx, "import", jobs.Outcome{State: jobs.Succeeded, Result: []byte(`{"rows":8}`)}); err != nil || s.State != jobs.Succeeded {
		t.Fatalf("Finish = %+v, %v", s, err)
	}
	if err := <-watched; err != nil {
		t.Fatalf("Watch = %v, want nil once the job ended", err)
	}
	last := seen[len(seen)-1]
	if last.State != jobs.Succeeded || string(last.Result) != `{"rows":8}` {
		t.Fatalf("the last snapshot watched is %+v, want the result", last)
	}
	for i := 1; i < len(seen); i++ {
		if !seen[i].Supersedes(&seen[i-1]) {
			t.Fatalf("snapshot %d (seq %d) does not supersede the one before (seq %d)", i, seen[i].Seq, seen[i-1].Seq)
		}
	}
}

func TestJobsProgressAfterCancelSaysStopAndStartRunsAQueuedJob(t *testing.T) {
	hub := startHub(t)
	j := newClient(t, hub, "jobs/{id}").Jobs()
	ctx := t.Context()
	if s, err := j.Create(ctx, jobs.Spec{ID: "later", Queue: "builds"}); err != nil || s.State != jobs.Queued {
		t.Fatalf("Create queued = %+v, %v", s, err)
	}
	if s, err := j.Start(ctx, "later"); err != nil || s.State != jobs.Running {
		t.Fatalf("Start = %+v, %v", s, err)
	}
	if s, err := j.Cancel(ctx, "later"); err != nil || !s.CancelRequested {
		t.Fatalf("Cancel = %+v, %v", s, err)
	}
	s, err := j.Progress(ctx, "later", jobs.Report{Done: 1})
	if !errors.Is(err, jobs.ErrCancelRequested) || s.Done != 1 {
		t.Fatalf("Progress after a cancel = %+v, %v; want the report recorded and ErrCancelRequested", s, err)
	}
	_, err = j.Progress(ctx, "nope", jobs.Report{Done: 1})
	var he *heraldclient.Error
	if !errors.As(err, &he) || he.StatusCode != http.StatusNotFound || !strings.Contains(err.Error(), "404") {
		t.Fatalf("Progress of no job: %v, want a 404 *Error", err)
	}
	// An id is one path segment: it cannot name another route (here the
	// token allows no topic "jobs/later/cancel").
	if _, err := j.Finish(ctx, "later/cancel", jobs.Outcome{State: jobs.Failed}); !errors.As(err, &he) || he.StatusCode != http.StatusForbidden {
		t.Fatalf("Finish of an id with a slash: %v, want a 403 for that id", err)
	}
	if _, err := j.Start(ctx, ""); err == nil || !strings.Contains(err.Error(), "no job id") {
		t.Fatalf("Start without an id: %v, want a refusal before sending", err)
	}
	if _, _, err := j.Log(ctx, "later"); err != nil {
		t.Fatalf("Log of no lines: %v, want nothing sent", err)
	}
}
