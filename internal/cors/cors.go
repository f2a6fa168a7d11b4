package cors

import (
	"net/http"
	"slices"
	"strings"
)

// Policy lets pages of the listed origins ("https://app.example.com") call
// the hub from a browser, with credentials (cookies); "*" lets pages of any
// other origin call it without credentials. The zero Policy allows no other
// origin. A Policy is safe for concurrent use.
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
	return slices.Contains(p.Origins, "*") || p.listed(origin)
}

// listed reports whether origin is one of p.Origins itself (not through
// "*"): only such an origin may call the hub with credentials.
func (p Policy) listed(origin string) bool {
	for _, o := range p.Origins {
		if o != "*" && strings.EqualFold(strings.TrimSuffix(o, "/"), origin) {
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
	if p.listed(origin) {
		h.Set("Access-Control-Allow-Origin", origin)
		h.Set("Access-Control-Allow-Credentials", "true")
	} else {
		// Allowed through "*" only: any page may call the hub, with a
		// token in the Authorization header, but never with its cookies
		// (Mercure 1.0 forbids credentialed CORS to a wildcard or a
		// reflected origin).
		h.Set("Access-Control-Allow-Origin", "*")
	}
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
