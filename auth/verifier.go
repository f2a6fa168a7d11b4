package auth

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// The sentinel errors every failure of this package wraps. The HTTP layer
// maps them to statuses in one place: ErrNoToken and ErrInvalidToken to 401
// Unauthorized, ErrForbidden to 403 Forbidden.
var (
	// ErrNoToken means the request carries no token in any of the places
	// the protocol defines (401, or anonymous where anonymous is allowed).
	ErrNoToken = errors.New(`no token: send it as "Authorization: Bearer <JWT>" or in the mercureAuthorization cookie (a subscription may also carry it in the authorization query parameter)`)
	// ErrInvalidToken means a token is present but refused: malformed,
	// signed with another algorithm or key, expired, not yet valid, or with
	// claims of the wrong shape. The wrapping error says which (401).
	ErrInvalidToken = errors.New("invalid token")
	// ErrForbidden means the token is valid but does not allow the action,
	// or a cookie was sent cross-origin on an unsafe request (403).
	ErrForbidden = errors.New("not allowed")
)

// DefaultCookieName is the cookie the protocol recommends for carrying a
// token.
const DefaultCookieName = "mercureAuthorization"

// MaxTokenBytes bounds the size of a token; larger ones are refused before
// any decoding.
const MaxTokenBytes = 16 << 10

// Source says where in a request a token was found.
type Source int

// The places a token can come from, in the order they are looked at.
const (
	FromNowhere Source = iota
	FromHeader         // the Authorization header
	FromQuery          // the authorization query parameter
	FromCookie         // the authorization cookie
)

// String names s as a user would.
func (s Source) String() string {
	switch s {
	case FromHeader:
		return "Authorization header"
	case FromQuery:
		return "authorization query parameter"
	case FromCookie:
		return "cookie"
	}
	return "nowhere"
}

// Verifier checks the tokens of one kind of client (publishers or
// subscribers) against one Key. The zero value of every field but Key is a
// sensible default. A Verifier must not be modified while in use; it is safe
// for concurrent use otherwise.
type Verifier struct {
	// Key verifies signatures; its algorithm is the only one accepted. The
	// zero Key refuses every token.
	Key Key
	// CookieName is the cookie a token may come in. Default
	// DefaultCookieName.
	CookieName string
	// Query accepts a token in the authorization query parameter. Only
	// subscribing needs it (a browser's EventSource cannot send headers);
	// a URL ends up in logs and histories, so publishers and the jobs API
	// leave it off. Off, a token in the query string is refused with a
	// reason saying to send it in the Authorization header. Default off.
	Query bool
	// Origins lists origins ("https://app.example.com", or "*" for any)
	// allowed to send a cookie-authenticated unsafe request (a POST) besides
	// the hub's own host. See the package documentation on CSRF.
	Origins []string
	// Leeway tolerates clock skew between the token's issuer and this host
	// when checking "exp" and "nbf". Default 0.
	Leeway time.Duration
	// Now returns the current time. Default time.Now.
	Now func() time.Time
}

// Verify finds the request's token (Authorization header, then authorization
// query parameter, then cookie; see Extract) and verifies it. It returns the
// token's claims, or an error wrapping ErrNoToken, ErrInvalidToken or
// ErrForbidden.
func (v *Verifier) Verify(r *http.Request) (*Claims, error) {
	token, _, err := v.Extract(r)
	if err != nil {
		return nil, err
	}
	return v.VerifyToken(token)
}

// Extract returns the token a request presents and where it came from, in
// the protocol's order of precedence: the Authorization header, which must
// then read "Bearer <JWT>"; else the authorization query parameter; else the
// cookie. Only the first place present is looked at; a query parameter is
// refused (ErrInvalidToken) unless v.Query accepts it. It returns ErrNoToken
// if none is present, an error wrapping ErrInvalidToken if the place found
// holds no usable token (another scheme, several values, an empty value),
// and an error wrapping ErrForbidden for a cookie on a cross-origin unsafe
// request. The token itself is not verified.
func (v *Verifier) Extract(r *http.Request) (string, Source, error) {
	if values := r.Header.Values("Authorization"); len(values) > 0 {
		if len(values) > 1 {
			return "", FromHeader, fmt.Errorf("%w: %d Authorization headers, send one", ErrInvalidToken, len(values))
		}
		scheme, token, _ := strings.Cut(strings.TrimSpace(values[0]), " ")
		if !strings.EqualFold(scheme, "Bearer") {
			return "", FromHeader, fmt.Errorf(`%w: the Authorization header must read "Bearer <JWT>"`, ErrInvalidToken)
		}
		if token = strings.TrimSpace(token); token == "" {
			return "", FromHeader, fmt.Errorf(`%w: the Authorization header has "Bearer" but no token`, ErrInvalidToken)
		}
		return token, FromHeader, nil
	}
	if values, ok := r.URL.Query()["authorization"]; ok {
		if !v.Query {
			return "", FromQuery, fmt.Errorf(`%w: a token in the authorization query parameter is accepted only for subscribing; send it as "Authorization: Bearer <JWT>"`, ErrInvalidToken)
		}
		if len(values) > 1 {
			return "", FromQuery, fmt.Errorf("%w: %d authorization query parameters, send one", ErrInvalidToken, len(values))
		}
		if values[0] == "" {
			return "", FromQuery, fmt.Errorf("%w: the authorization query parameter is empty", ErrInvalidToken)
		}
		return values[0], FromQuery, nil
	}
	name := v.CookieName
	if name == "" {
		name = DefaultCookieName
	}
	c, err := r.Cookie(name)
	if err != nil || c.Value == "" {
		return "", FromNowhere, ErrNoToken
	}
	if !safeMethod(r.Method) {
		if err := v.checkOrigin(r, name); err != nil {
			return "", FromCookie, err
		}
	}
	return c.Value, FromCookie, nil
}

