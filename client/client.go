package client

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"mime"
	"net/http"
	"net/url"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/heraldhub/herald/sse"
)

// DefaultRetry is the reconnection time until the server sets one with a
// retry field, as browsers use.
const DefaultRetry = 3 * time.Second

// DefaultMaxBackoff caps the wait between failed attempts unless
// Options.MaxBackoff says otherwise.
const DefaultMaxBackoff = 30 * time.Second

// minBackoff is the least wait after a failed attempt, so that a server
// that set retry: 0 and then went down is not called in a tight loop.
const minBackoff = 100 * time.Millisecond

// ErrNoContent reports that the server answered 204 No Content: it asks
// the client to stop reconnecting.
var ErrNoContent = errors.New("server answered 204 No Content: stream closed for good")

// StatusError reports a response that is not a stream: a status other than
// 200 (or 204), or a Content-Type other than text/event-stream. It is not
// retried. Its message is one line.
type StatusError struct {
	Status      string // the status line's text, such as "500 Internal Server Error"
	StatusCode  int
	ContentType string
	// Body holds the start of the response body, whitespace collapsed to
	// single spaces, for the message.
	Body string
}

// Error describes the response in one line, with the start of its body.
func (e *StatusError) Error() string {
	var msg string
	if e.StatusCode == http.StatusOK {
		msg = fmt.Sprintf("not an event stream: Content-Type %q, want text/event-stream", e.ContentType)
	} else {
		msg = "server answered " + e.Status
	}
	if e.Body != "" {
		msg += ": " + e.Body
	}
	return msg
}

// Options configures a subscription. The zero value is ready to use.
type Options struct {
	// Client sends the requests. It must not have a Timeout, which would
	// cut every stream. Default: a client of the subscription's own, whose
	// connections are closed when Subscribe returns. With a Client of your
	// own, idle connections stay in its Transport's pool.
	Client *http.Client
	// Header is added to every request (for example Authorization). A
	// Host entry sets the request's host. Accept, Cache-Control and
	// Last-Event-ID are set by the client.
	Header http.Header
	// LastEventID, if set, is sent as Last-Event-ID on the first request
	// too, and events carry it until the server sends an id of its own.
	// Default: Header's Last-Event-ID, if any.
	LastEventID string
	// Retry is the reconnection time until the server sets one. Default
	// DefaultRetry.
	Retry time.Duration
	// MaxBackoff caps the wait after repeated failures (it never shortens
	// a reconnection time the server set). Default DefaultMaxBackoff.
	MaxBackoff time.Duration
	// NoReconnect makes Subscribe return when the first stream ends or
	// fails instead of reconnecting.
	NoReconnect bool
	// OnConnect, if set, is called each time a stream is opened (a 200
	// response with an event stream), before its events.
	OnConnect func(resp *http.Response)
	// OnError, if set, is called with each network failure (the request
	// failed, or the stream broke) with the wait before the next attempt.
	OnError func(err error, wait time.Duration)
}

