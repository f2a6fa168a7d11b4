package mercure

import (
	"encoding/json"

	"github.com/heraldhub/herald/auth"
	"github.com/heraldhub/herald/hub"
	"github.com/heraldhub/herald/internal/authz"
)

// Presence is told of every subscription the handler accepts, for the
// subscriptions API (package presence implements it). Arrive is called once
// a stream is accepted, and the leave it returns once when the stream
// ends. Neither may block.
type Presence interface {
	Arrive(s SubscriptionInfo) (leave func())
}

// SubscriptionInfo describes an accepted subscription to Presence.
type SubscriptionInfo struct {
	// Matchers are what the subscription listens to, in request order.
	Matchers []Matcher
	// Payload is the payload the subscriber's token attaches to the
	// subscription, nil if none: the 0.x claim's mercure.payload.
	Payload json.RawMessage
	// Dialect is the protocol version of the subscription request.
	Dialect Dialect
}

// Matcher is one thing a subscription listens to: Match under Type.
type Matcher struct {
	// Type is MatchExact, MatchURLPattern or MatchURITemplate.
	Type string
	// Match is the topic, pattern or template, as the subscriber gave it.
	Match string
}

// Matcher types. A 0.x topic selector is MatchURITemplate if it is a URI
// template, MatchExact otherwise ("*" included).
const (
	MatchExact       = auth.MatchExact
	MatchURLPattern  = auth.MatchURLPattern
	MatchURITemplate = "uritemplate"
)

// Dialect is the Mercure protocol version a request speaks.
type Dialect int

const (
	// Legacy is Mercure 0.x (topic= selectors).
	Legacy Dialect = iota
	// V1 is Mercure 1.0 (match= matchers).
	V1
)

// arrive reports a subscription on sels, opened by a request of dialect v1
// (Mercure 1.0) or not, to the presence tracker, if any, and returns onEnd
// extended to report its departure. The payload is the token's for the
// first selector (see authz.Payload).
func (h *Handler) arrive(sels hub.Selectors, v1 bool, claims *auth.Claims, base string, onEnd func(error)) func(error) {
	p := h.cfg.Presence
	if p == nil {
		return onEnd
	}
	info := SubscriptionInfo{Dialect: Legacy}
	if v1 {
		info.Dialect = V1
	}
	for _, s := range sels {
		m := Matcher{Type: s.Type(), Match: s.String()}
		switch {
		case m.Type == "" && s.Template():
			m.Type = MatchURITemplate
		case m.Type == "":
			m.Type = MatchExact
		}
		info.Matchers = append(info.Matchers, m)
	}
	if len(sels) > 0 {
		info.Payload = authz.Payload(claims, sels[0], base)
	}
	leave := p.Arrive(info)
	return func(err error) {
		onEnd(err)
		leave()
	}
}