// safeMethod reports whether method cannot change state (RFC 9110, section
// 9.2.1), so that a forged cross-site request of it is harmless.
func safeMethod(method string) bool {
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodTrace:
		return true
	}
	return false
}

// checkOrigin refuses a cookie-authenticated unsafe request unless its
// Origin (or, failing that, Referer) is the hub's own host or an allowed
// origin.
func (v *Verifier) checkOrigin(r *http.Request, cookie string) error {
	origin := r.Header.Get("Origin")
	if origin == "" || origin == "null" {
		origin = ""
		if u, err := url.Parse(r.Header.Get("Referer")); err == nil && u.Host != "" {
			origin = u.Scheme + "://" + u.Host
		}
	}
	if origin == "" {
		return fmt.Errorf("%w: a %s authenticated by the %s cookie needs an Origin or Referer header (CSRF protection); send the token in the Authorization header instead", ErrForbidden, r.Method, cookie)
	}
	for _, o := range v.Origins {
		if o == "*" || strings.EqualFold(strings.TrimSuffix(o, "/"), origin) {
			return nil
		}
	}
	if u, err := url.Parse(origin); err == nil && u.Host != "" && strings.EqualFold(u.Host, r.Host) {
		return nil
	}
	return fmt.Errorf("%w: the %s cookie is not accepted on a %s from origin %q (CSRF protection); send the token in the Authorization header, or allow that origin", ErrForbidden, cookie, r.Method, origin)
}

// VerifyToken verifies a compact JWT: its size, its algorithm (only
// v.Key's), its signature, its "exp" and "nbf" claims and the shape of its
// mercure claim. It returns the claims, or an error wrapping ErrInvalidToken
// with the specific reason.
func (v *Verifier) VerifyToken(token string) (*Claims, error) {
	if len(token) > MaxTokenBytes {
		return nil, fmt.Errorf("%w: %d bytes, more than the %d accepted", ErrInvalidToken, len(token), MaxTokenBytes)
	}
	alg := v.Key.alg
	if alg == "" {
		return nil, fmt.Errorf("%w: no verification key is configured", ErrInvalidToken)
	}
	now := v.Now
	if now == nil {
		now = time.Now
	}
	p := jwt.NewParser(
		jwt.WithValidMethods([]string{string(alg)}),
		jwt.WithLeeway(v.Leeway),
		jwt.WithTimeFunc(now),
	)
	tc := &tokenClaims{}
	parsed, err := p.ParseWithClaims(token, tc, func(t *jwt.Token) (any, error) {
		// WithValidMethods has already refused any other algorithm; this
		// keeps the key and the method tied even if that changed.
		if t.Method.Alg() != string(alg) {
			return nil, fmt.Errorf("unexpected algorithm %s", t.Method.Alg())
		}
		return v.Key.verify, nil
	})
	if err != nil {
		return nil, fmt.Errorf("%w: %s", ErrInvalidToken, reason(err, parsed, tc, alg))
	}
	c, err := tc.toClaims()
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalidToken, err)
	}
	return c, nil
}

// reason explains a parse failure in one actionable phrase.
func reason(err error, parsed *jwt.Token, tc *tokenClaims, want Algorithm) string {
	if errors.Is(err, jwt.ErrTokenMalformed) {
		if parsed == nil {
			return "malformed: a JWT is three base64url parts separated by dots"
		}
		return "malformed: " + strings.TrimPrefix(err.Error(), jwt.ErrTokenMalformed.Error()+": ")
	}
	if parsed != nil {
		got, _ := parsed.Header["alg"].(string)
		switch {
		case got == "":
			return "its header names no algorithm (alg)"
		case strings.EqualFold(got, "none"):
			return fmt.Sprintf("unsigned tokens (alg none) are never accepted, only %s", want)
		case got != string(want):
			return fmt.Sprintf("signed with %s, only %s accepted", got, want)
		}
	}
	switch {
	case errors.Is(err, jwt.ErrTokenSignatureInvalid):
		return fmt.Sprintf("its %s signature does not match the configured key (signed with another key?)", want)
	case errors.Is(err, jwt.ErrTokenExpired) && tc.exp != nil:
		return "expired at " + tc.exp.UTC().Format(time.RFC3339)
	case errors.Is(err, jwt.ErrTokenNotValidYet) && tc.nbf != nil:
		return "not valid before " + tc.nbf.UTC().Format(time.RFC3339)
	}
	return err.Error()
}
