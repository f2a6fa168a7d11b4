package presence

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/heraldhub/herald/auth"
	"github.com/heraldhub/herald/eventlog"
	"github.com/heraldhub/herald/internal/authz"
	"github.com/heraldhub/herald/internal/httperr"
)

// Verifier authenticates a subscriber's token (see mercure.Verifier).
type Verifier interface {
	Verify(r *http.Request) (*auth.Claims, error)
}

// hubPath is the path of the Mercure hub, named by the Link cursor.
const hubPath = "/.well-known/mercure"

// Handler returns the subscriptions API: GET Prefix and the paths below
// it. A path whose first segment names a matcher type (exact, urlpattern,
// uritemplate) is 1.0 (/{match_type}/{match}[/{subscriber}], plain JSON,
// the cursor in the Link header); other paths are 0.x
// (/{topic}[/{subscriber}], JSON-LD with lastEventID). Prefix itself
// answers in 1.0 unless the request accepts application/ld+json. The
// request needs a subscriber token (verified by v) whose subscribe grants
// match the path, %-encoded as the events' topics are, by the policy that
// decides who receives private updates (internal/authz; URL patterns are
// resolved against the hub's URL): 401 without one, 403 with an RFC 6750
// insufficient_scope challenge if they do not.
func (t *Tracker) Handler(v Verifier) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			httperr.Write(w, httperr.Errorf(http.StatusMethodNotAllowed, "method %s not allowed: the subscriptions API answers GET", r.Method))
			return
		}
		q, err := parsePath(r.URL.EscapedPath(), strings.Contains(r.Header.Get("Accept"), "application/ld+json"))
		if err != nil {
			httperr.Write(w, err)
			return
		}
		if v == nil {
			httperr.Write(w, httperr.Errorf(http.StatusUnauthorized, "the subscriptions API needs a subscriber token, but no subscriber key is configured (--subscriber-key)"))
			return
		}
		claims, err := v.Verify(r)
		if err != nil {
			httperr.Write(w, err)
			return
		}
		grants, err := authz.Subscribe(claims, hubURL(r))
		if err != nil {
			httperr.Write(w, err)
			return
		}
		if !grants.Match(q.topic) {
			httperr.Write(w, fmt.Errorf("%w to read %s: the token's subscribe grants do not match it", auth.ErrForbidden, q.topic))
			return
		}
		body, err := t.answer(q)
		if err != nil {
			httperr.Write(w, err)
			return
		}
		h := w.Header()
		h.Set("Content-Type", q.contentType())
		h.Set("Cache-Control", "private, no-store")
		h.Set("Link", `<`+hubPath+`>; rel="mercure"; last-event-id="`+quote(body.cursor)+`"`)
		if r.Method == http.MethodGet {
			w.Write(body.json)
		}
	})
}

// query is a parsed request path.
type query struct {
	v1       bool
	segments []string // decoded, after Prefix
	topic    string   // the canonical path, as a topic
}

func (q *query) contentType() string {
	if q.v1 {
		return "application/json"
	}
	return "application/ld+json"
}

// parsePath parses the %-encoded path of a request below Prefix; ld says
// whether Prefix itself is asked for in the 0.x shape.
func parsePath(p string, ld bool) (query, error) {
	rest, ok := strings.CutPrefix(p, Prefix)
	if !ok || rest != "" && rest[0] != '/' {
		return query{}, httperr.Errorf(http.StatusNotFound, "no such path: the subscriptions API is at %s", Prefix)
	}
	q := query{v1: !ld, topic: Prefix}
	if rest = strings.TrimPrefix(rest, "/"); rest == "" {
		return q, nil
	}
	for _, s := range strings.Split(rest, "/") {
		d, err := url.PathUnescape(s)
		if err != nil || d == "" {
			return query{}, httperr.Errorf(http.StatusBadRequest, "invalid path segment %q: %%-encode each of match_type, match, topic and subscriber once, none empty", s)
		}
		q.segments = append(q.segments, d)
	}
	n := len(q.segments)
	switch {
	case isMatchType(q.segments[0]) && (n == 2 || n == 3):
		q.v1 = true
	case n <= 2:
		q.v1 = false
	default:
		return query{}, httperr.Errorf(http.StatusNotFound, "no such path: use %s/{match_type}/{match}[/{subscriber}] or %s/{topic}[/{subscriber}]", Prefix, Prefix)
	}
	q.topic = topic(q.segments...)
	return q, nil
}

