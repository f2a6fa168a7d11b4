package outbound

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"time"

	"github.com/heraldhub/herald/webhook"
)

// ErrGaveUp reports a delivery that ran out of attempts or time without a
// 2xx answer.
var ErrGaveUp = errors.New("delivery given up")

// Policy says how hard a delivery tries. Zero values mean the defaults in
// the comments.
type Policy struct {
	// Timeout bounds one attempt, from dial to the end of the answer.
	// Default 10s.
	Timeout time.Duration
	// MinBackoff is the wait after the first failure; each further one
	// doubles it, up to MaxBackoff, with up to half of it as random
	// jitter. Defaults 1s and 5m.
	MinBackoff time.Duration
	MaxBackoff time.Duration
	// Deadline bounds a whole delivery, retries included. Default 24h.
	Deadline time.Duration
	// MaxAttempts, if positive, bounds the attempts of one delivery.
	MaxAttempts int
}

func (p *Policy) setDefaults() {
	if p.Timeout <= 0 {
		p.Timeout = 10 * time.Second
	}
	if p.MinBackoff <= 0 {
		p.MinBackoff = time.Second
	}
	if p.MaxBackoff <= 0 {
		p.MaxBackoff = 5 * time.Minute
	}
	if p.MaxBackoff < p.MinBackoff {
		p.MaxBackoff = p.MinBackoff
	}
	if p.Deadline <= 0 {
		p.Deadline = 24 * time.Hour
	}
}

// maxAnswerBytes is how much of a receiver's answer is read (and then
// kept in the delivery log's error, truncated).
const maxAnswerBytes = 4 << 10

// Target is where a delivery goes and the secret that signs it.
type Target struct {
	URL    string
	Secret []byte
}

// Attempt is one try of a delivery, as the delivery log keeps it.
type Attempt struct {
	Time time.Time `json:"time"`
	// Delivery names what was delivered (an event id, a job id).
	Delivery string `json:"delivery"`
	// Status is the receiver's HTTP status, 0 if none came.
	Status int `json:"status"`
	// Error says why the attempt failed; empty on success.
	Error string `json:"error,omitempty"`
}

// OK reports whether the attempt succeeded.
func (a Attempt) OK() bool { return a.Status >= 200 && a.Status < 300 }

// Engine sends signed deliveries to allowed hosts. It is safe for
// concurrent use; each Deliver call blocks its caller only.
type Engine struct {
	allow  Allowlist
	policy Policy
	client *http.Client
	now    func() time.Time
}

// New returns an engine that sends to the hosts allow names, trying as
// policy says.
func New(allow Allowlist, policy Policy) *Engine {
	policy.setDefaults()
	dialer := &net.Dialer{Timeout: policy.Timeout, Control: allow.control}
	transport := &http.Transport{
		DialContext:           dialer.DialContext,
		TLSHandshakeTimeout:   policy.Timeout,
		ResponseHeaderTimeout: policy.Timeout,
		MaxIdleConnsPerHost:   4,
		IdleConnTimeout:       90 * time.Second,
	}
	client := &http.Client{
		Transport: transport,
		Timeout:   policy.Timeout,
		// A redirect could lead anywhere: it counts as a failure.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	return &Engine{allow: allow, policy: policy, client: client, now: time.Now}
}

// Allowlist returns the engine's allowlist, for checking URLs when they
// are registered.
func (e *Engine) Allowlist() Allowlist { return e.allow }

// Deliver POSTs body (JSON) to t until an attempt is answered 2xx, and
// returns nil then. It calls record after each attempt (named delivery),
// waits between attempts with exponential backoff and jitter, and returns
// an error wrapping ErrGaveUp when the policy's attempts or deadline run
// out, or ctx's error when ctx ends first.
func (e *Engine) Deliver(ctx context.Context, t Target, delivery string, body []byte, record func(Attempt)) error {
	if err := e.allow.Check(t.URL); err != nil {
		record(Attempt{Time: e.now(), Delivery: delivery, Error: err.Error()})
		return fmt.Errorf("%w: %v", ErrGaveUp, err)
	}
	deadline := e.now().Add(e.policy.Deadline)
	backoff := e.policy.MinBackoff
	for n := 1; ; n++ {
		a := e.attempt(ctx, t, delivery, body)
		record(a)
		if a.OK() {
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if e.policy.MaxAttempts > 0 && n >= e.policy.MaxAttempts {
			return fmt.Errorf("%w after %d attempts: %s", ErrGaveUp, n, a.Error)
		}
		wait := backoff/2 + rand.N(backoff/2+1)
		if e.now().Add(wait).After(deadline) {
			return fmt.Errorf("%w at the deadline (%v) after %d attempts: %s", ErrGaveUp, e.policy.Deadline, n, a.Error)
		}
		timer := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			timer.Stop()
			return ctx.Err()
		case <-timer.C:
		}
		backoff = min(backoff*2, e.policy.MaxBackoff)
	}
}

// attempt makes one signed POST and tells how it went.
func (e *Engine) attempt(ctx context.Context, t Target, delivery string, body []byte) Attempt {
	now := e.now()
	a := Attempt{Time: now, Delivery: delivery}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, t.URL, bytes.NewReader(body))
	if err != nil {
		a.Error = err.Error()
		return a
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "Herald")
	req.Header.Set("Herald-Delivery", delivery)
	req.Header.Set(webhook.Header, webhook.Sign(t.Secret, now, body))
	resp, err := e.client.Do(req)
	if err != nil {
		a.Error = err.Error()
		return a
	}
	defer resp.Body.Close()
	answer, _ := io.ReadAll(io.LimitReader(resp.Body, maxAnswerBytes))
	a.Status = resp.StatusCode
	if !a.OK() {
		a.Error = fmt.Sprintf("answered %s", resp.Status)
		if len(answer) > 0 {
			a.Error += ": " + string(bytes.TrimSpace(answer[:min(len(answer), 200)]))
		}
	}
	return a
}

// Close releases the engine's idle connections.
func (e *Engine) Close() { e.client.CloseIdleConnections() }
