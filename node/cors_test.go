package node

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/heraldhub/herald/internal/browsertest"
	"github.com/heraldhub/herald/jobs"
)

func TestCORSCoversEverythingACrossOriginPageUses(t *testing.T) {
	const page = "https://app.example"
	n := startNode(t, Config{CORSOrigins: []string{page}})
	if _, err := n.srv.Jobs().Start(context.Background(), jobs.Spec{ID: "import-42"}); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name, method, path, origin string
		preflight                  bool
		allowed                    bool
	}{
		{"herald.js", "GET", "/herald.js", page, false, true},
		{"a job's snapshot", "GET", "/api/jobs/import-42", page, false, true},
		{"the jobs list", "GET", "/api/jobs", page, false, true},
		{"preflight of a job's cancel", "OPTIONS", "/api/jobs/import-42/cancel", page, true, true},
		{"preflight of a job's creation", "OPTIONS", "/api/jobs", page, true, true},
		{"subscribe", "GET", "/.well-known/mercure?topic=jobs/import-42", page, false, true},
		{"preflight of a publication", "OPTIONS", "/.well-known/mercure", page, true, true},
		{"herald.js from another origin", "GET", "/herald.js", "https://other.example", false, false},
		{"preflight from another origin", "OPTIONS", "/api/jobs/import-42/cancel", "https://other.example", true, false},
	}
	for _, tt := range cases {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequest(tt.method, n.http.URL+tt.path, nil)
			req.Header.Set("Origin", tt.origin)
			if tt.preflight {
				req.Header.Set("Access-Control-Request-Method", "POST")
				req.Header.Set("Access-Control-Request-Headers", "authorization, content-type")
			}
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel() // ends a subscription
			resp, err := n.http.Client().Do(req.WithContext(ctx))
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			h := resp.Header
			got := h.Get("Access-Control-Allow-Origin")
			switch {
			case !tt.allowed && got != "":
				t.Fatalf("Access-Control-Allow-Origin %q for an origin not allowed", got)
			case !tt.allowed:
				return
			case got != tt.origin || h.Get("Access-Control-Allow-Credentials") != "true":
				t.Fatalf("%s: Access-Control-Allow-Origin %q, Allow-Credentials %q, want %q and true", resp.Status, got, h.Get("Access-Control-Allow-Credentials"), tt.origin)
			}
			if tt.preflight && (resp.StatusCode != http.StatusNoContent || h.Get("Access-Control-Allow-Methods") == "" || h.Get("Access-Control-Allow-Headers") == "") {
				t.Errorf("preflight answered %s with methods %q and headers %q, want 204 allowing POST with Authorization",
					resp.Status, h.Get("Access-Control-Allow-Methods"), h.Get("Access-Control-Allow-Headers"))
			}
		})
	}
}

// progressPage is the README's cross-origin snippet, for a hub at %[1]s.
const progressPage = `<!doctype html>
<meta charset="utf-8">
<title>Another site</title>
<script type="module" src="%[1]s/herald.js"></script>
<herald-progress hub="%[1]s" job="import-42"></herald-progress>
`

func TestHeraldProgressFromAnotherOriginRendersTheJob(t *testing.T) {
	hubURL := make(chan string, 1)
	site := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		u := <-hubURL
		hubURL <- u
		fmt.Fprintf(w, progressPage, u)
	}))
	t.Cleanup(site.Close)
	// The page and the hub are two origins: two loopback ports.
	n := startNode(t, Config{CORSOrigins: []string{site.URL}})
	hubURL <- n.http.URL

	ctx := context.Background()
	job, err := n.srv.Jobs().Start(ctx, jobs.Spec{ID: "import-42", Title: "Import", Stages: []jobs.Stage{{Name: "read", Weight: 1}}, Total: 10})
	if err != nil {
		t.Fatal(err)
	}
	if err := job.Progress(ctx, "read", 4, 10, ""); err != nil {
		t.Fatal(err)
	}
	tab := browsertest.New(t, 60*time.Second)
	if err := chromedp.Do(tab, chromedp.Navigate(site.URL+"/")); err != nil {
		t.Fatal(err)
	}
	browsertest.WaitFor(t, tab, "the job's progress rendered from another origin",
		`document.querySelector("herald-progress .hp-percent")?.textContent === "40%"`, 20*time.Second)
}