// Subscribe streams the events of the SSE resource at rawURL to fn, in
// order, on the calling goroutine, and reconnects as a browser's
// EventSource does:
//
//   - every request sends Accept: text/event-stream and Cache-Control:
//     no-cache, and Last-Event-ID once an event id is known (or
//     Options.LastEventID is set);
//   - after a stream ends or breaks, it reconnects after the reconnection
//     time (Options.Retry until the server sets one with retry);
//   - after a failed attempt (no response, or a stream that ended without
//     an event), it waits longer each time: the reconnection time (at
//     least 100ms) doubled per consecutive failure, capped at MaxBackoff,
//     with random jitter in its upper half, and never less than the
//     reconnection time;
//   - events carry the last event id across reconnections, so Event.ID is
//     what EventSource's lastEventId would show.
//
// Subscribe returns when ctx is done (ctx.Err()), when fn returns an error
// (that error, as is), when the server answers 204 (ErrNoContent), when a
// response is not an event stream (*StatusError: no retry), when an event
// exceeds the decoder's limit (sse.ErrEventTooLarge), when rawURL is not
// an http or https URL, or, with NoReconnect, when the first stream ends
// (nil) or fails (the error). It starts no goroutine that outlives it.
func Subscribe(ctx context.Context, rawURL string, opts Options, fn func(sse.Event) error) error {
	u, err := url.Parse(rawURL)
	if err != nil {
		return fmt.Errorf("invalid URL %q: %w", rawURL, err)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("invalid URL %q: want http:// or https:// and a host", rawURL)
	}
	header := opts.Header.Clone()
	if header == nil {
		header = http.Header{}
	}
	if err := checkHeader(header); err != nil {
		return err
	}
	s := &subscription{url: u.String(), opts: &opts, header: header, fn: fn}
	if h := header.Get("Host"); h != "" {
		s.host = h
		header.Del("Host")
	}
	lastID := opts.LastEventID
	if lastID == "" {
		lastID = header.Get("Last-Event-ID")
	}
	if !validHeaderValue(lastID) {
		return fmt.Errorf("invalid Last-Event-ID %q: control characters cannot be sent in a header", lastID)
	}
	header.Del("Last-Event-ID")
	header.Set("Accept", "text/event-stream")
	header.Set("Cache-Control", "no-cache")

	s.client = opts.Client
	if s.client == nil {
		tr := newTransport()
		defer tr.CloseIdleConnections()
		s.client = &http.Client{Transport: tr}
	}
	s.dec = sse.NewDecoder(http.NoBody)
	s.dec.SetLastEventID(lastID)
	retry := opts.Retry
	if retry <= 0 {
		retry = DefaultRetry
	}
	maxBackoff := opts.MaxBackoff
	if maxBackoff <= 0 {
		maxBackoff = DefaultMaxBackoff
	}

	failures := 0
	for {
		events, err := s.connect(ctx)
		var fnErr callbackError
		if errors.As(err, &fnErr) {
			return fnErr.err
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if permanent(err) || opts.NoReconnect {
			return err
		}
		if s.dec.HasRetry() {
			retry = s.dec.Retry()
		}
		wait := retry
		if events > 0 {
			failures = 0
		} else {
			failures++
			wait = backoff(retry, maxBackoff, failures)
		}
		if err != nil && opts.OnError != nil {
			opts.OnError(err, wait)
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
	}
}

// checkHeader refuses a header that cannot be sent: a name that is not a
// token, or a value with control characters.
func checkHeader(header http.Header) error {
	for name, values := range header {
		if !validHeaderName(name) {
			return fmt.Errorf("invalid header name %q", name)
		}
		for _, v := range values {
			if !validHeaderValue(v) {
				return fmt.Errorf("invalid value for header %s: %q", name, v)
			}
		}
	}
	return nil
}

// newTransport returns a transport for one subscription: the default
// transport's settings, with a pool of its own to close at the end.
func newTransport() *http.Transport {
	if tr, ok := http.DefaultTransport.(*http.Transport); ok {
		return tr.Clone()
	}
	return &http.Transport{Proxy: http.ProxyFromEnvironment, ForceAttemptHTTP2: true}
}

// backoff returns the wait before the next attempt after failures
// consecutive failed ones: with base the reconnection time (at least
// minBackoff), a random duration in the upper half of base·2^failures
// capped at maxBackoff, and never less than base.
func backoff(retry, maxBackoff time.Duration, failures int) time.Duration {
	base := max(retry, minBackoff)
	limit := max(maxBackoff, base)
	d := base
	for range failures {
		if d >= limit/2 {
			d = limit
			break
		}
		d *= 2
	}
	return max(base, d/2+rand.N(d/2+1))
}

// permanent reports whether err ends the subscription instead of leading
// to a reconnection.
func permanent(err error) bool {
	var se *StatusError
	var idErr lastIDError
	return errors.Is(err, ErrNoContent) || errors.As(err, &se) || errors.As(err, &idErr) ||
		errors.Is(err, sse.ErrEventTooLarge)
}

// callbackError carries an error returned by the caller's fn.
type callbackError struct{ err error }

func (e callbackError) Error() string { return e.err.Error() }

// lastIDError reports an event id the server sent that is not a valid
// header value, so it cannot be sent back as Last-Event-ID.
type lastIDError struct{ id string }

func (e lastIDError) Error() string {
	return fmt.Sprintf("the server sent event id %q, which cannot be sent back as Last-Event-ID", e.id)
}

// subscription is the state that lives across reconnections.
type subscription struct {
	client *http.Client
	url    string
	host   string
	header http.Header
	opts   *Options
	dec    *sse.Decoder
	fn     func(sse.Event) error
}

// connect runs one request and, if it opens a stream, reads it to its end.
// It reports how many events it delivered.
func (s *subscription) connect(ctx context.Context) (events int, err error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.url, nil)
	if err != nil {
		return 0, err
	}
	req.Header = s.header.Clone()
	if s.host != "" {
		req.Host = s.host
	}
	if id := s.dec.LastEventID(); id != "" {
		if !validHeaderValue(id) {
			return 0, lastIDError{id}
		}
		req.Header.Set("Last-Event-ID", id)
	}
	resp, err := s.client.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusNoContent {
		return 0, ErrNoContent
	}
	ct := resp.Header.Get("Content-Type")
	media, _, _ := mime.ParseMediaType(ct)
	if resp.StatusCode != http.StatusOK || media != "text/event-stream" {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return 0, &StatusError{Status: resp.Status, StatusCode: resp.StatusCode, ContentType: ct, Body: snippet(b, 200)}
	}
	if s.opts.OnConnect != nil {
		s.opts.OnConnect(resp)
	}
	s.dec.Reset(resp.Body)
	for {
		ev, err := s.dec.Next()
		if errors.Is(err, io.EOF) {
			return events, nil
		}
		if err != nil {
			return events, fmt.Errorf("reading the stream from %s: %w", s.url, err)
		}
		events++
		if err := s.fn(ev); err != nil {
			return events, callbackError{err}
		}
	}
}

// snippet returns the start of b as one line of at most n runes: invalid
// UTF-8 replaced, runs of whitespace collapsed to one space.
func snippet(b []byte, n int) string {
	s := strings.Join(strings.Fields(strings.ToValidUTF8(string(b), "\uFFFD")), " ")
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n]) + "…"
}

// validHeaderName reports whether name is an HTTP token, as net/http
// requires of a header name.
func validHeaderName(name string) bool {
	if name == "" {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if c <= ' ' || c >= 0x7f || strings.IndexByte(`"(),/:;<=>?@[\]{}`, c) >= 0 {
			return false
		}
	}
	return true
}

// validHeaderValue reports whether v can be sent as a header value: no
// control characters other than tab, as net/http requires.
func validHeaderValue(v string) bool {
	for i := 0; i < len(v); i++ {
		if c := v[i]; (c < ' ' && c != '\t') || c == 0x7f {
			return false
		}
	}
	return true
}
