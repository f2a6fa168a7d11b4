package auth

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Claims is what a verified token allows, read from its "mercure" claim and
// its registered claims.
type Claims struct {
	// Publish lists the topic selectors the bearer may publish to
	// (mercure.publish). Empty: it may publish nothing.
	Publish []string
	// Subscribe lists the topic selectors whose private updates the bearer
	// may receive (mercure.subscribe).
	Subscribe []string
	// Payload is mercure.payload as it appeared in the token, nil if absent
	// or null. It is attached to the subscriber's subscriptions.
	Payload json.RawMessage
	// Subject is the "sub" claim, "" if absent.
	Subject string
	// Expiry is the "exp" claim; the zero Time means the token never
	// expires. It is in UTC. A hub ends a subscriber's stream at Expiry.
	Expiry time.Time

	// Format says which rules the token was verified under: the Mercure
	// 0.x "mercure" claim (Legacy: Publish, Subscribe and Payload above)
	// or a Mercure 1.0 access token (AccessToken: Details below, with
	// Publish, Subscribe and Payload left empty).
	Format Format
	// Issuer is the "iss" claim, "" if absent.
	Issuer string
	// Details are the token's authorization_details entries of type
	// DetailType, in token order (AccessToken tokens only).
	Details []Detail
}

// Format is the dialect of a token.
type Format int

const (
	// Legacy is a Mercure 0.x token: its grants are the "mercure" claim.
	Legacy Format = iota
	// AccessToken is an RFC 9068 access token (header typ "at+jwt") whose
	// grants are RFC 9396 authorization_details (Mercure 1.0).
	AccessToken
)

// DetailType is the authorization_details type Mercure 1.0 grants use;
// entries of other types are ignored.
const DetailType = "https://mercure.rocks/authorization-detail"

// Actions of a Detail; others are ignored.
const (
	ActionPublish   = "publish"
	ActionSubscribe = "subscribe"
)

// Matcher types of a Detail's topics.
const (
	MatchExact      = "exact"
	MatchURLPattern = "urlpattern"
)

// Detail is one Mercure 1.0 authorization detail.
type Detail struct {
	// Actions are the known actions granted (ActionPublish,
	// ActionSubscribe), unknown ones dropped.
	Actions []string
	// Topics are the topics the actions are granted on.
	Topics []Matcher
	// Payload is the detail's payload, nil if absent; the payload of the
	// first subscribe detail matching a subscription is attached to it.
	Payload json.RawMessage
}

// Matcher is a topic matcher of a Detail: Match ("*" for every topic)
// under Type (MatchExact or MatchURLPattern; MatchExact if absent in the
// token).
type Matcher struct {
	Match string
	Type  string
}

// Wildcard is the selector that matches every topic, whatever the matcher.
const Wildcard = "*"

// matches reports whether any of selectors matches topic: "*" always does;
// otherwise match decides, or exact comparison if match is nil.
func matches(selectors []string, topic string, match func(selector, topic string) bool) bool {
	for _, s := range selectors {
		if s == Wildcard || (match == nil && s == topic) || (match != nil && match(s, topic)) {
			return true
		}
	}
	return false
}

// CheckPublish returns nil if c allows publishing an update with all of
// topics: as the protocol requires, every topic must match at least one
// selector of c.Publish. Otherwise it returns an error wrapping ErrForbidden
// that names the first topic refused; a nil c (no token) gives ErrNoToken.
// match compares a selector with a topic (URI templates are the caller's
// business); nil means exact comparison. "*" matches every topic.
func (c *Claims) CheckPublish(topics []string, match func(selector, topic string) bool) error {
	if c == nil {
		return ErrNoToken
	}
	if len(c.Publish) == 0 {
		return fmt.Errorf("%w: the token has no mercure.publish selectors, so it may not publish (mint one with: herald token --publish SELECTOR)", ErrForbidden)
	}
	for _, t := range topics {
		if !matches(c.Publish, t, match) {
			return fmt.Errorf("%w: the token may not publish to topic %q (its mercure.publish selectors: %q)", ErrForbidden, t, c.Publish)
		}
	}
	return nil
}

// CanReceivePrivate reports whether c allows receiving a private update with
// topics: at least one of them must match a selector of c.Subscribe. A nil c
// (an anonymous subscriber) receives no private update. match is as for
// CheckPublish.
func (c *Claims) CanReceivePrivate(topics []string, match func(selector, topic string) bool) bool {
	if c == nil {
		return false
	}
	for _, t := range topics {
		if matches(c.Subscribe, t, match) {
			return true
		}
	}
	return false
}

