package client

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"mime"
	"net/http"
	"strings"
	"time"

	"github.com/heraldhub/herald/sse"
)

// ErrNoContent reports that the server answered 204 No Content: it asks
// the client to stop reconnecting.
var ErrNoContent = errors.New("server answered 204 No Content: stream closed for good")

// StatusError reports a response that is not a stream: a status other than
// 200, or a Content-Type other than text/event-stream. It is not retried.
type StatusError struct {
	Status      string
	StatusCode  int
	ContentType string
	Body        string // the first bytes of the body, for the message
}

func (e *StatusError) Error() string {
	if e.StatusCode == http.StatusOK {
		return fmt.Sprintf("not an event stream: Content-Type %q, want text/event-stream", e.ContentType)
	}
	msg := "server answered " + e.Status
	if e.Body != "" {
		msg += ": " + e.Body
	}
	return msg
}

// Options configures a subscription. The zero value is ready to use.
type Options struct {
	// Client sends the requests. Default: a client without timeout (a
	// stream lasts as long as it lasts).
	Client *http.Client
	// Header is added to every request (for example Authorization).
	Header http.Header
	// LastEventID, if set, is sent on the first request too.
	LastEventID string
	// Retry is the reconnection time until the server sets one. Default 3s,
	// as browsers use.
	Retry time.Duration
	// MaxBackoff caps the delay after repeated network failures. Default 30s.
	MaxBackoff time.Duration
	// NoReconnect returns when the first stream ends instead of
	// reconnecting.
	NoReconnect bool
	// OnConnect, if set, is called each time a stream is opened (headers
	// received).
	OnConnect func(resp *http.Response)
	// OnError, if set, is called with each network failure before the
	// client waits and reconnects.
	OnError func(err error, wait time.Duration)
}

// Subscribe streams url's events to fn until ctx is done (it then returns
// ctx.Err()), fn returns an error (returned as is), the server answers 204
// (ErrNoContent), a response is not a stream (*StatusError), or, with
// NoReconnect, the first stream ends (nil). Events are passed in order;
// after a reconnection the stream resumes after the last event id seen.
// Subscribe starts no goroutine that outlives it.
func Subscribe(ctx context.Context, url string, opts Options, fn func(sse.Event) error) error {
	c := opts.Client
	if c == nil {
		c = &http.Client{}
	}
	retry := opts.Retry
	if retry <= 0 {
		retry = 3 * time.Second
	}
	maxBackoff := opts.MaxBackoff
	if maxBackoff <= 0 {
		maxBackoff = 30 * time.Second
	}
	lastID := opts.LastEventID
	failures := 0
	for {
		got, err := stream(ctx, c, url, &opts, lastID, func(ev sse.Event, d *sse.Decoder) error {
			failures = 0
			return fn(ev)
		}, &lastID, &retry)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		var se *StatusError
		var fnErr callbackError
		switch {
		case errors.As(err, &fnErr):
			return fnErr.err
		case errors.Is(err, ErrNoContent), errors.As(err, &se):
			return err
		case opts.NoReconnect:
			return err
		}
		wait := retry
		if err != nil && !got {
			// The connection failed: back off exponentially, with jitter.
			failures++
			wait = min(retry<<min(failures-1, 10), maxBackoff)
			wait = wait/2 + rand.N(wait/2+1)
			if opts.OnError != nil {
				opts.OnError(err, wait)
			}
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

// callbackError carries an error returned by the caller's fn.
type callbackError struct{ err error }

func (e callbackError) Error() string { return e.err.Error() }

// stream runs one connection. It reports whether the stream opened, and
// keeps lastID and retry up to date as events arrive.
func stream(ctx context.Context, c *http.Client, url string, opts *Options, lastID string,
	fn func(sse.Event, *sse.Decoder) error, lastOut *string, retry *time.Duration) (opened bool, err error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return false, &StatusError{Status: "invalid URL", Body: err.Error()}
	}
	for k, v := range opts.Header {
		req.Header[k] = v
	}
	req.Header.Set("Accept", "text/event-stream")
	req.Header.Set("Cache-Control", "no-cache")
	if lastID != "" {
		req.Header.Set("Last-Event-ID", lastID)
	}
	resp, err := c.Do(req)
	if err != nil {
		return false, err
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusNoContent {
		return false, ErrNoContent
	}
	ct := resp.Header.Get("Content-Type")
	media, _, _ := mime.ParseMediaType(ct)
	if resp.StatusCode != http.StatusOK || media != "text/event-stream" {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return false, &StatusError{Status: resp.Status, StatusCode: resp.StatusCode, ContentType: ct, Body: strings.TrimSpace(string(b))}
	}
	if opts.OnConnect != nil {
		opts.OnConnect(resp)
	}
	d := sse.NewDecoder(resp.Body)
	for {
		ev, err := d.Next()
		*lastOut = d.LastEventID()
		if r := d.Retry(); r > 0 {
			*retry = r
		}
		if err != nil {
			if errors.Is(err, io.EOF) {
				return true, nil
			}
			return true, err
		}
		if err := fn(ev, d); err != nil {
			return true, callbackError{err}
		}
	}
}
