package httperr

import (
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/heraldhub/herald/auth"
	"github.com/heraldhub/herald/eventlog"
)

var errMine = errors.New("mine")

func TestStatusPrefersTheErrorsOwnThenThePackagesThenTheShared(t *testing.T) {
	rules := Rules{{Err: errMine, Status: http.StatusNotFound}, {Err: eventlog.ErrClosed, Status: http.StatusGone}}
	withFallback := append(Rules{{Err: nil, Status: http.StatusServiceUnavailable}}, rules...)
	cases := []struct {
		name  string
		rules Rules
		err   error
		want  int
	}{
		{"an *Error's own status", rules, fmt.Errorf("wrapped: %w", Errorf(http.StatusTeapot, "x")), http.StatusTeapot},
		{"a package's sentinel", rules, fmt.Errorf("job 1: %w", errMine), http.StatusNotFound},
		{"a package's rule overrides a shared one", rules, eventlog.ErrClosed, http.StatusGone},
		{"no token", rules, auth.ErrNoToken, http.StatusUnauthorized},
		{"a valid token without the scope", rules, fmt.Errorf("%w: to publish", auth.ErrForbidden), http.StatusForbidden},
		{"log unavailable", rules, eventlog.ErrUnavailable, http.StatusServiceUnavailable},
		{"anything else", rules, errors.New("boom"), http.StatusInternalServerError},
		{"anything else, with a fallback", withFallback, errors.New("boom"), http.StatusServiceUnavailable},
		{"a shared sentinel, with a fallback", withFallback, auth.ErrInvalidToken, http.StatusUnauthorized},
	}
	for _, tt := range cases {
		if got := tt.rules.Status(tt.err); got != tt.want {
			t.Errorf("%s: %d, want %d", tt.name, got, tt.want)
		}
	}
}

func TestWriteAnswersOneLineWithTheSameHeadersEverywhere(t *testing.T) {
	cases := []struct {
		name   string
		err    error
		status int
		header string
		value  string
		body   string
	}{
		{"401", auth.ErrNoToken, 401, "WWW-Authenticate", `Bearer realm="herald"`, auth.ErrNoToken.Error() + "\n"},
		{"401 with metadata", auth.WithMetadata(auth.ErrNoToken, "https://h/.well-known/oauth-protected-resource/.well-known/mercure"), 401, "WWW-Authenticate", `Bearer realm="herald", resource_metadata="https://h/.well-known/oauth-protected-resource/.well-known/mercure"`, auth.ErrNoToken.Error() + "\n"},
		{"401 bad token", fmt.Errorf("%w: expired", auth.ErrInvalidToken), 401, "WWW-Authenticate", `Bearer realm="herald", error="invalid_token"`, "invalid token: expired\n"},
		{"403 no scope", fmt.Errorf("%w: topic a", auth.ErrForbidden), 403, "WWW-Authenticate", `Bearer realm="herald", error="insufficient_scope"`, "not allowed: topic a\n"},
		{"400 malformed presentation", fmt.Errorf("%w: 2 Authorization headers", auth.ErrInvalidRequest), 400, "WWW-Authenticate", `Bearer realm="herald", error="invalid_request"`, "invalid request: 2 Authorization headers\n"},
		{"other 401", Errorf(401, "no key"), 401, "WWW-Authenticate", `Bearer realm="herald"`, "no key\n"},
		{"503", eventlog.ErrUnavailable, 503, "Retry-After", "1", "event log unavailable\n"},
		{"429 waits what it says", &Error{Status: 429, Msg: "slow down", RetryAfter: 1500 * time.Millisecond}, 429, "Retry-After", "2", "slow down\n"},
		{"500", errors.New("a\nb"), 500, "X-Content-Type-Options", "nosniff", "internal error: a b\n"},
	}
	for _, tt := range cases {
		w := httptest.NewRecorder()
		Write(w, tt.err)
		if w.Code != tt.status || w.Header().Get(tt.header) != tt.value || w.Body.String() != tt.body ||
			w.Header().Get("Content-Type") != "text/plain; charset=utf-8" || w.Header().Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("%s: %d %q %v, want %d %q with %s: %s", tt.name, w.Code, w.Body, w.Header(), tt.status, tt.body, tt.header, tt.value)
		}
	}
}
