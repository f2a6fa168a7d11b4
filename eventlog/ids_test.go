package eventlog_test

import (
	"errors"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/heraldhub/herald/eventlog"
	"github.com/heraldhub/herald/sse"
)

var (
	uuidV4 = regexp.MustCompile(`^urn:uuid:[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)
	uuidV7 = regexp.MustCompile(`^urn:uuid:[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)
)

func TestCheckIDAcceptsStorableIDsAndRefusesOthers(t *testing.T) {
	tests := []struct {
		id      string
		ok      bool
		invalid bool // the error wraps sse.ErrInvalidID
	}{
		{id: "", ok: true},
		{id: "1", ok: true},
		{id: "order-17", ok: true},
		{id: "ünïcødé ✓ with space", ok: true},
		{id: "urn:uuid:4a3e1c5d-0000-4000-8000-000000000001", ok: true},
		{id: "Earliest", ok: true}, // only the exact, lower-case word is reserved
		{id: eventlog.Earliest},
		{id: "a\nb", invalid: true},
		{id: "a\rb", invalid: true},
		{id: "a\x00b", invalid: true},
		{id: "\n", invalid: true},
	}
	for _, tt := range tests {
		t.Run(strconv.Quote(tt.id), func(t *testing.T) {
			err := eventlog.CheckID(tt.id)
			if tt.ok {
				if err != nil {
					t.Fatalf("CheckID(%q) = %v, want nil", tt.id, err)
				}
				return
			}
			if err == nil {
				t.Fatalf("CheckID(%q) = nil, want an error", tt.id)
			}
			if got := errors.Is(err, sse.ErrInvalidID); got != tt.invalid {
				t.Fatalf("CheckID(%q) = %v; wraps sse.ErrInvalidID: %v, want %v", tt.id, err, got, tt.invalid)
			}
		})
	}
}

func TestNewIDIsAUniqueVersion4UUIDURN(t *testing.T) {
	seen := make(map[string]bool)
	for range 1000 {
		id := eventlog.NewID()
		if !uuidV4.MatchString(id) {
			t.Fatalf("NewID() = %q, not a version 4 UUID URN", id)
		}
		if eventlog.CheckID(id) != nil {
			t.Fatalf("NewID() = %q, refused by CheckID", id)
		}
		if seen[id] {
			t.Fatalf("NewID() repeated %q", id)
		}
		seen[id] = true
	}
}

func TestNewTimeIDIsAVersion7UUIDURNCarryingItsMillisecond(t *testing.T) {
	at := time.Date(2026, 11, 24, 7, 0, 0, 123_456_789, time.UTC)
	seen := make(map[string]bool)
	for range 1000 {
		id := eventlog.NewTimeID(at)
		if !uuidV7.MatchString(id) {
			t.Fatalf("NewTimeID() = %q, not a version 7 UUID URN", id)
		}
		hex := strings.ReplaceAll(strings.TrimPrefix(id, "urn:uuid:"), "-", "")[:12]
		ms, err := strconv.ParseUint(hex, 16, 64)
		if err != nil || ms != uint64(at.UnixMilli()) {
			t.Fatalf("NewTimeID() = %q carries millisecond %s, want %x", id, hex, at.UnixMilli())
		}
		if seen[id] {
			t.Fatalf("NewTimeID() repeated %q within one millisecond", id)
		}
		seen[id] = true
	}
}

func TestNewTimeIDSortsByMillisecond(t *testing.T) {
	at := time.Date(2026, 11, 24, 7, 0, 0, 0, time.UTC)
	prev := eventlog.NewTimeID(at)
	for i := range 2000 {
		at = at.Add(time.Duration(i%7+1) * time.Millisecond)
		id := eventlog.NewTimeID(at)
		if id <= prev {
			t.Fatalf("NewTimeID at a later millisecond gave %q, not after %q", id, prev)
		}
		prev = id
	}
}

func BenchmarkNewID(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		_ = eventlog.NewID()
	}
}

func BenchmarkNewTimeID(b *testing.B) {
	b.ReportAllocs()
	now := time.Now()
	for b.Loop() {
		_ = eventlog.NewTimeID(now)
	}
}
