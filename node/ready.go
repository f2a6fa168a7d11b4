package node

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
	// observe, if set, is told how long each append took and the error of
	// a failed one (nil otherwise; duplicates and abandoned requests are
	// not failures).
	observe func(took time.Duration, err error)

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
	start := time.Now()
	stored, err := w.Log.Append(ctx, u)
	took := time.Since(start)
	failed := err
	switch {
	case err == nil:
		w.mu.Lock()
		w.failedAt, w.err = time.Time{}, nil
		w.mu.Unlock()
	case errors.Is(err, eventlog.ErrDuplicateID), ctx.Err() != nil:
		failed = nil
	default:
		w.mu.Lock()
		w.failedAt, w.err = w.now(), err
		w.mu.Unlock()
	}
	if w.observe != nil {
		w.observe(took, failed)
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
func (s *Node) ready(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), readyTimeout)
	defer cancel()
	if err := s.readiness(ctx); err != nil {
		httperr.Write(w, err)
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	fmt.Fprintln(w, "ready")
}

// readyTimeout bounds the log's answer to a readiness check.
const readyTimeout = 2 * time.Second

// readiness returns why the node is not ready (a 503 error), or nil: it
// is shutting down, its last append failed recently, or its log's backend
// does not answer.
func (s *Node) readiness(ctx context.Context) error {
	if s.draining.Load() {
		return httperr.Errorf(http.StatusServiceUnavailable, "not ready: the node is shutting down; send requests to another node")
	}
	if err := s.writes.failing(); err != nil {
		return httperr.Errorf(http.StatusServiceUnavailable, "not ready: the event log refused the last write (%v); ready again once a write succeeds", err)
	}
	if p, ok := s.log.(eventlog.Pinger); ok {
		if err := p.Ping(ctx); err != nil {
			return httperr.Errorf(http.StatusServiceUnavailable, "not ready: event log unreachable: %v", err)
		}
	}
	return nil
}
