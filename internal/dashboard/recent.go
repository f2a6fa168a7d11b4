package dashboard

import (
	"strings"
	"time"

	"github.com/heraldhub/herald/eventlog"
)

// RecentUpdate is an update as the dashboard shows it, its data cut to
// maxRecentData bytes.
type RecentUpdate struct {
	ID      string    `json:"id"`
	Topics  []string  `json:"topics"`
	Type    string    `json:"type,omitempty"`
	Data    string    `json:"data"`
	Private bool      `json:"private,omitempty"`
	Time    time.Time `json:"time"`
	seq     uint64
}

// maxRecent is how many of the latest updates (of all topics) the
// dashboard keeps; maxRecentData bounds the data kept of each.
const (
	maxRecent     = 1024
	maxRecentData = 1024
)

// recent is a ring of the latest updates read from the log.
type recent struct {
	buf  []RecentUpdate
	next int
}

func (r *recent) add(u eventlog.Update) {
	data := u.Data
	if len(data) > maxRecentData {
		data = strings.ToValidUTF8(data[:maxRecentData], "") + "…"
	}
	ru := RecentUpdate{ID: u.ID, Topics: u.Topics, Type: u.Type, Data: data, Private: u.Private, Time: u.Time, seq: u.Seq}
	if len(r.buf) < maxRecent {
		r.buf = append(r.buf, ru)
		return
	}
	r.buf[r.next] = ru
	r.next = (r.next + 1) % maxRecent
}

// latest returns up to n of the updates kept that keep accepts, newest
// first.
func (r *recent) latest(n int, keep func(RecentUpdate) bool) []RecentUpdate {
	out := []RecentUpdate{}
	for i := 0; i < len(r.buf) && len(out) < n; i++ {
		j := (r.next - 1 - i + 2*len(r.buf)) % len(r.buf)
		if keep(r.buf[j]) {
			out = append(out, r.buf[j])
		}
	}
	return out
}
