package mercure

import (
	"encoding/json"

	"github.com/heraldhub/herald/auth"
	"github.com/heraldhub/herald/hub"
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

// arrive tells Config.Presence, if set, of the subscription to sels by the
// bearer of claims, and returns the OnEnd that tells it of the end too.
func (h *Handler) arrive(sels hub.Selectors, claims *auth.Claims, onEnd func(error)) func(error) {
	p := h.cfg.Presence
	if p == nil {
		return onEnd
	}
	info := SubscriptionInfo{Dialect: Legacy}
	for _, s := range sels {
		m := Matcher{Type: MatchExact, Match: s.String()}
		if s.Template() {
			m.Type = MatchURITemplate
		}
		info.Matchers = append(info.Matchers, m)
	}
	if claims != nil {
		info.Payload = claims.Payload
	}
	leave := p.Arrive(info)
	return func(err error) {
		onEnd(err)
		leave()
	}
}
