package hub

import (
	"encoding/json"

	"github.com/heraldhub/herald/sse"
)

// ResetType is the event type, reserved to the hub, of the event that
// precedes the replay when a subscriber resumes from an id the log does not
// hold: the history it asked for was cut, so what it built from the updates
// before may be stale. Its data is a JSON object with "reason"
// ("history-cut") and "lastEventID" (the id asked for). A named event, it
// reaches only listeners for that type, never plain message handlers.
const ResetType = "herald-reset"

// appendReset appends the ResetType event for a resume from id.
func appendReset(dst []byte, id string) []byte {
	data, _ := json.Marshal(struct {
		Reason      string `json:"reason"`
		LastEventID string `json:"lastEventID"`
	}{"history-cut", id})
	b, _ := sse.AppendEvent(dst, &sse.Event{Type: ResetType, Data: string(data)}) // valid by construction
	return b
}
