package cors

import (
	"net/http"
	"slices"
	"strings"
)

// Policy lets pages of the listed origins ("https://app.example.com", or
// "*" for any) call the hub from a browser, with credentials (cookies). The
// zero Policy allows no other origin. A Policy is safe for concurrent use.
type Policy struct {
	Origins []string
}

// The headers a preflight allows and an answer exposes.
const (
	allowMethods  = "GET, QUERY, POST, OPTIONS"
	allowHeaders  = "Authorization, Cache-Control, Content-Type, Last-Event-ID, Mercure-Last-Event-ID"
	exposeHeaders = "Last-Event-ID, Mercure-Last-Event-ID, Link, Retry-After, Herald-Cancel-Requested"
)

// Allows reports whether pages of origin may call the hub.
func (p Policy) Allows(origin string) bool {
	if origin == "" || len(p.Origins) == 0 {
		return false
	}
	if slices.Contains(p.Origins, "*") {
		return true
	}
	for _, o := range p.Origins {
		if strings.EqualFold(strings.TrimSuffix(o, "/"), origin) {
			return true
		}
	}
	return false
}

// Apply sets the CORS headers of the answer to r. It reports whether r is a
// preflight (an OPTIONS request asking for a method), which the caller
// answers with 204 and no body.
func (p Policy) Apply(w http.ResponseWriter, r *http.Request) (preflight bool) {
	preflight = r.Method == http.MethodOptions && r.Header.Get("Access-Control-Request-Method") != ""
	if len(p.Origins) == 0 {
		return preflight
	}
	h := w.Header()
	h.Add("Vary", "Origin")
	origin := r.Header.Get("Origin")
	if !p.Allows(origin) {
		return preflight
	}
	h.Set("Access-Control-Allow-Origin", origin)
	h.Set("Access-Control-Allow-Credentials", "true")
	if preflight {
		h.Set("Access-Control-Allow-Methods", allowMethods)
		h.Set("Access-Control-Allow-Headers", allowHeaders)
		h.Set("Access-Control-Max-Age", "600")
	} else {
		h.Set("Access-Control-Expose-Headers", exposeHeaders)
	}
	return preflight
}

// Handler applies p to every answer of next, and answers preflights itself
// with 204.
func (p Policy) Handler(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if p.Apply(w, r) {
			w.WriteHeader(http.StatusNoContent)
			return
		}
		next.ServeHTTP(w, r)
	})
}
