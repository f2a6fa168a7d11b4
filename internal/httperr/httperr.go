package httperr

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/heraldhub/herald/auth"
	"github.com/heraldhub/herald/eventlog"
)

// Error is an error answered with its own status.
type Error struct {
	// Status is the HTTP status the error is answered with.
	Status int
	// Msg is the one-line reason, for the user.
	Msg string
	// RetryAfter, if positive, is sent as the Retry-After header (rounded
	// up to whole seconds), telling the client when trying again may work.
	RetryAfter time.Duration
	// Limit, if set, names the configured limit the request passed
	// ("conns_per_ip", "template_bytes", "publish_rate"), for an Observer
	// counting refusals.
	Limit string
}

// Observer is implemented by a ResponseWriter that wants to know which
// errors are answered through it (a node counting refusals for its
// metrics): Write tells it of each one with its status before answering.
type Observer interface {
	ObserveError(status int, err error)
}

// Error returns the reason.
func (e *Error) Error() string { return e.Msg }

// Errorf returns an *Error with status and a formatted reason.
func Errorf(status int, format string, args ...any) error {
	return &Error{Status: status, Msg: fmt.Sprintf(format, args...)}
}

// Rule answers the errors that wrap Err (errors.Is) with Status. A Rule
// with a nil Err is the fallback: it answers every error no other rule, nor
// the shared ones, matches.
type Rule struct {
	Err    error
	Status int
}

// Rules maps errors to HTTP statuses. An *Error in the chain answers with
// its own status; otherwise the first rule whose Err the error wraps, then
// the shared rules (auth and eventlog sentinels), decide; anything else is
// answered by the fallback rule if there is one, else 500. A package declares the statuses of its own sentinels once, in its
// Rules, and answers every error through them.
type Rules []Rule

// shared are the statuses of the sentinels every HTTP API meets.
var shared = Rules{
	{auth.ErrNoToken, http.StatusUnauthorized},
	{auth.ErrInvalidToken, http.StatusUnauthorized},
	{auth.ErrForbidden, http.StatusForbidden},
	{auth.ErrInvalidRequest, http.StatusBadRequest},
	{eventlog.ErrDuplicateID, http.StatusConflict},
	{eventlog.ErrUnavailable, http.StatusServiceUnavailable},
	{eventlog.ErrClosed, http.StatusServiceUnavailable},
}

// Status returns the status err is answered with.
func (rs Rules) Status(err error) int {
	var e *Error
	if errors.As(err, &e) {
		return e.Status
	}
	fallback := http.StatusInternalServerError
	for _, set := range []Rules{rs, shared} {
		for _, r := range set {
			switch {
			case r.Err == nil:
				fallback = r.Status
			case errors.Is(err, r.Err):
				return r.Status
			}
		}
	}
	return fallback
}

// Write answers err with its status and a one-line plain-text reason. A
// token refusal (an error of package auth) carries its RFC 6750
// WWW-Authenticate challenge (auth.Challenge), any other 401 a plain
// Bearer one; a 503 or 429 a Retry-After
// (the error's own, else one second); a 500's reason is prefixed "internal
// error: ".
func (rs Rules) Write(w http.ResponseWriter, err error) {
	status := rs.Status(err)
	if o, ok := w.(Observer); ok {
		o.ObserveError(status, err)
	}
	msg := err.Error()
	if status == http.StatusInternalServerError {
		msg = "internal error: " + msg
	}
	h := w.Header()
	if c := auth.Challenge(err); c != "" && status >= 400 && status < 500 {
		h.Set("WWW-Authenticate", c)
	} else if status == http.StatusUnauthorized {
		h.Set("WWW-Authenticate", `Bearer realm="herald"`)
	}
	if status == http.StatusServiceUnavailable || status == http.StatusTooManyRequests {
		wait := time.Second
		var e *Error
		if errors.As(err, &e) && e.RetryAfter > 0 {
			wait = e.RetryAfter
		}
		h.Set("Retry-After", strconv.FormatInt(int64((wait+time.Second-1)/time.Second), 10))
	}
	h.Set("Content-Type", "text/plain; charset=utf-8")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	fmt.Fprintln(w, oneLine(msg))
}

// Write answers err through the shared rules only.
func Write(w http.ResponseWriter, err error) { Rules(nil).Write(w, err) }

// LeaveBody marks the answer to r to close the connection afterwards,
// for a handler that refuses r without reading its body. Otherwise the
// server would drain the unread body before sending the answer, so a
// client trickling its body would hold the refusal (and the connection)
// until the read timeout.
func LeaveBody(w http.ResponseWriter, r *http.Request) {
	if r.ContentLength != 0 && r.ProtoMajor == 1 {
		w.Header().Set("Connection", "close")
	}
}

// oneLine keeps an error message on a single line.
func oneLine(s string) string {
	b := []byte(s)
	for i, c := range b {
		if c == '\n' || c == '\r' {
			b[i] = ' '
		}
	}
	return string(b)
}