// tokenClaims is the jwt.Claims implementation Verifier parses into. It keeps
// every claim raw, with exact (case-sensitive) names, and decodes the
// registered ones at once; the mercure claim is decoded only after the
// signature has been verified (see toClaims).
type tokenClaims struct {
	fields   map[string]json.RawMessage
	exp, nbf *jwt.NumericDate
	iat      *jwt.NumericDate
	sub, iss string
	aud      jwt.ClaimStrings
}

// UnmarshalJSON decodes a claims set, which must be a JSON object.
func (c *tokenClaims) UnmarshalJSON(b []byte) error {
	if err := json.Unmarshal(b, &c.fields); err != nil {
		return fmt.Errorf("claims are not a JSON object: %w", err)
	}
	if c.fields == nil {
		return fmt.Errorf("claims are not a JSON object")
	}
	for name, dst := range map[string]**jwt.NumericDate{"exp": &c.exp, "nbf": &c.nbf, "iat": &c.iat} {
		raw, ok := c.fields[name]
		if !ok || string(raw) == "null" {
			continue
		}
		d := new(jwt.NumericDate)
		if err := d.UnmarshalJSON(raw); err != nil {
			return fmt.Errorf("claim %q must be a number of seconds since 1970", name)
		}
		*dst = d
	}
	for name, dst := range map[string]*string{"sub": &c.sub, "iss": &c.iss} {
		if raw, ok := c.fields[name]; ok && string(raw) != "null" {
			if err := json.Unmarshal(raw, dst); err != nil {
				return fmt.Errorf("claim %q must be a string", name)
			}
		}
	}
	if raw, ok := c.fields["aud"]; ok && string(raw) != "null" {
		if err := c.aud.UnmarshalJSON(raw); err != nil {
			return fmt.Errorf("claim \"aud\" must be a string or an array of strings")
		}
	}
	return nil
}

// GetExpirationTime implements jwt.Claims.
func (c *tokenClaims) GetExpirationTime() (*jwt.NumericDate, error) { return c.exp, nil }

// GetNotBefore implements jwt.Claims.
func (c *tokenClaims) GetNotBefore() (*jwt.NumericDate, error) { return c.nbf, nil }

// GetIssuedAt implements jwt.Claims.
func (c *tokenClaims) GetIssuedAt() (*jwt.NumericDate, error) { return c.iat, nil }

// GetIssuer implements jwt.Claims.
func (c *tokenClaims) GetIssuer() (string, error) { return c.iss, nil }

// GetSubject implements jwt.Claims.
func (c *tokenClaims) GetSubject() (string, error) { return c.sub, nil }

// GetAudience implements jwt.Claims.
func (c *tokenClaims) GetAudience() (jwt.ClaimStrings, error) { return c.aud, nil }

// toClaims decodes the mercure claim of a verified token. A token without a
// mercure claim is valid and allows nothing beyond what an anonymous client
// may do.
func (c *tokenClaims) toClaims() (*Claims, error) {
	out := &Claims{Subject: c.sub}
	if c.exp != nil {
		out.Expiry = c.exp.UTC()
	}
	raw, ok := c.fields["mercure"]
	if !ok || string(raw) == "null" {
		return out, nil
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil || m == nil {
		return nil, fmt.Errorf("the mercure claim must be a JSON object")
	}
	var err error
	if out.Publish, err = selectors(m, "publish"); err != nil {
		return nil, err
	}
	if out.Subscribe, err = selectors(m, "subscribe"); err != nil {
		return nil, err
	}
	if p, ok := m["payload"]; ok && string(p) != "null" {
		out.Payload = p
	}
	return out, nil
}

// selectors decodes mercure.<name>, which must be absent, null or an array
// of strings.
func selectors(m map[string]json.RawMessage, name string) ([]string, error) {
	raw, ok := m[name]
	if !ok || string(raw) == "null" {
		return nil, nil
	}
	var list []string
	if len(raw) == 0 || raw[0] != '[' || json.Unmarshal(raw, &list) != nil {
		return nil, fmt.Errorf("mercure.%s must be an array of topic selectors (strings), got %s", name, describe(raw))
	}
	return list, nil
}

// describe names the JSON type of raw for error messages.
func describe(raw json.RawMessage) string {
	if len(raw) == 0 {
		return "nothing"
	}
	switch raw[0] {
	case '"':
		return "a string (wrap a single selector in [ ])"
	case '{':
		return "an object"
	case '[':
		return "an array with a non-string element"
	case 't', 'f':
		return "a boolean"
	}
	return "a number"
}
