package presence

import (
	"encoding/json"
	"errors"
	"strings"
)

// Paths and topics of the subscriptions API.
const (
	// Prefix is the path of the API and the prefix of every subscription
	// event's topic.
	Prefix = "/.well-known/mercure/subscriptions"
	// HeartbeatPrefix is the prefix of the private topics of the nodes'
	// heartbeats, followed by the node id.
	HeartbeatPrefix = "/.well-known/mercure/subscriptions-heartbeat/"
	// context is the JSON-LD context of the 0.x shapes.
	jsonLDContext = "https://mercure.rocks/"
)

// Matcher types of a subscription (see mercure.Matcher). A 0.x topic
// selector is "uritemplate" if it is a URI template, "exact" otherwise.
const (
	MatchExact       = "exact"
	MatchURLPattern  = "urlpattern"
	MatchURITemplate = "uritemplate"
)

// isMatchType reports whether s names a matcher type, which makes a path
// below Prefix a 1.0 one.
func isMatchType(s string) bool {
	return s == MatchExact || s == MatchURLPattern || s == MatchURITemplate
}

// Event is a subscription as the 1.0 shape tells it, the body of a 1.0
// subscription event and an entry of a 1.0 list.
type Event struct {
	ID         string          `json:"id"`
	Type       string          `json:"type"`
	MatchType  string          `json:"match_type"`
	Match      string          `json:"match"`
	Subscriber string          `json:"subscriber"`
	Active     bool            `json:"active"`
	Payload    json.RawMessage `json:"payload,omitempty"`
}

// LegacyEvent is a subscription in the 0.x JSON-LD shape.
type LegacyEvent struct {
	Context     string          `json:"@context,omitempty"`
	ID          string          `json:"id"`
	Type        string          `json:"type"`
	Topic       string          `json:"topic"`
	Subscriber  string          `json:"subscriber"`
	Active      bool            `json:"active"`
	Payload     json.RawMessage `json:"payload,omitempty"`
	LastEventID *string         `json:"lastEventID,omitempty"`
}

// escape %-encodes s once for a path segment, as the simple expansion of
// a URI template does: everything but the unreserved characters.
func escape(s string) string {
	const hex = "0123456789ABCDEF"
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '.' || c == '_' || c == '~' {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hex[c>>4])
		b.WriteByte(hex[c&15])
	}
	return b.String()
}

// topic returns the path below Prefix made of segments, each %-encoded.
func topic(segments ...string) string {
	t := Prefix
	for _, s := range segments {
		t += "/" + escape(s)
	}
	return t
}

// entry is one active subscription matcher.
type entry struct {
	matchType, match, subscriber string
	payload                      json.RawMessage
	node                         string // the node that announced it
}

// event returns e in the 1.0 shape.
func (e *entry) event(active bool) Event {
	return Event{
		ID: topic(e.matchType, e.match, e.subscriber), Type: "subscription",
		MatchType: e.matchType, Match: e.match, Subscriber: e.subscriber,
		Active: active, Payload: e.payload,
	}
}

// legacy returns e in the 0.x shape, whose topic is the match string.
func (e *entry) legacy(active bool) LegacyEvent {
	return LegacyEvent{
		Context: jsonLDContext, ID: topic(e.match, e.subscriber), Type: "Subscription",
		Topic: e.match, Subscriber: e.subscriber, Active: active, Payload: e.payload,
	}
}

// errNotEvent reports an update below Prefix that is not a well-formed
// 1.0 subscription event.
var errNotEvent = errors.New("not a subscription event")

// parseEvent reads a 1.0 subscription event's data, checking that its id
// is the topic it was published to.
func parseEvent(topic0, data string) (Event, error) {
	var e Event
	if err := json.Unmarshal([]byte(data), &e); err != nil {
		return e, errNotEvent
	}
	if e.Type != "subscription" || e.ID != topic0 || e.Subscriber == "" || !isMatchType(e.MatchType) ||
		e.ID != topic(e.MatchType, e.Match, e.Subscriber) {
		return e, errNotEvent
	}
	return e, nil
}
