package auth

import (
	"context"
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
// Unauthorized, ErrForbidden to 403 Forbidden, ErrInvalidRequest to 400 Bad
// Request; Challenge gives each its WWW-Authenticate header (RFC 6750).
var (
	// ErrNoToken means the request carries no token in any of the places
	// the protocol defines (401, or anonymous where anonymous is allowed).
	ErrNoToken = errors.New(`no token: send it as "Authorization: Bearer <JWT>" or in the access token cookie (a 0.x token also in the mercureAuthorization cookie, and for subscribing in the authorization query parameter)`)
	// ErrInvalidToken means a token is present but refused: malformed,
	// signed with another algorithm or key, expired, not yet valid, from an
	// untrusted issuer, for another audience, or with claims of the wrong
	// shape. The wrapping error says which (401).
	ErrInvalidToken = errors.New("invalid token")
	// ErrForbidden means the token is valid but does not allow the action,
	// or a cookie was sent cross-origin on an unsafe request (403).
	ErrForbidden = errors.New("not allowed")
	// ErrInvalidRequest means the token is presented in a way the protocol
	// does not allow: several Authorization headers, another scheme than
	// Bearer, an empty bearer token, or an access token (typ at+jwt) in the
	// URL or the 0.x cookie (400).
	ErrInvalidRequest = errors.New("invalid request")
)

// DefaultCookieName is the cookie the Mercure 0.x protocol recommends for
// carrying a token.
const DefaultCookieName = "mercureAuthorization"

// MaxTokenBytes bounds the size of a token; larger ones are refused before
// any decoding.
const MaxTokenBytes = 16 << 10

// Source says where in a request a token was found.
type Source int

// The places a token can come from, in the order they are looked at.
const (
	FromNowhere           Source = iota
	FromHeader                   // the Authorization header
	FromQuery                    // the authorization query parameter (0.x only)
	FromCookie                   // the 0.x cookie (mercureAuthorization)
	FromAccessTokenCookie        // the access token cookie (1.0 only)
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
	case FromAccessTokenCookie:
		return "access token cookie"
	}
	return "nowhere"
}

// Verifier checks the tokens of one kind of client (publishers or
// subscribers). Mercure 0.x tokens (no typ at+jwt) are verified with Key;
// Mercure 1.0 access tokens (typ at+jwt) with the keys of the one of
// Issuers their "iss" names. The zero value of every other field is a
// sensible default. A Verifier must not be modified while in use; it is
// safe for concurrent use otherwise.
type Verifier struct {
	// Key verifies the signatures of 0.x tokens; its algorithm is the only
	// one accepted. The zero Key refuses every 0.x token.
	Key Key
	// Issuers are the trusted issuers of access tokens, each with its own
	// keys. None: every access token is refused.
	Issuers []Issuer
	// Resource is the resource identifier an access token's "aud" must
	// include; "" derives it from each request (see Resource).
	Resource string
	// CookieName is the cookie a 0.x token may come in. Default
	// DefaultCookieName.
	CookieName string
	// AccessTokenCookie is the cookie an access token may come in.
	// Default DefaultAccessTokenCookie.
	AccessTokenCookie string
	// Query accepts a 0.x token in the authorization query parameter. Only
	// subscribing needs it (a browser's EventSource cannot send headers);
	// a URL ends up in logs and histories, so publishers and the jobs API
	// leave it off. Off, a token in the query string is refused with a
	// reason saying to send it in the Authorization header. An access
	// token is never accepted there. Default off.
	Query bool
	// Origins lists origins ("https://app.example.com") allowed to send a
	// cookie-authenticated unsafe request (a POST) besides the hub's own
	// host; "*" is ignored, since it allows calls without credentials only.
	// See the package documentation on CSRF.
	Origins []string
	// Leeway tolerates clock skew between the token's issuer and this host
	// when checking "exp" and "nbf". Default 0.
	Leeway time.Duration
	// Now returns the current time. Default time.Now.
	Now func() time.Time
	// Cache, if set, remembers the tokens accepted, so that one presented
	// again is not verified anew until it expires or the keys change (see
	// TokenCache). The claims it returns are then shared by every request
	// that presents the token: callers must not modify them. Nil: every
	// token is verified on every request.
	Cache *TokenCache
}

