package outboundtest

import (
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/heraldhub/herald/webhook"
)

// Receiver is a test callback endpoint. Requests with a bad signature are
// answered 401 and counted; others are answered by the Respond function
// (200 by default), and those answered 2xx are kept.
type Receiver struct {
	// URL is the callback URL.
	URL string

	srv      *httptest.Server
	mu       sync.Mutex
	secret   []byte
	respond  func(n int, body []byte) int
	attempts int
	bad      int
	accepted [][]byte
	changed  chan struct{}
}

// New starts a receiver verifying signatures with secret (which SetSecret
// may set later); it stops when the test ends.
func New(t *testing.T, secret []byte) *Receiver {
	t.Helper()
	r := &Receiver{secret: secret, changed: make(chan struct{})}
	r.srv = httptest.NewServer(http.HandlerFunc(r.serve))
	r.URL = r.srv.URL + "/callback"
	t.Cleanup(r.srv.Close)
	return r
}

// SetSecret sets the secret signatures are verified with.
func (r *Receiver) SetSecret(secret []byte) {
	r.mu.Lock()
	r.secret = secret
	r.mu.Unlock()
}

// Respond sets how requests with a good signature are answered: fn gets
// the request's number (from 1, counting every request) and body, and
// returns the status. It may block.
func (r *Receiver) Respond(fn func(n int, body []byte) int) {
	r.mu.Lock()
	r.respond = fn
	r.mu.Unlock()
}

func (r *Receiver) serve(w http.ResponseWriter, req *http.Request) {
	body, _ := io.ReadAll(req.Body)
	r.mu.Lock()
	r.attempts++
	n, secret, respond := r.attempts, r.secret, r.respond
	r.mu.Unlock()
	status := http.StatusOK
	if req.Method != http.MethodPost || webhook.Verify(secret, req.Header.Get(webhook.Header), body, time.Now(), 0) != nil {
		status = http.StatusUnauthorized
		r.mu.Lock()
		r.bad++
		r.mu.Unlock()
	} else if respond != nil {
		status = respond(n, body)
	}
	if status >= 200 && status < 300 {
		r.mu.Lock()
		r.accepted = append(r.accepted, body)
		close(r.changed)
		r.changed = make(chan struct{})
		r.mu.Unlock()
	}
	w.WriteHeader(status)
}

// Accepted returns the bodies acknowledged so far, in order.
func (r *Receiver) Accepted() [][]byte {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([][]byte{}, r.accepted...)
}

// Attempts returns how many requests came; BadSignatures how many of them
// were refused for their signature.
func (r *Receiver) Attempts() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.attempts
}

// BadSignatures returns how many requests had a bad signature.
func (r *Receiver) BadSignatures() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.bad
}

// WaitAccepted waits until done returns true for the acknowledged bodies,
// failing the test after timeout, and returns them.
func (r *Receiver) WaitAccepted(t *testing.T, what string, timeout time.Duration, done func([][]byte) bool) [][]byte {
	t.Helper()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		r.mu.Lock()
		got, changed := append([][]byte{}, r.accepted...), r.changed
		r.mu.Unlock()
		if done(got) {
			return got
		}
		select {
		case <-changed:
		case <-deadline.C:
			t.Fatalf("callback receiver: timed out waiting for %s; %d acknowledged, %d requests, %d bad signatures", what, len(got), r.Attempts(), r.BadSignatures())
		}
	}
}