// hubURL returns the URL of the hub r was sent to (see mercure.HubURL),
// against which the URL patterns of the token's grants, and the path they
// test, are resolved.
func hubURL(r *http.Request) string {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host + hubPath
}

// answer is a response body and the cursor it is valid at.
type answer struct {
	json   []byte
	cursor string
}

// answer lists the active subscriptions q asks for, with the id of the
// last subscription event (of q's shape) applied to the list: subscribing
// to the events from it misses none.
func (t *Tracker) answer(q query) (answer, error) {
	seg := q.segments
	keep := func(e *entry) bool { return true }
	switch {
	case q.v1 && len(seg) >= 2:
		keep = func(e *entry) bool {
			return e.matchType == seg[0] && e.match == seg[1] && (len(seg) == 2 || e.subscriber == seg[2])
		}
	case !q.v1 && len(seg) >= 1:
		keep = func(e *entry) bool { return e.match == seg[0] && (len(seg) == 1 || e.subscriber == seg[1]) }
	}
	var list string
	switch {
	case q.v1 && len(seg) >= 2:
		list = filterOf(true, seg[0], seg[1])
	case !q.v1 && len(seg) >= 1:
		list = filterOf(false, "", seg[0])
	}
	es, cursor := t.list(keep, q.v1, list)
	a := answer{cursor: cursor}
	if a.cursor == "" {
		a.cursor = eventlog.Earliest
	}
	single := len(seg) == 3 || !q.v1 && len(seg) == 2
	if single && len(es) == 0 {
		return a, httperr.Errorf(http.StatusNotFound, "no active subscription at %s", q.topic)
	}
	var v any
	switch {
	case q.v1 && single:
		v = es[0].event(true)
	case q.v1:
		list := make([]Event, len(es))
		for i, e := range es {
			list[i] = e.event(true)
		}
		v = struct {
			ID            string  `json:"id"`
			Type          string  `json:"type"`
			Subscriptions []Event `json:"subscriptions"`
		}{q.topic, "subscriptions", list}
	case single:
		lg := es[0].legacy(true)
		lg.LastEventID = &a.cursor
		v = lg
	default:
		list := make([]LegacyEvent, len(es))
		for i, e := range es {
			list[i] = e.legacy(true)
			list[i].Context = ""
		}
		v = struct {
			Context       string        `json:"@context"`
			ID            string        `json:"id"`
			Type          string        `json:"type"`
			LastEventID   string        `json:"lastEventID"`
			Subscriptions []LegacyEvent `json:"subscriptions"`
		}{jsonLDContext, q.topic, "Subscriptions", a.cursor, list}
	}
	var err error
	a.json, err = json.Marshal(v)
	return a, err
}

// list returns copies of the active subscriptions keep keeps, sorted,
// and the cursor of the list named by filter ("" for all of them) in the
// 1.0 shape or the 0.x one: the id of its last event if it has
// subscriptions, else of the last event of that shape.
func (t *Tracker) list(keep func(*entry) bool, v1 bool, filter string) (es []entry, cursor string) {
	t.mu.Lock()
	for _, e := range t.entries {
		if keep(e) {
			es = append(es, *e)
		}
	}
	cursor = t.lastV1
	if !v1 {
		cursor = t.lastV0
	}
	if f := t.filters[filter]; filter != "" && f != nil && f.last != "" {
		cursor = f.last
	}
	t.mu.Unlock()
	slices.SortFunc(es, func(a, b entry) int {
		return strings.Compare(a.matchType+"\x00"+a.match+"\x00"+a.subscriber, b.matchType+"\x00"+b.match+"\x00"+b.subscriber)
	})
	return es, cursor
}

// quote escapes s for a quoted-string of a header parameter.
func quote(s string) string {
	return strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(s)
}
