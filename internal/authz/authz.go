package authz

import (
	"encoding/json"
	"fmt"
	"slices"

	"github.com/heraldhub/herald/auth"
	"github.com/heraldhub/herald/hub"
)

// Publish returns the selectors c may publish to: its mercure.publish
// selectors (0.x), or the topics of its details granting ActionPublish
// (1.0), URL patterns resolved against base (the hub's URL). A nil c
// yields nothing. A selector that does not parse gives an error wrapping
// auth.ErrInvalidToken.
func Publish(c *auth.Claims, base string) (hub.Selectors, error) {
	return grants(c, auth.ActionPublish, base)
}

// Subscribe returns the selectors whose private updates c may receive, as
// Publish does for ActionSubscribe (mercure.subscribe in 0.x).
func Subscribe(c *auth.Claims, base string) (hub.Selectors, error) {
	return grants(c, auth.ActionSubscribe, base)
}

// grants returns the selectors c grants action on.
func grants(c *auth.Claims, action, base string) (hub.Selectors, error) {
	if c == nil {
		return nil, nil
	}
	if c.Format == auth.Legacy {
		list := c.Publish
		if action == auth.ActionSubscribe {
			list = c.Subscribe
		}
		sels, err := hub.ParseSelectors(list)
		if err != nil {
			return nil, fmt.Errorf("%w: the token's mercure.%s claim has an invalid selector: %v", auth.ErrInvalidToken, action, err)
		}
		return sels, nil
	}
	var out hub.Selectors
	for _, d := range c.Details {
		if !slices.Contains(d.Actions, action) {
			continue
		}
		for _, m := range d.Topics {
			sel, err := matcher(m, base)
			if err != nil {
				return nil, err
			}
			out = append(out, sel)
		}
	}
	return out, nil
}

// matcher parses a detail's topic matcher, exact when its type is absent.
func matcher(m auth.Matcher, base string) (*hub.Selector, error) {
	typ := m.Type
	if typ == "" {
		typ = auth.MatchExact
	}
	sel, err := hub.ParseMatcher(typ, m.Match, base)
	if err != nil {
		return nil, fmt.Errorf("%w: the token's authorization_details hold an invalid matcher: %v", auth.ErrInvalidToken, err)
	}
	return sel, nil
}

// CheckPublish returns nil if c may publish an update with all of topics:
// every topic must match a selector of Publish. Otherwise it returns an
// error wrapping auth.ErrForbidden that names the first topic refused, or
// auth.ErrNoToken for a nil c.
func CheckPublish(c *auth.Claims, topics []string, base string) error {
	if c == nil {
		return auth.ErrNoToken
	}
	pub, err := Publish(c, base)
	if err != nil {
		return err
	}
	if len(pub) == 0 {
		return fmt.Errorf("%w: the token grants no publish action (%s)", auth.ErrForbidden, grantHint(c, auth.ActionPublish))
	}
	for _, t := range topics {
		if !pub.Match(t) {
			return fmt.Errorf("%w: the token may not publish to topic %q (%s)", auth.ErrForbidden, t, grantHint(c, auth.ActionPublish))
		}
	}
	return nil
}

// CheckReceive returns nil if c may receive a private update with topics:
// one of them must match a selector of Subscribe. Otherwise it returns an
// error wrapping auth.ErrForbidden, or auth.ErrNoToken for a nil c (an
// anonymous subscriber receives no private update).
func CheckReceive(c *auth.Claims, topics []string, base string) error {
	if c == nil {
		return fmt.Errorf("%w: %q is private: present a subscriber token that allows it", auth.ErrNoToken, topics)
	}
	sub, err := Subscribe(c, base)
	if err != nil {
		return err
	}
	if !sub.MatchAny(topics) {
		return fmt.Errorf("%w: not allowed to read the private topic %q (%s)", auth.ErrForbidden, topics[0], grantHint(c, auth.ActionSubscribe))
	}
	return nil
}

// grantHint says where c's grants for action are, for refusals.
func grantHint(c *auth.Claims, action string) string {
	if c.Format == auth.Legacy {
		list := c.Publish
		if action == auth.ActionSubscribe {
			list = c.Subscribe
		}
		return fmt.Sprintf("its mercure.%s selectors: %q", action, list)
	}
	return fmt.Sprintf("no %s authorization detail of its authorization_details matches", action)
}

// Payload returns the payload attached to c's subscription of sel: for an
// access token, the payload of the first subscribe detail one of whose
// topics matches sel's text (the subscription's matcher string, taken as
// a topic); for a 0.x token, mercure.payload. Nil if none.
func Payload(c *auth.Claims, sel *hub.Selector, base string) json.RawMessage {
	if c == nil {
		return nil
	}
	if c.Format == auth.Legacy {
		return c.Payload
	}
	for _, d := range c.Details {
		if !slices.Contains(d.Actions, auth.ActionSubscribe) {
			continue
		}
		for _, m := range d.Topics {
			if s, err := matcher(m, base); err == nil && s.Match(sel.String()) {
				return d.Payload
			}
		}
	}
	return nil
}
