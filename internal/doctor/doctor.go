package doctor

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"time"
)

// Config says which hub to check and how.
type Config struct {
	// URL is the hub's endpoint as clients reach it, e.g.
	// https://example.com/.well-known/mercure.
	URL string
	// Token is a publisher token for the probe updates (public updates on
	// a random urn:herald:doctor: topic). Without it the checks that need
	// an update fail.
	Token string
	// Origin, if set, is a page origin (https://app.example.com) whose
	// cross-origin access is checked; "" skips the check.
	Origin string
	// Idle is how long the stream is held open without updates before the
	// idle check publishes again. Zero means 70 s: longer than the 60 s
	// idle timeout most proxies and balancers default to.
	Idle time.Duration
	// MaxDelay is how late an update may arrive and the stream still count
	// as unbuffered. Zero means 1 s.
	MaxDelay time.Duration
	// Wait bounds each wait for an answer or an update. Zero means 10 s.
	Wait time.Duration
	// Client makes the requests. Nil means a client on a clone of
	// http.DefaultTransport (HTTP/2 over TLS where the server offers it).
	Client *http.Client
	// OnResult, if set, is called with each result as its check ends, in
	// the order the checks end (the idle check ends last).
	OnResult func(Result)
}

func (c *Config) setDefaults() {
	if c.Idle == 0 {
		c.Idle = 70 * time.Second
	}
	if c.MaxDelay == 0 {
		c.MaxDelay = time.Second
	}
	if c.Wait == 0 {
		c.Wait = 10 * time.Second
	}
	if c.Client == nil {
		c.Client = &http.Client{Transport: http.DefaultTransport.(*http.Transport).Clone()}
	}
	if c.OnResult == nil {
		c.OnResult = func(Result) {}
	}
}

// Status is a check's outcome.
type Status int

// A check passes, passes with a warning, fails, or is skipped (it was not
// asked for). Only Fail makes a run fail.
const (
	Pass Status = iota
	Warn
	Fail
	Skip
)

func (s Status) String() string {
	return [...]string{"PASS", "WARN", "FAIL", "SKIP"}[s]
}

// Result is the outcome of one check.
type Result struct {
	Check   string // "delivery", "headers", "idle", "protocol", "cors" or "clock"
	Status  Status
	Problem string // with Warn and Fail: what is wrong, e.g. "the stream is buffered"
	Finding string // one line: what was observed
	Fix     string // with Warn and Fail: how to fix it, one line per server
}

// Failed returns the results whose Status is Fail.
func Failed(results []Result) []Result {
	var out []Result
	for _, r := range results {
		if r.Status == Fail {
			out = append(out, r)
		}
	}
	return out
}

// Run checks the hub at cfg.URL and returns one result per check: it
// returns an error only for a Config it cannot run with. It takes about
// cfg.Idle plus a few round trips.
func Run(ctx context.Context, cfg Config) ([]Result, error) {
	cfg.setDefaults()
	u, err := url.Parse(cfg.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("invalid hub URL %q: want the endpoint as clients reach it, e.g. https://example.com/.well-known/mercure", cfg.URL)
	}
	if cfg.Origin != "" {
		if o, err := url.Parse(cfg.Origin); err != nil || o.Scheme == "" || o.Host == "" || (o.Path != "" && o.Path != "/") {
			return nil, fmt.Errorf("invalid origin %q: want scheme://host[:port], e.g. https://app.example.com", cfg.Origin)
		}
	}
	r := &run{cfg: cfg, ctx: ctx, topic: "urn:herald:doctor:" + randomHex()}
	r.checkPreflight()
	st, err := r.open()
	if err != nil {
		r.add(Result{Check: "delivery", Status: Fail, Problem: streamProblem(err), Finding: err.Error(), Fix: fixFor(err)})
		for _, check := range []string{"headers", "idle", "protocol", "cors"} {
			if check == "cors" && r.has("cors") {
				continue
			}
			r.add(Result{Check: check, Status: Skip, Finding: "not checked: no stream"})
		}
		r.checkClock(nil)
		return r.results, nil
	}
	defer st.close()
	r.checkProtocol(st.resp)
	r.checkHeaders(st.resp)
	r.checkSimpleCORS(st.resp)
	r.checkClock(st.resp)
	r.checkDelivery(st)
	r.checkIdle(st)
	return r.results, nil
}

// run is one Run's state.
type run struct {
	cfg     Config
	ctx     context.Context
	topic   string
	seq     int
	results []Result
}

func (r *run) add(res Result) {
	r.results = append(r.results, res)
	r.cfg.OnResult(res)
}

// has reports whether check has a result already.
func (r *run) has(check string) bool {
	for _, res := range r.results {
		if res.Check == check {
			return true
		}
	}
	return false
}

func randomHex() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// errBuffered reports a stream whose response never started: something in
// front of the hub holds it until it ends.
var errBuffered = errors.New("the stream's response did not start")

func streamProblem(err error) string {
	if errors.Is(err, errBuffered) {
		return "the stream is buffered"
	}
	return "the stream did not open"
}

func fixFor(err error) string {
	if errors.Is(err, errBuffered) {
		return fixBuffered
	}
	return ""
}
