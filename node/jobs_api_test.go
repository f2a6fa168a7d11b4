package node

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/heraldhub/herald/jobs"
)

// call sends a JSON request to the jobs API and returns status and body.
func (n *node) call(t *testing.T, method, path, tok, body string) (int, string) {
	t.Helper()
	return n.send(t, method, path, "application/json", tok, body)
}

func TestJobsAPI(t *testing.T) {
	n := startNode(t, Config{SubscriberKey: subscriberKey})
	pub := token(t, publisherKey, []string{"jobs/{id}"}, nil)
	watcher := n.subscribe(t, "topic=jobs/import", nil)

	status, body := n.call(t, "POST", "/api/jobs", pub, `{"id":"import","title":"Import","stages":[{"name":"read","weight":1},{"name":"save","weight":3}],"total":10}`)
	if status != http.StatusCreated {
		t.Fatalf("create: %d %s", status, body)
	}
	if ev := watcher.next(t); ev.Type != "progress" || !strings.Contains(ev.Data, `"state":"running"`) {
		t.Fatalf("first event %+v, want a running progress event", ev)
	}
	status, body = n.call(t, "POST", "/api/jobs/import/progress", pub, `{"stage":"save","done":5,"total":10}`)
	if status != http.StatusOK {
		t.Fatalf("progress: %d %s", status, body)
	}
	var snap struct {
		Percent *float64 `json:"percent"`
		Stage   string   `json:"stage"`
		Seq     uint64   `json:"seq"`
	}
	json.Unmarshal([]byte(body), &snap)
	if snap.Stage != "save" || snap.Percent == nil || *snap.Percent != 62.5 {
		t.Fatalf("snapshot after progress %s, want stage save at 62.5%% (1 + 3×0.5 of 4)", body)
	}
	// curl -d '{…}' labels JSON as a form; it is read as JSON.
	curlReq, _ := http.NewRequest("POST", n.http.URL+"/api/jobs/import/progress", strings.NewReader(` {"stage":"save","done":5}`))
	curlReq.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	curlReq.Header.Set("Authorization", "Bearer "+pub)
	curlResp, err := n.http.Client().Do(curlReq)
	if err != nil {
		t.Fatal(err)
	}
	curlResp.Body.Close()
	if curlResp.StatusCode != http.StatusOK {
		t.Fatalf("JSON sent as a form: %s, want 200", curlResp.Status)
	}
	status, got := n.call(t, "GET", "/api/jobs/import", "", "")
	if status != http.StatusOK || !strings.Contains(got, `"stage":"save"`) {
		t.Fatalf("get: %d %s", status, got)
	}

	// A new subscriber first receives the current snapshot.
	late := n.subscribe(t, "topic=jobs/import", nil)
	if ev := late.next(t); !strings.Contains(ev.Data, `"stage":"save"`) || ev.ID != "" {
		t.Fatalf("late subscriber's first event %+v, want the current snapshot without an id", ev)
	}

	bad := []struct {
		name, method, path, tok, body string
		status                        int
		reason                        string
	}{
		{"missing token", "POST", "/api/jobs/import/progress", "", `{"done":1}`, 401, "token"},
		{"forged token", "POST", "/api/jobs/import/progress", token(t, "forged", []string{"*"}, nil), `{"done":1}`, 401, ""},
		{"token for other topics", "POST", "/api/jobs/import/progress", token(t, publisherKey, []string{"orders/{id}"}, nil), `{"done":1}`, 403, "jobs/import"},
		{"unknown job", "POST", "/api/jobs/nope/progress", pub, `{"done":1}`, 404, "no such job"},
		{"unknown job read", "GET", "/api/jobs/nope", "", "", 404, "no such job"},
		{"done > total", "POST", "/api/jobs/import/progress", pub, `{"done":11}`, 400, "greater than total"},
		{"unknown stage", "POST", "/api/jobs/import/progress", pub, `{"stage":"x","done":1}`, 400, "unknown stage"},
		{"malformed JSON", "POST", "/api/jobs/import/progress", pub, `{"done":`, 400, "JSON"},
		{"unknown field", "POST", "/api/jobs/import/progress", pub, `{"dne":1}`, 400, "dne"},
		{"bad state", "POST", "/api/jobs/import/finish", pub, `{"state":"done"}`, 400, "succeeded, failed or cancelled"},
		{"duplicate id", "POST", "/api/jobs", pub, `{"id":"import"}`, 409, "already exists"},
		{"bad id", "POST", "/api/jobs", pub, `{"id":"a b"}`, 400, "id"},
		{"anonymous cancel", "POST", "/api/jobs/import/cancel", "", "", 401, "token"},
	}
	for _, tt := range bad {
		status, body := n.call(t, tt.method, tt.path, tt.tok, tt.body)
		if status != tt.status || !strings.Contains(body, tt.reason) || strings.Contains(body, "\n") {
			t.Errorf("%s: %d %q, want %d with a one-line reason mentioning %q", tt.name, status, body, tt.status, tt.reason)
		}
	}
	// A form-encoded result must be JSON too.
	req, _ := http.NewRequest("POST", n.http.URL+"/api/jobs/import/finish", strings.NewReader("state=succeeded&result=%7Boops"))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Authorization", "Bearer "+pub)
	resp, err := n.http.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(b), "not valid JSON") {
		t.Errorf("non-JSON result: %d %q, want 400", resp.StatusCode, b)
	}
	_, after := n.call(t, "GET", "/api/jobs/import", "", "")
	var afterSnap struct{ Seq uint64 }
	json.Unmarshal([]byte(after), &afterSnap)
	if afterSnap.Seq != snap.Seq {
		t.Fatalf("bad requests changed the job: seq %d → %d", snap.Seq, afterSnap.Seq)
	}

	// A subscriber allowed to read the job may cancel it; the worker learns
	// it from its next report.
	sub := token(t, subscriberKey, nil, []string{"jobs/import"})
	if status, body := n.call(t, "POST", "/api/jobs/import/cancel", sub, ""); status != http.StatusAccepted {
		t.Fatalf("cancel by an authorized subscriber: %d %s", status, body)
	}
	req, _ = http.NewRequest("POST", n.http.URL+"/api/jobs/import/progress", strings.NewReader(`{"done":6}`))
	req.Header.Set("Authorization", "Bearer "+pub)
	resp, err = n.http.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.Header.Get("Herald-Cancel-Requested") != "true" {
		t.Fatal("the worker's next report was not told that a cancel was requested")
	}
	if status, body := n.call(t, "POST", "/api/jobs/import/finish", pub, `{"state":"cancelled"}`); status != http.StatusOK || !strings.Contains(body, `"state":"cancelled"`) {
		t.Fatalf("finish as cancelled: %d %s", status, body)
	}
	if status, body := n.call(t, "POST", "/api/jobs/import/progress", pub, `{"done":7}`); status != http.StatusConflict {
		t.Fatalf("progress after finish: %d %s, want 409", status, body)
	}
}

