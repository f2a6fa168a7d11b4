package node

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/heraldhub/herald/eventlog"
)

// TestMaxUpdateBytesAboveOneMiBIsHonoured checks that --max-update-bytes
// reaches every limit a publication meets: with 8 MiB allowed, a 5 MiB
// update is stored whole, and one over 8 MiB is refused with 413.
func TestMaxUpdateBytesAboveOneMiBIsHonoured(t *testing.T) {
	n := startNode(t, Config{Log: "memory", MaxUpdateBytes: 8 << 20})
	pub := token(t, publisherKey, []string{"*"}, nil)
	data := strings.Repeat("x", 5<<20)
	if status, body := n.publish(t, pub, url.Values{"topic": {"big"}, "data": {data}}); status != http.StatusOK {
		t.Fatalf("a 5 MiB publication with an 8 MiB limit: %d %q, want 200", status, body)
	}
	var stored int
	n.srv.Hub().Log().Since(t.Context(), eventlog.Earliest, func(u eventlog.Update) bool { stored = len(u.Data); return true })
	if stored != len(data) {
		t.Fatalf("the log holds %d bytes of data, want %d", stored, len(data))
	}
	if status, body := n.publish(t, pub, url.Values{"topic": {"big"}, "data": {strings.Repeat("x", 8<<20)}}); status != http.StatusRequestEntityTooLarge {
		t.Fatalf("a publication over the 8 MiB limit: %d %q, want 413", status, body)
	}
}
