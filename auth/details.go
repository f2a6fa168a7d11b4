package auth

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Limits on the authorization_details of an access token: a token over
// any of them is refused as a whole (ErrInvalidToken), never partly
// accepted.
const (
	// MaxDetails bounds the entries of authorization_details, of any type.
	MaxDetails = 64
	// MaxDetailTopics bounds the topics of one Mercure detail.
	MaxDetailTopics = 64
	// MaxMatchBytes bounds one topic's match string.
	MaxMatchBytes = 4096
)

// rawDetail is one authorization_details entry as the token has it; the
// members are kept raw so that each is checked for its JSON type.
type rawDetail struct {
	Type    json.RawMessage `json:"type"`
	Actions json.RawMessage `json:"actions"`
	Topics  json.RawMessage `json:"topics"`
	Payload json.RawMessage `json:"payload"`
}

// rawMatcher is one topic of a Mercure detail.
type rawMatcher struct {
	Match     json.RawMessage `json:"match"`
	MatchType json.RawMessage `json:"match_type"`
}

// ParseDetails decodes an RFC 9396 authorization_details claim: the entries
// of type DetailType, in order, with unknown actions dropped and a missing
// match_type set to MatchExact. Entries of other types are ignored. An
// absent (empty or null) claim has no details. A claim that is not an array
// of objects with a string "type", a Mercure entry of the wrong shape, an
// unknown match_type or a claim over MaxDetails, MaxDetailTopics or
// MaxMatchBytes is an error naming the offending entry.
func ParseDetails(raw json.RawMessage) ([]Detail, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	var entries []json.RawMessage
	if raw[0] != '[' || json.Unmarshal(raw, &entries) != nil {
		return nil, fmt.Errorf("authorization_details must be an array of objects, got %s", describe(raw))
	}
	if len(entries) > MaxDetails {
		return nil, fmt.Errorf("authorization_details has %d entries, more than the %d accepted", len(entries), MaxDetails)
	}
	var out []Detail
	for i, e := range entries {
		d, mercure, err := parseDetail(e)
		if err != nil {
			return nil, fmt.Errorf("authorization_details[%d]: %w", i, err)
		}
		if mercure {
			out = append(out, d)
		}
	}
	return out, nil
}

// parseDetail decodes one entry; mercure is false for an entry of another
// type, which is otherwise not looked at.
func parseDetail(raw json.RawMessage) (d Detail, mercure bool, err error) {
	var rd rawDetail
	if len(raw) == 0 || raw[0] != '{' || json.Unmarshal(raw, &rd) != nil {
		return Detail{}, false, fmt.Errorf("must be an object, got %s", describe(raw))
	}
	var typ string
	if err := str(rd.Type, &typ); err != nil || typ == "" {
		return Detail{}, false, errors.New(`"type" must be a non-empty string`)
	}
	if typ != DetailType {
		return Detail{}, false, nil
	}
	var actions []string
	if len(rd.Actions) == 0 || rd.Actions[0] != '[' || json.Unmarshal(rd.Actions, &actions) != nil {
		return Detail{}, true, fmt.Errorf(`"actions" must be an array of strings (%q, %q), got %s`, ActionPublish, ActionSubscribe, describe(rd.Actions))
	}
	for _, a := range actions {
		if a == ActionPublish || a == ActionSubscribe {
			d.Actions = append(d.Actions, a)
		}
	}
	if d.Topics, err = parseTopics(rd.Topics); err != nil {
		return Detail{}, true, err
	}
	if p := bytes.TrimSpace(rd.Payload); len(p) > 0 && string(p) != "null" {
		d.Payload = append(json.RawMessage(nil), p...)
	}
	return d, true, nil
}

