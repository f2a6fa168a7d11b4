package cors

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestAllowsOnlyTheListedOrigins(t *testing.T) {
	cases := []struct {
		origins []string
		origin  string
		want    bool
	}{
		{nil, "https://app.example", false},
		{[]string{"https://app.example"}, "https://app.example", true},
		{[]string{"https://app.example/"}, "https://app.example", true},
		{[]string{"https://App.Example"}, "https://app.example", true},
		{[]string{"https://app.example"}, "https://app.example.evil", false},
		{[]string{"https://app.example"}, "http://app.example", false},
		{[]string{"https://app.example"}, "", false},
		{[]string{"*"}, "https://anyone.example", true},
		{[]string{"*"}, "", false},
	}
	for _, tt := range cases {
		if got := (Policy{Origins: tt.origins}).Allows(tt.origin); got != tt.want {
			t.Errorf("%v allows %q: %v, want %v", tt.origins, tt.origin, got, tt.want)
		}
	}
}

func TestHandlerAnswersPreflightsAndPassesTheRest(t *testing.T) {
	served := 0
	h := Policy{Origins: []string{"https://app.example"}}.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { served++ }))
	pre := httptest.NewRequest("OPTIONS", "/api/jobs/a/cancel", nil)
	pre.Header.Set("Origin", "https://app.example")
	pre.Header.Set("Access-Control-Request-Method", "POST")
	w := httptest.NewRecorder()
	h.ServeHTTP(w, pre)
	if w.Code != http.StatusNoContent || served != 0 || w.Header().Get("Access-Control-Allow-Methods") == "" {
		t.Fatalf("preflight: %d, served %d times, headers %v; want 204 answered by the policy", w.Code, served, w.Header())
	}
	get := httptest.NewRequest("GET", "/herald.js", nil)
	get.Header.Set("Origin", "https://other.example")
	w = httptest.NewRecorder()
	h.ServeHTTP(w, get)
	if served != 1 || w.Header().Get("Access-Control-Allow-Origin") != "" || w.Header().Get("Vary") != "Origin" {
		t.Fatalf("GET from an origin not allowed: served %d times, headers %v; want served without CORS headers, Vary: Origin", served, w.Header())
	}
}

// TestPreflightAllowsQuery checks that a browser may subscribe with the
// QUERY method (Mercure 1.0) and read the 1.0 cursor header.
func TestPreflightAllowsQuery(t *testing.T) {
	p := Policy{Origins: []string{"https://app.example"}}
	pre := httptest.NewRequest("OPTIONS", "/.well-known/mercure", nil)
	pre.Header.Set("Origin", "https://app.example")
	pre.Header.Set("Access-Control-Request-Method", "QUERY")
	w := httptest.NewRecorder()
	p.Apply(w, pre)
	if m := w.Header().Get("Access-Control-Allow-Methods"); !strings.Contains(m, "QUERY") {
		t.Fatalf("Access-Control-Allow-Methods = %q, want QUERY among them", m)
	}
	get := httptest.NewRequest("GET", "/.well-known/mercure", nil)
	get.Header.Set("Origin", "https://app.example")
	w = httptest.NewRecorder()
	p.Apply(w, get)
	if e := w.Header().Get("Access-Control-Expose-Headers"); !strings.Contains(e, "Mercure-Last-Event-ID") {
		t.Fatalf("Access-Control-Expose-Headers = %q, want Mercure-Last-Event-ID among them", e)
	}
}

// TestWildcardNeverAllowsCredentials checks that "*" never turns into a
// credentialed answer: an origin allowed only through it gets
// Access-Control-Allow-Origin: * and no Access-Control-Allow-Credentials,
// while a listed origin is named and may send cookies.
func TestWildcardNeverAllowsCredentials(t *testing.T) {
	p := Policy{Origins: []string{"https://app.example", "*"}}
	for _, tt := range []struct {
		origin, allowOrigin, credentials string
	}{
		{"https://app.example", "https://app.example", "true"},
		{"https://anyone.example", "*", ""},
	} {
		for _, preflight := range []bool{false, true} {
			r := httptest.NewRequest("GET", "/.well-known/mercure", nil)
			if preflight {
				r = httptest.NewRequest("OPTIONS", "/.well-known/mercure", nil)
				r.Header.Set("Access-Control-Request-Method", "GET")
			}
			r.Header.Set("Origin", tt.origin)
			w := httptest.NewRecorder()
			p.Apply(w, r)
			if got, cred := w.Header().Get("Access-Control-Allow-Origin"), w.Header().Get("Access-Control-Allow-Credentials"); got != tt.allowOrigin || cred != tt.credentials {
				t.Errorf("from %s (preflight %v): Allow-Origin %q, Allow-Credentials %q; want %q, %q", tt.origin, preflight, got, cred, tt.allowOrigin, tt.credentials)
			}
		}
	}
}
