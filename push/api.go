package push

import (
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/heraldhub/herald/auth"
	"github.com/heraldhub/herald/hub"
	"github.com/heraldhub/herald/internal/authz"
	"github.com/heraldhub/herald/internal/httperr"
	"github.com/heraldhub/herald/internal/outbound"
	"github.com/heraldhub/herald/mercure"
)

// Path is the prefix of the push subscriptions API.
const Path = "/api/push-subscriptions"

// Verifier verifies a request's subscriber token (nil claims and no error
// for a request without one); mercure.Verifier.
type Verifier = mercure.Verifier

// statuses maps the API's errors to HTTP statuses.
var statuses = httperr.Rules{{Err: outbound.ErrNotAllowed, Status: http.StatusBadRequest}}

// Request is the body of POST /api/push-subscriptions.
type Request struct {
	// Callback is the URL updates are POSTed to; its host must be allowed
	// (--push-allow).
	Callback string `json:"callback"`
	// Topics are 0.x topic selectors; Match and MatchType an optional 1.0
	// matcher. At least one selector is needed.
	Topics    []string `json:"topics,omitempty"`
	Match     string   `json:"match,omitempty"`
	MatchType string   `json:"match_type,omitempty"`
	// Secret signs the deliveries; empty generates one, returned once.
	Secret string `json:"secret,omitempty"`
}

// View is a subscription as the API answers it.
type View struct {
	ID         string             `json:"id"`
	Callback   string             `json:"callback"`
	Topics     []string           `json:"topics,omitempty"`
	Match      string             `json:"match,omitempty"`
	MatchType  string             `json:"match_type,omitempty"`
	Secret     string             `json:"secret,omitempty"`
	State      string             `json:"state"`
	Reason     string             `json:"reason,omitempty"`
	Cursor     string             `json:"cursor"`
	Failures   int                `json:"failures"`
	Node       string             `json:"node"`
	Created    time.Time          `json:"created"`
	Deliveries []outbound.Attempt `json:"deliveries"`
}

// Bounds on a request.
const (
	maxRequestBytes = 64 << 10
	maxSelectors    = 32
	minSecretBytes  = 16
	maxSecretBytes  = 256
)

// ParseRequest decodes and checks a creation request's body: a callback
// URL and at least one selector. The callback's host is checked by the
// caller.
func ParseRequest(body io.Reader) (Request, error) {
	var req Request
	dec := json.NewDecoder(io.LimitReader(body, maxRequestBytes))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		return req, httperr.Errorf(http.StatusBadRequest, "the body must be a JSON object with callback, topics (or match, match_type) and optionally secret: %v", err)
	}
	switch {
	case req.Callback == "":
		return req, httperr.Errorf(http.StatusBadRequest, "callback is required: the URL updates are POSTed to")
	case len(req.Topics) == 0 && req.Match == "":
		return req, httperr.Errorf(http.StatusBadRequest, "name the topics to push: topics (0.x selectors) or match (1.0)")
	case len(req.Topics) > maxSelectors:
		return req, httperr.Errorf(http.StatusBadRequest, "%d topics; at most %d", len(req.Topics), maxSelectors)
	case req.Secret != "" && (len(req.Secret) < minSecretBytes || len(req.Secret) > maxSecretBytes):
		return req, httperr.Errorf(http.StatusBadRequest, "secret must be %d to %d bytes, or empty to have one generated", minSecretBytes, maxSecretBytes)
	case req.MatchType != "" && req.Match == "":
		return req, httperr.Errorf(http.StatusBadRequest, "match_type needs a match")
	}
	return req, nil
}

// Disabled answers every request of the API while push subscriptions are
// off.
var Disabled http.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	httperr.LeaveBody(w, r)
	httperr.Write(w, httperr.Errorf(http.StatusNotFound, "push subscriptions are off: start herald with --push-allow HOST for each callback host"))
})

// Handler returns the API, authorizing with subs (subscriber tokens whose
// subscribe grants cover the subscription's selectors).
func (p *Pusher) Handler(subs Verifier) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST "+Path, func(w http.ResponseWriter, r *http.Request) { p.create(w, r, subs) })
	mux.HandleFunc("GET "+Path+"/{id}", func(w http.ResponseWriter, r *http.Request) {
		if s, ok := p.authorized(w, r, subs); ok {
			respond(w, http.StatusOK, p.view(s))
		}
	})
	mux.HandleFunc("DELETE "+Path+"/{id}", func(w http.ResponseWriter, r *http.Request) { p.change(w, r, subs, "delete") })
	mux.HandleFunc("POST "+Path+"/{id}/resume", func(w http.ResponseWriter, r *http.Request) { p.change(w, r, subs, "resume") })
	return mux
}