// parseTopics decodes the topics of a Mercure detail.
func parseTopics(raw json.RawMessage) ([]Matcher, error) {
	var list []json.RawMessage
	if len(raw) == 0 || raw[0] != '[' || json.Unmarshal(raw, &list) != nil {
		return nil, fmt.Errorf(`"topics" must be an array of {"match", "match_type"} objects, got %s`, describe(raw))
	}
	if len(list) > MaxDetailTopics {
		return nil, fmt.Errorf(`"topics" has %d entries, more than the %d accepted`, len(list), MaxDetailTopics)
	}
	out := make([]Matcher, 0, len(list))
	for j, t := range list {
		var rm rawMatcher
		if len(t) == 0 || t[0] != '{' || json.Unmarshal(t, &rm) != nil {
			return nil, fmt.Errorf(`topics[%d] must be an object, got %s`, j, describe(t))
		}
		m := Matcher{Type: MatchExact}
		if err := str(rm.Match, &m.Match); err != nil || m.Match == "" {
			return nil, fmt.Errorf(`topics[%d]: "match" must be a non-empty string`, j)
		}
		if len(m.Match) > MaxMatchBytes {
			return nil, fmt.Errorf(`topics[%d]: "match" is %d bytes, more than the %d accepted`, j, len(m.Match), MaxMatchBytes)
		}
		if len(rm.MatchType) > 0 && string(rm.MatchType) != "null" {
			if err := str(rm.MatchType, &m.Type); err != nil {
				return nil, fmt.Errorf(`topics[%d]: "match_type" must be a string`, j)
			}
		}
		if m.Type != MatchExact && m.Type != MatchURLPattern {
			return nil, fmt.Errorf(`topics[%d]: unknown match_type %q (known: %q, %q)`, j, m.Type, MatchExact, MatchURLPattern)
		}
		out = append(out, m)
	}
	return out, nil
}

// str decodes raw, which must be a JSON string, into dst.
func str(raw json.RawMessage, dst *string) error {
	if len(raw) == 0 || raw[0] != '"' {
		return errors.New("not a string")
	}
	return json.Unmarshal(raw, dst)
}

// detailJSON is the form Sign writes a Detail in.
type detailJSON struct {
	Type    string          `json:"type"`
	Actions []string        `json:"actions"`
	Topics  []matcherJSON   `json:"topics"`
	Payload json.RawMessage `json:"payload,omitempty"`
}

type matcherJSON struct {
	Match     string `json:"match"`
	MatchType string `json:"match_type,omitempty"`
}

// accessClaims are the claims of an access token for c (see Key.Sign).
func accessClaims(c Claims, audience []string) (jwt.MapClaims, error) {
	switch {
	case c.Issuer == "":
		return nil, errors.New("an access token needs an issuer (iss)")
	case len(audience) == 0 || audience[0] == "":
		return nil, errors.New("an access token needs an audience (aud): the hub's resource identifier, such as https://example.com/.well-known/mercure")
	case c.Expiry.IsZero():
		return nil, errors.New("an access token needs an expiry (exp)")
	}
	details := make([]detailJSON, 0, len(c.Details))
	for _, d := range c.Details {
		if len(d.Payload) > 0 && !json.Valid(d.Payload) {
			return nil, errors.New("payload is not valid JSON")
		}
		dj := detailJSON{Type: DetailType, Actions: d.Actions, Topics: []matcherJSON{}, Payload: d.Payload}
		for _, m := range d.Topics {
			dj.Topics = append(dj.Topics, matcherJSON{Match: m.Match, MatchType: m.Type})
		}
		details = append(details, dj)
	}
	jti := make([]byte, 16)
	if _, err := rand.Read(jti); err != nil {
		return nil, fmt.Errorf("token id: %w", err)
	}
	claims := jwt.MapClaims{
		"iss":                   c.Issuer,
		"exp":                   jwt.NewNumericDate(c.Expiry),
		"iat":                   jwt.NewNumericDate(time.Now()),
		"jti":                   base64.RawURLEncoding.EncodeToString(jti),
		"authorization_details": details,
	}
	if len(audience) == 1 {
		claims["aud"] = audience[0]
	} else {
		claims["aud"] = audience
	}
	if c.Subject != "" {
		claims["sub"] = c.Subject
		claims["client_id"] = c.Subject
	}
	return claims, nil
}