// Verify finds the request's token (see Extract) and verifies it (see
// VerifyToken), access tokens against the request's resource identifier. It
// returns the token's claims, or an error wrapping ErrNoToken,
// ErrInvalidToken, ErrForbidden or ErrInvalidRequest that carries the
// resource's metadata URL (see Challenge).
func (v *Verifier) Verify(r *http.Request) (*Claims, error) {
	resource := Resource(r, v.Resource)
	c, err := v.verify(r, resource)
	if err != nil {
		return nil, WithMetadata(err, MetadataURL(resource))
	}
	return c, nil
}

func (v *Verifier) verify(r *http.Request, resource string) (*Claims, error) {
	token, src, err := v.Extract(r)
	if err != nil {
		return nil, err
	}
	e, hit := v.cached(token, resource)
	access := e.access
	if !hit {
		access = IsAccessToken(token)
	}
	switch {
	case access && (src == FromQuery || src == FromCookie):
		return nil, fmt.Errorf("%w: an access token (typ at+jwt) is accepted only in the Authorization header or the %s cookie, not in the %s", ErrInvalidRequest, v.accessCookie(), src)
	case !access && src == FromAccessTokenCookie:
		return nil, fmt.Errorf("%w: the %s cookie carries only access tokens (typ at+jwt); put a 0.x token in the %s cookie", ErrInvalidRequest, v.accessCookie(), v.legacyCookie())
	}
	if hit {
		return e.claims, nil
	}
	return v.verifyFresh(r.Context(), token, resource)
}

