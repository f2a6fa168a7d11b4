package ratelimit

import (
	"fmt"
	"math"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/heraldhub/herald/internal/clientaddr"
	"github.com/heraldhub/herald/internal/httperr"
)

// ParseRate reads a rate: "50/s", "600/m", "3600/h", or a bare number of
// events per second. "0" (or "") means no limit. It returns events per
// second.
func ParseRate(s string) (float64, error) {
	if s == "" {
		return 0, nil
	}
	num, unit, hasUnit := strings.Cut(s, "/")
	per := time.Second
	if hasUnit {
		switch unit {
		case "s":
		case "m":
			per = time.Minute
		case "h":
			per = time.Hour
		default:
			return 0, fmt.Errorf("rate %q: the unit after / is s, m or h (e.g. 50/s)", s)
		}
	}
	n, err := strconv.ParseFloat(num, 64)
	if err != nil || n < 0 || math.IsInf(n, 0) || math.IsNaN(n) {
		return 0, fmt.Errorf("rate %q: want a count and a unit, e.g. 50/s, or 0 for no limit", s)
	}
	return n / per.Seconds(), nil
}

// Publish limits publications per token subject and per client address,
// each with its own bucket of Burst publications refilled at Rate per
// second. A nil *Publish limits nothing. It is safe for concurrent use.
type Publish struct {
	// ClientAddr, if set, names the client a request is counted under
	// (behind trusted proxies, the client they forward for); nil counts
	// by Address.
	ClientAddr func(r *http.Request) string

	rate  float64
	burst int
	b     buckets
}

// NewPublish returns a limit of perSecond publications (nil, no limit, if
// perSecond is not positive), allowing bursts of burst; a burst below 1 is
// one second's worth, at least 1.
func NewPublish(perSecond float64, burst int) *Publish {
	if perSecond <= 0 {
		return nil
	}
	if burst < 1 {
		burst = max(1, int(math.Ceil(perSecond)))
	}
	return &Publish{rate: perSecond, burst: burst, b: buckets{rate: perSecond, burst: float64(burst), now: time.Now}}
}

// AllowPublish takes one publication from r's address's bucket and, if
// subject is not "", from the subject's. It returns nil, or an error
// answered 429 with a Retry-After when either bucket is empty (then
// neither is taken from).
func (p *Publish) AllowPublish(r *http.Request, subject string) error {
	if p == nil {
		return nil
	}
	addr := Address(r)
	if p.ClientAddr != nil {
		addr = p.ClientAddr(r)
	}
	keys := []string{"addr " + addr}
	if subject != "" {
		keys = append(keys, "sub "+subject)
	}
	wait, empty := p.b.take(keys)
	if wait == 0 {
		return nil
	}
	who := "address " + addr
	if empty == 1 {
		who = fmt.Sprintf("token subject %q", subject)
	}
	return &httperr.Error{
		Status:     http.StatusTooManyRequests,
		Msg:        fmt.Sprintf("too many publications from %s: the limit is %s, bursts of %d; retry in %s", who, formatRate(p.rate), p.burst, wait.Round(time.Millisecond)),
		RetryAfter: wait,
		Limit:      "publish_rate",
	}
}

// Address is the client a request is counted under when ClientAddr is
// not set: its TCP peer, per address for IPv4 and per /64 for IPv6 (see
// clientaddr.Bucket).
func Address(r *http.Request) string {
	var direct clientaddr.Resolver // trusts no proxy
	return clientaddr.Bucket(direct.Addr(r))
}

// formatRate writes a rate per second as a user gave it, roughly.
func formatRate(perSecond float64) string {
	switch {
	case perSecond >= 1:
		return strconv.FormatFloat(perSecond, 'g', 4, 64) + "/s"
	case perSecond*60 >= 1:
		return strconv.FormatFloat(perSecond*60, 'g', 4, 64) + "/m"
	}
	return strconv.FormatFloat(perSecond*3600, 'g', 4, 64) + "/h"
}

// buckets are token buckets by key.
type buckets struct {
	rate, burst float64
	now         func() time.Time

	mu      sync.Mutex
	m       map[string]*bucket
	sweepAt int // map size at which full buckets are dropped
}

type bucket struct {
	tokens float64
	last   time.Time
}

// minSweep is the smallest map size that triggers a sweep.
const minSweep = 1024

// take takes one token from each of keys' buckets if each has one, and
// returns 0. Otherwise it takes none and returns how long until the
// emptiest has one, and that bucket's index in keys.
func (b *buckets) take(keys []string) (wait time.Duration, empty int) {
	now := b.now()
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.m == nil {
		b.m = make(map[string]*bucket)
		b.sweepAt = minSweep
	}
	if len(b.m)+len(keys) > b.sweepAt {
		b.sweep(now)
	}
	found := make([]*bucket, len(keys))
	for i, k := range keys {
		bk := b.m[k]
		if bk == nil {
			bk = &bucket{tokens: b.burst, last: now}
			b.m[k] = bk
		}
		bk.tokens = min(b.burst, bk.tokens+now.Sub(bk.last).Seconds()*b.rate)
		bk.last = now
		found[i] = bk
		if bk.tokens < 1 {
			if w := max(time.Nanosecond, time.Duration((1-bk.tokens)/b.rate*float64(time.Second))); w > wait {
				wait, empty = w, i
			}
		}
	}
	if wait > 0 {
		return wait, empty
	}
	for _, bk := range found {
		bk.tokens--
	}
	return 0, 0
}

// sweep drops the buckets that have refilled: a new one is the same.
func (b *buckets) sweep(now time.Time) {
	for k, bk := range b.m {
		if bk.tokens+now.Sub(bk.last).Seconds()*b.rate >= b.burst {
			delete(b.m, k)
		}
	}
	b.sweepAt = max(minSweep, 2*len(b.m))
}
