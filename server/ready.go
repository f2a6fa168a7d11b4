package server

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/heraldhub/herald/eventlog"
	"github.com/heraldhub/herald/internal/httperr"
)

// writeWatch is the node's log as the hub sees it: it remembers whether
// the last append failed, so that readiness tells the truth about writes
// (a full disk fails every append while the log still answers reads and
// pings).
type writeWatch struct {
	eventlog.Log
	now func() time.Time

	mu       sync.Mutex
	failedAt time.Time // zero while the last append succeeded
	err      error
}

// failureHold is how long a failed append keeps the node unready when no
// append is attempted since: a node taken out of rotation gets no writes
// to prove itself with, so it is given the traffic back to find out.
const failureHold = 30 * time.Second

// Append appends through the log and records the outcome. A duplicate id or
// a request the caller abandoned says nothing about the log.
func (w *writeWatch) Append(ctx context.Context, u eventlog.Update) (eventlog.Update, error) {
	stored, err := w.Log.Append(ctx, u)
	switch {
	case err == nil:
		w.mu.Lock()
		w.failedAt, w.err = time.Time{}, nil
		w.mu.Unlock()
	case errors.Is(err, eventlog.ErrDuplicateID), ctx.Err() != nil:
	default:
		w.mu.Lock()
		w.failedAt, w.err = w.now(), err
		w.mu.Unlock()
	}
	return stored, err
}

// failing returns the error of the last append if it failed less than
// failureHold ago, nil otherwise.
func (w *writeWatch) failing() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.err == nil || w.now().Sub(w.failedAt) >= failureHold {
		return nil
	}
	return w.err
}

// ready answers 200 while the log takes writes and its backend answers, 503
// otherwise.
func (s *Server) ready(w http.ResponseWriter, r *http.Request) {
	if err := s.writes.failing(); err != nil {
		httperr.Write(w, httperr.Errorf(http.StatusServiceUnavailable, "not ready: the event log refused the last write (%v); ready again once a write succeeds", err))
		return
	}
	if p, ok := s.log.(eventlog.Pinger); ok {
		ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		defer cancel()
		if err := p.Ping(ctx); err != nil {
			httperr.Write(w, httperr.Errorf(http.StatusServiceUnavailable, "not ready: event log unreachable: %v", err))
			return
		}
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	fmt.Fprintln(w, "ready")
}