// Extract returns the token a request presents and where it came from, in
// order of precedence: the Authorization header, which must then read
// "Bearer <JWT>" (the scheme in any case); else the authorization query
// parameter; else the access token cookie; else the 0.x cookie. Only the
// first place present is looked at; a query parameter is refused
// (ErrInvalidToken) unless v.Query accepts it. It returns ErrNoToken if none
// is present, an error wrapping ErrInvalidRequest if the header holds no
// usable token (another scheme, several headers, an empty token), an error
// wrapping ErrInvalidToken for an unusable query parameter, and an error
// wrapping ErrForbidden for a cookie on a cross-origin unsafe request. The
// token itself is not verified.
func (v *Verifier) Extract(r *http.Request) (string, Source, error) {
	if values := r.Header.Values("Authorization"); len(values) > 0 {
		if len(values) > 1 {
			return "", FromHeader, fmt.Errorf("%w: %d Authorization headers, send one", ErrInvalidRequest, len(values))
		}
		scheme, token, _ := strings.Cut(strings.TrimSpace(values[0]), " ")
		if !strings.EqualFold(scheme, "Bearer") {
			return "", FromHeader, fmt.Errorf(`%w: the Authorization header must read "Bearer <JWT>"`, ErrInvalidRequest)
		}
		if token = strings.TrimSpace(token); token == "" {
			return "", FromHeader, fmt.Errorf(`%w: the Authorization header has "Bearer" but no token`, ErrInvalidRequest)
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
	for _, src := range []Source{FromAccessTokenCookie, FromCookie} {
		name := v.legacyCookie()
		if src == FromAccessTokenCookie {
			name = v.accessCookie()
		}
		c, err := r.Cookie(name)
		if err != nil || c.Value == "" {
			continue
		}
		if !safeMethod(r.Method) {
			if err := v.checkOrigin(r, name); err != nil {
				return "", src, err
			}
		}
		return c.Value, src, nil
	}
	return "", FromNowhere, ErrNoToken
}

func (v *Verifier) legacyCookie() string {
	if v.CookieName == "" {
		return DefaultCookieName
	}
	return v.CookieName
}

func (v *Verifier) accessCookie() string {
	if v.AccessTokenCookie == "" {
		return DefaultAccessTokenCookie
	}
	return v.AccessTokenCookie
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
		// "*" allows calls without credentials only (see internal/cors):
		// a cookie needs its origin listed.
		if o != "*" && strings.EqualFold(strings.TrimSuffix(o, "/"), origin) {
			return nil
		}
	}
	if u, err := url.Parse(origin); err == nil && u.Host != "" && strings.EqualFold(u.Host, r.Host) {
		return nil
	}
	return fmt.Errorf("%w: the %s cookie is not accepted on a %s from origin %q (CSRF protection); send the token in the Authorization header, or allow that origin", ErrForbidden, cookie, r.Method, origin)
}

// VerifyToken verifies a compact JWT, an access token against v.Resource
// (which must then be set). A token whose header has typ "at+jwt" or
// "application/at+jwt" (any case) is an access token, verified under the
// Mercure 1.0 rules (see Issuer) and never retried as a 0.x token. Any
// other is a 0.x token: its size, its algorithm (only v.Key's), its
// signature, its "exp" and "nbf" claims and the shape of its mercure claim
// are checked, and one carrying authorization_details is refused. It
// returns the claims, or an error wrapping ErrInvalidToken with the
// specific reason.
func (v *Verifier) VerifyToken(token string) (*Claims, error) {
	return v.verifyToken(context.Background(), token, v.Resource)
}

func (v *Verifier) verifyToken(ctx context.Context, token, resource string) (*Claims, error) {
	if e, ok := v.cached(token, resource); ok {
		return e.claims, nil
	}
	return v.verifyFresh(ctx, token, resource)
}

// verifyFresh verifies token against resource, and remembers it in v.Cache
// if accepted. The key epoch is read before verifying, so that a token
// verified with keys a JWK Set has just dropped is not remembered.
func (v *Verifier) verifyFresh(ctx context.Context, token, resource string) (*Claims, error) {
	epoch, remember := uint64(0), false
	if v.Cache != nil {
		epoch, remember = v.keyEpoch()
	}
	c, e, err := v.check(ctx, token, resource)
	if err != nil {
		return nil, err
	}
	if remember {
		v.Cache.put(cacheKey{token, resource}, e, epoch)
	}
	return c, nil
}

// check verifies token against resource, returning its claims and the
// cache entry that remembers them.
func (v *Verifier) check(ctx context.Context, token, resource string) (*Claims, cachedToken, error) {
	if len(token) > MaxTokenBytes {
		return nil, cachedToken{}, fmt.Errorf("%w: %d bytes, more than the %d accepted", ErrInvalidToken, len(token), MaxTokenBytes)
	}
	var (
		c   *Claims
		tc  *tokenClaims
		err error
	)
	h, ok := peekHeader(token)
	access := ok && isAccessTyp(h.Typ)
	if access {
		if c, tc, err = v.verifyAccess(ctx, token, h, resource); err != nil {
			return nil, cachedToken{}, fmt.Errorf("%w: %v", ErrInvalidToken, err)
		}
	} else if c, tc, err = v.verifyLegacy(token); err != nil {
		return nil, cachedToken{}, err
	}
	e := cachedToken{claims: c, access: access}
	if tc.exp != nil {
		e.exp = tc.exp.Time
	}
	if tc.nbf != nil {
		e.nbf = tc.nbf.Time
	}
	return c, e, nil
}

// verifyLegacy verifies a Mercure 0.x token with v.Key.
func (v *Verifier) verifyLegacy(token string) (*Claims, *tokenClaims, error) {
	alg := v.Key.alg
	if alg == "" {
		return nil, nil, fmt.Errorf("%w: no verification key is configured", ErrInvalidToken)
	}
	p := jwt.NewParser(
		jwt.WithValidMethods([]string{string(alg)}),
		jwt.WithLeeway(v.Leeway),
		jwt.WithTimeFunc(v.now()),
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
		return nil, nil, fmt.Errorf("%w: %s", ErrInvalidToken, reason(err, parsed, tc, alg))
	}
	if _, ok := tc.fields["authorization_details"]; ok {
		return nil, nil, fmt.Errorf(`%w: a token with authorization_details must be an access token (header "typ": "at+jwt")`, ErrInvalidToken)
	}
	c, err := tc.toClaims()
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %v", ErrInvalidToken, err)
	}
	return c, tc, nil
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
