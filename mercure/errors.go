package mercure

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/heraldhub/herald/auth"
	"github.com/heraldhub/herald/eventlog"
	"github.com/heraldhub/herald/hub"
)

// httpError is an error with the status it is answered with.
type httpError struct {
	status int
	msg    string
}

func (e *httpError) Error() string { return e.msg }

// errorf builds an error answered with status and a formatted reason.
func errorf(status int, format string, args ...any) error {
	return &httpError{status: status, msg: fmt.Sprintf(format, args...)}
}

// Status maps an error to the HTTP status it is answered with. It is the one
// place where Herald's errors meet HTTP statuses.
func Status(err error) int {
	var he *httpError
	switch {
	case errors.As(err, &he):
		return he.status
	case errors.Is(err, auth.ErrNoToken), errors.Is(err, auth.ErrInvalidToken):
		return http.StatusUnauthorized
	case errors.Is(err, auth.ErrForbidden):
		return http.StatusForbidden
	case errors.Is(err, eventlog.ErrDuplicateID):
		return http.StatusConflict
	case errors.Is(err, hub.ErrTooLarge):
		return http.StatusRequestEntityTooLarge
	case errors.Is(err, hub.ErrNoTopic), errors.Is(err, hub.ErrInvalidID),
		errors.Is(err, hub.ErrInvalidType), errors.Is(err, hub.ErrInvalidRetry),
		errors.Is(err, hub.ErrInvalidUTF8):
		return http.StatusBadRequest
	case errors.Is(err, eventlog.ErrUnavailable), errors.Is(err, eventlog.ErrClosed),
		errors.Is(err, hub.ErrClosed):
		return http.StatusServiceUnavailable
	default:
		return http.StatusInternalServerError
	}
}

// WriteError answers err as a one-line plain-text reason with its status.
func WriteError(w http.ResponseWriter, err error) {
	status := Status(err)
	msg := err.Error()
	if status == http.StatusInternalServerError {
		msg = "internal error: " + msg
	}
	h := w.Header()
	if status == http.StatusUnauthorized {
		h.Set("WWW-Authenticate", `Bearer realm="herald"`)
	}
	if status == http.StatusServiceUnavailable {
		h.Set("Retry-After", "1")
	}
	h.Set("Content-Type", "text/plain; charset=utf-8")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	fmt.Fprintln(w, oneLine(msg))
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
