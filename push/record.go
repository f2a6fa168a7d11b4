package push

import (
	"encoding/json"
	"strings"
	"time"

	"github.com/heraldhub/herald/eventlog"
)

// TopicPrefix is the prefix of the reserved private topics that hold the
// subscriptions' records. Updates on topics under ReservedPrefix are never
// pushed.
const (
	ReservedPrefix = "/.well-known/mercure/herald/"
	TopicPrefix    = ReservedPrefix + "push/"
	// EventType is the type of every record update.
	EventType = "herald-push"
)

// The states of a subscription.
const (
	Active = "active"
	Paused = "paused"
)

// Definition is what a subscription was created with.
type Definition struct {
	ID       string `json:"id"`
	Callback string `json:"callback"`
	// Topics are 0.x topic selectors; Match and MatchType a 1.0 matcher,
	// resolved against Base (the hub's URL when it was created).
	Topics    []string  `json:"topics,omitempty"`
	Match     string    `json:"match,omitempty"`
	MatchType string    `json:"match_type,omitempty"`
	Base      string    `json:"base,omitempty"`
	Secret    string    `json:"secret"`
	Node      string    `json:"node"`
	Created   time.Time `json:"created"`
}

// record is one change of a subscription, the data of a record update.
type record struct {
	Op  string      `json:"op"` // "create", "cursor", "pause", "resume", "delete"
	ID  string      `json:"id"`
	Def *Definition `json:"def,omitempty"`
	// Cursor and CursorSeq name the last delivered update.
	Cursor    string `json:"cursor,omitempty"`
	CursorSeq uint64 `json:"cursor_seq,omitempty"`
	Reason    string `json:"reason,omitempty"`
}

// update returns the private log update that stores r.
func (r record) update() (eventlog.Update, error) {
	data, err := json.Marshal(r)
	if err != nil {
		return eventlog.Update{}, err
	}
	return eventlog.Update{Topics: []string{TopicPrefix + r.ID}, Type: EventType, Data: string(data), Private: true}, nil
}

// decodeRecord returns the record u stores, and false if u is not one.
func decodeRecord(u eventlog.Update) (record, bool) {
	if u.Type != EventType || len(u.Topics) == 0 || !strings.HasPrefix(u.Topics[0], TopicPrefix) {
		return record{}, false
	}
	var r record
	if err := json.Unmarshal([]byte(u.Data), &r); err != nil || u.Topics[0] != TopicPrefix+r.ID {
		return record{}, false
	}
	if r.Op == "create" && (r.Def == nil || r.Def.ID != r.ID) {
		return record{}, false
	}
	return r, true
}

// reserved reports whether an update is Herald's own bookkeeping, never
// pushed.
func reserved(topics []string) bool {
	for _, t := range topics {
		if strings.HasPrefix(t, ReservedPrefix) {
			return true
		}
	}
	return false
}

// Message is the body of a delivery: one update.
type Message struct {
	ID      string   `json:"id"`
	Topics  []string `json:"topics"`
	Data    string   `json:"data"`
	Type    string   `json:"type,omitempty"`
	Private bool     `json:"private,omitempty"`
}