// A node restarted on a persistent log still knows the jobs under way and
// gives a new subscriber their state at once.
func TestRestartedNodeRecoversRunningJobs(t *testing.T) {
	logSpec := "bolt:" + t.TempDir() + "/herald.db"
	dir := t.TempDir()
	first, err := New(context.Background(), Config{Log: logSpec, PublisherKey: publisherKey, DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	job, err := first.Jobs().Start(ctx, jobs.Spec{ID: "nightly", Title: "Nightly import", Total: 10})
	if err != nil {
		t.Fatal(err)
	}
	if err := job.Progress(ctx, "", 4, 0, "row 4"); err != nil {
		t.Fatal(err)
	}
	first.Drain()
	if err := first.Close(); err != nil {
		t.Fatal(err)
	}

	n := startNode(t, Config{Log: logSpec, DataDir: dir})
	s, err := n.srv.Jobs().Get("nightly")
	if err != nil {
		t.Fatalf("the restarted node lost the running job: %v", err)
	}
	if s.State != jobs.Running || s.Done != 4 || s.Title != "Nightly import" {
		t.Fatalf("recovered %+v, want running with 4 done", s)
	}
	watcher := n.subscribe(t, "topic=jobs/nightly", nil)
	if ev := watcher.next(t); ev.Type != "progress" || !strings.Contains(ev.Data, `"done":4`) {
		t.Fatalf("first event %+v, want the job's snapshot with 4 done", ev)
	}
}
