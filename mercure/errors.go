package mercure

import (
	"fmt"
	"net/http"

	"github.com/heraldhub/herald/hub"
	"github.com/heraldhub/herald/internal/httperr"
)

// errorf builds an error answered with status and a formatted reason.
func errorf(status int, format string, args ...any) error {
	return httperr.Errorf(status, format, args...)
}

// limitError builds a 429 for a request over the configured limit named
// limit (see httperr.Error.Limit).
func limitError(limit, format string, args ...any) error {
	return &httperr.Error{Status: http.StatusTooManyRequests, Msg: fmt.Sprintf(format, args...), Limit: limit}
}

// statuses are the statuses of the hub's errors; the auth and eventlog
// ones are shared with every HTTP API (see internal/httperr).
var statuses = httperr.Rules{
	{Err: hub.ErrTooLarge, Status: http.StatusRequestEntityTooLarge},
	{Err: hub.ErrNoTopic, Status: http.StatusBadRequest},
	{Err: hub.ErrInvalidID, Status: http.StatusBadRequest},
	{Err: hub.ErrInvalidType, Status: http.StatusBadRequest},
	{Err: hub.ErrInvalidTopic, Status: http.StatusBadRequest},
	{Err: hub.ErrInvalidRetry, Status: http.StatusBadRequest},
	{Err: hub.ErrInvalidUTF8, Status: http.StatusBadRequest},
	{Err: hub.ErrClosed, Status: http.StatusServiceUnavailable},
}

// Status maps an error to the HTTP status it is answered with.
func Status(err error) int { return statuses.Status(err) }

// WriteError answers err as a one-line plain-text reason with its status.
func WriteError(w http.ResponseWriter, err error) { statuses.Write(w, err) }