func (p *Pusher) create(w http.ResponseWriter, r *http.Request, subs Verifier) {
	// The token first: a request without a valid one costs no body read.
	if err := authorize(r, subs, nil); err != nil {
		httperr.LeaveBody(w, r)
		statuses.Write(w, err)
		return
	}
	p.mu.Lock()
	full := len(p.subs) >= p.cfg.MaxSubscriptions
	p.mu.Unlock()
	if full {
		httperr.LeaveBody(w, r)
		statuses.Write(w, httperr.Errorf(http.StatusTooManyRequests, "too many push subscriptions: the limit is %d; delete unused ones", p.cfg.MaxSubscriptions))
		return
	}
	req, err := ParseRequest(r.Body)
	if err == nil {
		err = p.engine.Allowlist().Check(req.Callback)
	}
	if err != nil {
		statuses.Write(w, err)
		return
	}
	generated := req.Secret == ""
	if generated {
		req.Secret = rand.Text()
	}
	def := Definition{
		ID: strings.ToLower(rand.Text()[:16]), Callback: req.Callback, Topics: req.Topics, Match: req.Match, MatchType: req.MatchType,
		Base: mercure.HubURL(r), Secret: req.Secret, Node: p.cfg.Node, Created: time.Now().UTC(),
	}
	sels, err := selectors(def)
	if err != nil {
		statuses.Write(w, httperr.Errorf(http.StatusBadRequest, "invalid topic selector: %v", err))
		return
	}
	if err := authorize(r, subs, sels); err != nil {
		statuses.Write(w, err)
		return
	}
	stored := def
	if stored.Secret, err = seal(p.cfg.SecretKey, def.Secret); err != nil {
		statuses.Write(w, err)
		return
	}
	if _, err := p.append(r.Context(), record{Op: "create", ID: def.ID, Def: &stored}); err != nil {
		statuses.Write(w, err)
		return
	}
	p.mu.Lock()
	s := p.subs[def.ID]
	if s != nil {
		p.startWorker(s)
	}
	p.mu.Unlock()
	if s == nil {
		statuses.Write(w, fmt.Errorf("push subscription %s vanished as it was created", def.ID))
		return
	}
	v := p.view(s)
	v.Secret = req.Secret
	w.Header().Set("Location", Path+"/"+def.ID)
	respond(w, http.StatusCreated, v)
}

// change appends a resume or delete record for the subscription the
// request names.
func (p *Pusher) change(w http.ResponseWriter, r *http.Request, subs Verifier, op string) {
	s, ok := p.authorized(w, r, subs)
	if !ok {
		return
	}
	if _, err := p.append(r.Context(), record{Op: op, ID: s.def.ID}); err != nil {
		statuses.Write(w, err)
		return
	}
	if op == "delete" {
		w.WriteHeader(http.StatusNoContent)
		return
	}
	respond(w, http.StatusOK, p.view(s))
}

// authorized returns the subscription the request names if its token may
// manage it; otherwise it answers the request and returns false.
func (p *Pusher) authorized(w http.ResponseWriter, r *http.Request, subs Verifier) (*sub, bool) {
	p.mu.Lock()
	s := p.subs[r.PathValue("id")]
	p.mu.Unlock()
	if s == nil {
		statuses.Write(w, httperr.Errorf(http.StatusNotFound, "no push subscription %q (deleted, or never created)", r.PathValue("id")))
		return nil, false
	}
	if err := authorize(r, subs, s.sels); err != nil {
		statuses.Write(w, err)
		return nil, false
	}
	return s, true
}

// authorize checks that the request's subscriber token grants subscribe
// rights covering every selector of sels: a grant that matches the
// selector's text, "*" included.
func authorize(r *http.Request, subs Verifier, sels hub.Selectors) error {
	var claims *auth.Claims
	if subs != nil {
		c, err := subs.Verify(r)
		if err != nil {
			return err
		}
		claims = c
	}
	if claims == nil {
		return fmt.Errorf("%w: push subscriptions need a subscriber token whose subscribe grants cover the topics", auth.ErrNoToken)
	}
	grants, err := authz.Subscribe(claims, mercure.HubURL(r))
	if err != nil {
		return err
	}
	for _, sel := range sels {
		if !covered(grants, sel) {
			return fmt.Errorf("%w: the token's subscribe grants do not cover %q", auth.ErrForbidden, sel.String())
		}
	}
	return nil
}

func covered(grants hub.Selectors, sel *hub.Selector) bool {
	for _, g := range grants {
		if g.String() == "*" || g.String() == sel.String() || g.Match(sel.String()) {
			return true
		}
	}
	return false
}

// view returns what the API shows of s, without its secret.
func (p *Pusher) view(s *sub) View {
	p.mu.Lock()
	defer p.mu.Unlock()
	d := s.def
	return View{
		ID: d.ID, Callback: d.Callback, Topics: d.Topics, Match: d.Match, MatchType: d.MatchType,
		State: s.state, Reason: s.reason, Cursor: s.cursor, Failures: s.failures, Node: d.Node, Created: d.Created,
		Deliveries: s.history.List(),
	}
}

func respond(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}
