package ratelimit

import (
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/heraldhub/herald/internal/httperr"
)

func TestParseRateReadsACountPerUnit(t *testing.T) {
	cases := []struct {
		in      string
		want    float64
		wantErr bool
	}{
		{"", 0, false}, {"0", 0, false}, {"50/s", 50, false}, {"50", 50, false},
		{"600/m", 10, false}, {"3600/h", 1, false}, {"0.5/s", 0.5, false},
		{"50/d", 0, true}, {"lots/s", 0, true}, {"-1/s", 0, true}, {"Inf", 0, true}, {"NaN/s", 0, true},
	}
	for _, tt := range cases {
		got, err := ParseRate(tt.in)
		if (err != nil) != tt.wantErr || got != tt.want {
			t.Errorf("ParseRate(%q) = %v, %v; want %v, error %v", tt.in, got, err, tt.want, tt.wantErr)
		}
	}
}

// clock is a manual clock for buckets.
type clock struct{ t time.Time }

func (c *clock) now() time.Time          { return c.t }
func (c *clock) advance(d time.Duration) { c.t = c.t.Add(d) }
func newLimit(rate float64, burst int) (*Publish, *clock) {
	c := &clock{t: time.Unix(1e9, 0)}
	p := NewPublish(rate, burst)
	p.b.now = c.now
	return p, c
}

func from(addr string) *http.Request {
	r := httptest.NewRequest("POST", "/.well-known/mercure", nil)
	r.RemoteAddr = addr + ":40000"
	return r
}

func TestPublishAllowsABurstThenTheRateWithATimeToWait(t *testing.T) {
	p, c := newLimit(2, 3)
	for i := range 3 {
		if err := p.AllowPublish(from("10.0.0.1"), "svc"); err != nil {
			t.Fatalf("publication %d of a burst of 3: %v", i+1, err)
		}
	}
	err := p.AllowPublish(from("10.0.0.1"), "svc")
	var he *httperr.Error
	if !errors.As(err, &he) || he.Status != http.StatusTooManyRequests || he.RetryAfter != 500*time.Millisecond || !strings.Contains(he.Msg, "2/s") {
		t.Fatalf("fourth at once: %#v, want 429 with a wait of 500ms naming the limit", err)
	}
	c.advance(500 * time.Millisecond)
	if err := p.AllowPublish(from("10.0.0.1"), "svc"); err != nil {
		t.Fatalf("after the wait it said: %v", err)
	}
}

func TestPublishCountsEachSubjectAndEachAddress(t *testing.T) {
	p, _ := newLimit(1, 1)
	if err := p.AllowPublish(from("10.0.0.1"), "a"); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name, addr, subject string
		refusedFor          string // "" if allowed
	}{
		{"same subject from another address", "10.0.0.2", "a", `subject "a"`},
		{"another subject from the same address", "10.0.0.1", "b", "address 10.0.0.1"},
		{"no subject from the same address", "10.0.0.1", "", "address 10.0.0.1"},
		{"another subject from another address", "10.0.0.3", "c", ""},
	}
	for _, tt := range cases {
		t.Run(tt.name, func(t *testing.T) {
			err := p.AllowPublish(from(tt.addr), tt.subject)
			switch {
			case tt.refusedFor == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case tt.refusedFor != "" && (err == nil || !strings.Contains(err.Error(), tt.refusedFor)):
				t.Fatalf("got %v, want a refusal naming %s", err, tt.refusedFor)
			}
		})
	}
}

func TestARefusalTakesFromNoBucket(t *testing.T) {
	p, _ := newLimit(1, 1)
	p.AllowPublish(from("10.0.0.1"), "a") // empties subject a
	if err := p.AllowPublish(from("10.0.0.2"), "a"); err == nil {
		t.Fatal("subject a published twice at once")
	}
	if err := p.AllowPublish(from("10.0.0.2"), "b"); err != nil {
		t.Fatalf("address 10.0.0.2 lost its token to a refused publication: %v", err)
	}
}

func TestRefilledBucketsAreDropped(t *testing.T) {
	p, c := newLimit(10, 10)
	for i := range 5000 {
		p.AllowPublish(from(fmt.Sprintf("10.1.%d.%d", i/256, i%256)), "")
		if i%1000 == 999 {
			c.advance(time.Second) // the earlier ones have refilled
		}
	}
	if n := len(p.b.m); n > 2*minSweep {
		t.Fatalf("%d buckets kept for 5000 addresses seen over 5 s, want at most %d", n, 2*minSweep)
	}
}

func TestNoRateMeansNoLimit(t *testing.T) {
	var p *Publish = NewPublish(0, 0)
	for range 1000 {
		if err := p.AllowPublish(from("10.0.0.1"), "a"); err != nil {
			t.Fatal(err)
		}
	}
}
