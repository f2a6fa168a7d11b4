package node

import (
	"github.com/heraldhub/herald/mercure"
	"github.com/heraldhub/herald/presence"
)

// presenceArrivals tells a presence tracker of the Mercure handler's
// subscriptions.
type presenceArrivals struct{ t *presence.Tracker }

// arrivals returns what tells t of the subscriptions, nil if t is nil.
func arrivals(t *presence.Tracker) mercure.Presence {
	if t == nil {
		return nil
	}
	return presenceArrivals{t}
}

// Arrive implements mercure.Presence.
func (a presenceArrivals) Arrive(s mercure.SubscriptionInfo) (leave func()) {
	sub := presence.Subscription{Payload: s.Payload}
	for _, m := range s.Matchers {
		sub.Matchers = append(sub.Matchers, presence.Matcher{Type: m.Type, Match: m.Match})
	}
	return a.t.Arrive(sub)
}
