package auth

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// DefaultAccessTokenCookie is the cookie Mercure 1.0 recommends for
// carrying an access token.
const DefaultAccessTokenCookie = "__Secure-mercure_access_token"

// Issuer is a trusted issuer of access tokens and the keys that verify
// them: an access token is verified only with the keys of the issuer its
// "iss" names.
type Issuer struct {
	// ID is the issuer identifier, compared exactly with "iss".
	ID string
	// Keys are static keys, several so that one can be rotated. A key with
	// an ID is used only for tokens naming that kid (or none).
	Keys []Key
	// JWKS, if set, holds more keys of this issuer, fetched from a URL.
	JWKS *JWKS
}

// keys returns the issuer's keys for a token with algorithm alg and key id
// kid, and the algorithms of all its candidate keys (for the error
// message).
func (is *Issuer) keys(ctx context.Context, alg, kid string) (fit []Key, algs []string) {
	candidates := make([]Key, 0, len(is.Keys))
	for _, k := range is.Keys {
		if kid == "" || k.id == "" || k.id == kid {
			candidates = append(candidates, k)
		}
	}
	if is.JWKS != nil {
		candidates = append(candidates, is.JWKS.Keys(ctx, kid)...)
	}
	for _, k := range candidates {
		if string(k.alg) == alg {
			fit = append(fit, k)
		}
		if !slices.Contains(algs, string(k.alg)) {
			algs = append(algs, string(k.alg))
		}
	}
	return fit, algs
}

// header is what is read of a token's JOSE header before its signature is
// checked, to choose the rules and the keys.
type header struct {
	Typ string `json:"typ"`
	Alg string `json:"alg"`
	Kid string `json:"kid"`
}

// peekHeader decodes the header of a compact JWT; ok is false if it cannot.
func peekHeader(token string) (h header, ok bool) {
	part, _, found := strings.Cut(token, ".")
	if !found {
		return header{}, false
	}
	b, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(part, "="))
	if err != nil {
		return header{}, false
	}
	var raw map[string]json.RawMessage
	if json.Unmarshal(b, &raw) != nil {
		return header{}, false
	}
	for name, dst := range map[string]*string{"typ": &h.Typ, "alg": &h.Alg, "kid": &h.Kid} {
		if v, ok := raw[name]; ok {
			_ = json.Unmarshal(v, dst) // a non-string leaves "": refused later
		}
	}
	return h, true
}

// IsAccessToken reports whether token's header says it is an RFC 9068
// access token (typ "at+jwt" or "application/at+jwt", in any case): one
// verified under the Mercure 1.0 rules. The token is not verified.
func IsAccessToken(token string) bool {
	h, ok := peekHeader(token)
	return ok && isAccessTyp(h.Typ)
}

func isAccessTyp(typ string) bool {
	return strings.EqualFold(typ, "at+jwt") || strings.EqualFold(typ, "application/at+jwt")
}

// verifyAccess verifies an access token under the Mercure 1.0 rules: "iss"
// names a trusted issuer, whose keys alone are tried; the algorithm fits
// one of them; "exp" is present and not passed, "nbf" is passed; "aud"
// holds resource; authorization_details is well formed. Any "mercure"
// claim is ignored.
func (v *Verifier) verifyAccess(ctx context.Context, token string, h header, resource string) (*Claims, *tokenClaims, error) {
	if resource == "" {
		return nil, nil, errors.New("no resource identifier is configured to check its audience against")
	}
	var unverified tokenClaims
	if _, _, err := jwt.NewParser().ParseUnverified(token, &unverified); err != nil {
		return nil, nil, errors.New(reason(err, nil, &unverified, ""))
	}
	if unverified.iss == "" {
		return nil, nil, errors.New(`an access token (typ at+jwt) must name its issuer ("iss")`)
	}
	var issuer *Issuer
	for i := range v.Issuers {
		if v.Issuers[i].ID == unverified.iss {
			issuer = &v.Issuers[i]
			break
		}
	}
	if issuer == nil {
		return nil, nil, fmt.Errorf("issuer %q is not trusted here (trusted: %q)", unverified.iss, v.issuerIDs())
	}
	switch {
	case h.Alg == "":
		return nil, nil, errors.New("its header names no algorithm (alg)")
	case strings.EqualFold(h.Alg, "none"):
		return nil, nil, errors.New("unsigned tokens (alg none) are never accepted")
	}
	keys, algs := issuer.keys(ctx, h.Alg, h.Kid)
	if len(keys) == 0 {
		kid, accepted := "", "none"
		if h.Kid != "" {
			kid = fmt.Sprintf(" with kid %q", h.Kid)
		}
		if len(algs) > 0 {
			accepted = strings.Join(algs, ", ")
		}
		return nil, nil, fmt.Errorf("signed with %s, but issuer %q has no %s key%s (its keys for this token accept only %s)", h.Alg, issuer.ID, h.Alg, kid, accepted)
	}
	set := jwt.VerificationKeySet{}
	for _, k := range keys {
		set.Keys = append(set.Keys, k.verify)
	}
	p := jwt.NewParser(
		jwt.WithValidMethods([]string{h.Alg}),
		jwt.WithLeeway(v.Leeway),
		jwt.WithTimeFunc(v.now()),
		jwt.WithExpirationRequired(),
		jwt.WithIssuer(issuer.ID),
		jwt.WithAudience(resource),
	)
	tc := &tokenClaims{}
	parsed, err := p.ParseWithClaims(token, tc, func(*jwt.Token) (any, error) { return set, nil })
	if err != nil {
		return nil, nil, errors.New(accessReason(err, parsed, tc, Algorithm(h.Alg), resource))
	}
	details, err := ParseDetails(tc.fields["authorization_details"])
	if err != nil {
		return nil, nil, err
	}
	return &Claims{
		Format:  AccessToken,
		Subject: tc.sub,
		Issuer:  tc.iss,
		Expiry:  tc.exp.UTC(),
		Details: details,
	}, tc, nil
}

// accessReason explains why an access token failed its checks.
func accessReason(err error, parsed *jwt.Token, tc *tokenClaims, alg Algorithm, resource string) string {
	switch {
	case errors.Is(err, jwt.ErrTokenSignatureInvalid):
		return fmt.Sprintf("its %s signature matches none of its issuer's keys", alg)
	case errors.Is(err, jwt.ErrTokenInvalidAudience):
		return fmt.Sprintf("its audience (aud) %q does not include this hub's resource identifier %q", []string(tc.aud), resource)
	case errors.Is(err, jwt.ErrTokenRequiredClaimMissing) && tc.exp == nil:
		return `an access token (typ at+jwt) must have an expiry ("exp")`
	case errors.Is(err, jwt.ErrTokenRequiredClaimMissing) && len(tc.aud) == 0:
		return fmt.Sprintf("an access token (typ at+jwt) must have an audience (\"aud\") including %q", resource)
	}
	return reason(err, parsed, tc, alg)
}

// issuerIDs lists the trusted issuers.
func (v *Verifier) issuerIDs() []string {
	ids := make([]string, 0, len(v.Issuers))
	for _, is := range v.Issuers {
		ids = append(ids, is.ID)
	}
	return ids
}

func (v *Verifier) now() func() time.Time {
	if v.Now == nil {
		return time.Now
	}
	return v.Now
}

// Resource returns the resource identifier a request's access token must
// name in its audience: configured if not "", else derived from the URL the
// request came to: its scheme (https if it came over TLS), its host and the
// path /.well-known/mercure.
func Resource(r *http.Request, configured string) string {
	if configured != "" {
		return configured
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host + "/.well-known/mercure"
}
