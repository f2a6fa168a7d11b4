package web_test

import (
	"io"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/heraldhub/herald/web"
)

func TestHeraldJSIsServedAndNothingElse(t *testing.T) {
	srv := httptest.NewServer(web.Handler())
	defer srv.Close()
	resp, err := srv.Client().Get(srv.URL + "/herald.js")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(resp.Header.Get("Content-Type"), "javascript") || resp.Header.Get("Cache-Control") != "no-cache" {
		t.Errorf("/herald.js: %s, Content-Type %q, Cache-Control %q", resp.Status, resp.Header.Get("Content-Type"), resp.Header.Get("Cache-Control"))
	}
	for _, w := range []string{"export function subscribe(", `customElements.define("herald-progress"`} {
		if !strings.Contains(string(b), w) {
			t.Errorf("/herald.js lacks %q", w)
		}
	}
	for _, path := range []string{"/", "/demo.js", "/index.html"} {
		resp, err := srv.Client().Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 404 {
			t.Errorf("%s: %s, want 404: the demo is internal/demo's", path, resp.Status)
		}
	}
	post, err := srv.Client().Post(srv.URL+"/api/demo/query", "application/json", nil)
	if err != nil {
		t.Fatal(err)
	}
	post.Body.Close()
	if post.StatusCode != 404 && post.StatusCode != 405 {
		t.Errorf("demo query: %s, want 404 or 405", post.Status)
	}
}
