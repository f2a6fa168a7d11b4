package auth

import (
	"crypto/tls"
	"errors"
	"net/http"
	"net/url"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

const (
	issA     = "https://issuer-a.example"
	issB     = "https://issuer-b.example"
	resource = "https://hub.example.com/.well-known/mercure"
	hour     = time.Hour
)

// mercureDetail is an authorization_details entry granting actions on one
// topic.
func mercureDetail(match string, actions ...string) map[string]any {
	return map[string]any{"type": DetailType, "actions": actions, "topics": []any{map[string]any{"match": match}}}
}

// atClaims are valid access token claims for issuer iss, changed by edit.
func atClaims(iss string, edit func(jwt.MapClaims)) jwt.MapClaims {
	c := jwt.MapClaims{
		"iss":                   iss,
		"aud":                   resource,
		"exp":                   now.Add(hour).Unix(),
		"sub":                   "alice",
		"authorization_details": []any{mercureDetail("*", ActionPublish)},
	}
	if edit != nil {
		edit(c)
	}
	return c
}

// mintAT signs claims as an access token: typ at+jwt, kid if not "".
func mintAT(t testing.TB, method jwt.SigningMethod, key any, typ, kid string, claims jwt.MapClaims) string {
	t.Helper()
	tok := jwt.NewWithClaims(method, claims)
	if typ != "" {
		tok.Header["typ"] = typ
	}
	if kid != "" {
		tok.Header["kid"] = kid
	}
	s, err := tok.SignedString(key)
	if err != nil {
		t.Fatalf("mint: %v", err)
	}
	return s
}

// accessVerifier trusts issA with the shared secret and an RSA public key
// (kid "rsa"), and issB with the EC key; 0.x tokens use the shared secret.
func accessVerifier(t testing.TB) *Verifier {
	v := verifier(hsKey(t))
	v.Resource = resource
	v.Issuers = []Issuer{
		{ID: issA, Keys: []Key{hsKey(t), pemKey(t, &keys().rsa.PublicKey).WithID("rsa")}},
		{ID: issB, Keys: []Key{pemKey(t, &keys().ec.PublicKey)}},
	}
	return v
}

func TestAccessTokensFollowTheMercure10Rules(t *testing.T) {
	k := keys()
	hs, rs := jwt.SigningMethodHS256, jwt.SigningMethodRS256
	rsaPEM := pemOf(t, &k.rsa.PublicKey)
	cases := []struct {
		name    string
		token   string
		wantErr string // "" accepts
	}{
		{"typ at+jwt, HS256", mintAT(t, hs, []byte(secret), "at+jwt", "", atClaims(issA, nil)), ""},
		{"typ application/at+jwt in any case", mintAT(t, hs, []byte(secret), "Application/AT+JWT", "", atClaims(issA, nil)), ""},
		{"RS256 with the issuer's key, kid selecting it", mintAT(t, rs, k.rsa, "at+jwt", "rsa", atClaims(issA, nil)), ""},
		{"RS256 without kid", mintAT(t, rs, k.rsa, "at+jwt", "", atClaims(issA, nil)), ""},
		{"ES256 for the other issuer", mintAT(t, jwt.SigningMethodES256, k.ec, "at+jwt", "", atClaims(issB, nil)), ""},
		{"aud as an array holding the resource", mintAT(t, hs, []byte(secret), "at+jwt", "", atClaims(issA, func(c jwt.MapClaims) { c["aud"] = []string{"other", resource} })), ""},
		{"a kid no key has", mintAT(t, rs, k.rsa, "at+jwt", "gone", atClaims(issA, nil)), `has no RS256 key with kid "gone"`},
		{"the right kid, another key", mintAT(t, rs, k.rsaOther, "at+jwt", "rsa", atClaims(issA, nil)), "matches none of its issuer's keys"},
		{"no iss", mintAT(t, hs, []byte(secret), "at+jwt", "", atClaims("", func(c jwt.MapClaims) { delete(c, "iss") })), `must name its issuer ("iss")`},
		{"an untrusted iss", mintAT(t, hs, []byte(secret), "at+jwt", "", atClaims("https://evil.example", nil)), "is not trusted"},
		{"iss is compared exactly", mintAT(t, hs, []byte(secret), "at+jwt", "", atClaims(issA+"/", nil)), "is not trusted"},
		{"signed with another issuer's key", mintAT(t, jwt.SigningMethodES256, k.ec, "at+jwt", "", atClaims(issA, nil)), "accept only HS256, RS256"},
		{"alg not fitting any key of the issuer", mintAT(t, rs, k.rsa, "at+jwt", "", atClaims(issB, nil)), "signed with RS256"},
		{"HMAC with the issuer's public key as secret", mintAT(t, hs, rsaPEM, "at+jwt", "", atClaims(issB, nil)), "signed with HS256"},
		{"alg none", mintAT(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, "at+jwt", "", atClaims(issA, nil)), "alg none"},
		{"no aud", mintAT(t, hs, []byte(secret), "at+jwt", "", atClaims(issA, func(c jwt.MapClaims) { delete(c, "aud") })), `must have an audience ("aud")`},
		{"another aud", mintAT(t, hs, []byte(secret), "at+jwt", "", atClaims(issA, func(c jwt.MapClaims) { c["aud"] = "https://other.example/.well-known/mercure" })), "does not include this hub's resource identifier"},
		{"aud array without the resource", mintAT(t, hs, []byte(secret), "at+jwt", "", atClaims(issA, func(c jwt.MapClaims) { c["aud"] = []string{"a", "b"} })), "does not include"},
		{"no exp", mintAT(t, hs, []byte(secret), "at+jwt", "", atClaims(issA, func(c jwt.MapClaims) { delete(c, "exp") })), `must have an expiry ("exp")`},
		{"expired", mintAT(t, hs, []byte(secret), "at+jwt", "", atClaims(issA, func(c jwt.MapClaims) { c["exp"] = now.Add(-hour).Unix() })), "expired"},
		{"not yet valid", mintAT(t, hs, []byte(secret), "at+jwt", "", atClaims(issA, func(c jwt.MapClaims) { c["nbf"] = now.Add(hour).Unix() })), "not valid before"},
		{"a malformed detail voids the token", mintAT(t, hs, []byte(secret), "at+jwt", "", atClaims(issA, func(c jwt.MapClaims) {
			c["authorization_details"] = []any{mercureDetail("*", ActionPublish), map[string]any{"type": DetailType, "actions": "publish", "topics": []any{}}}
		})), `authorization_details[1]: "actions" must be an array`},
		{"an unknown match_type voids the token", mintAT(t, hs, []byte(secret), "at+jwt", "", atClaims(issA, func(c jwt.MapClaims) {
			c["authorization_details"] = []any{map[string]any{"type": DetailType, "actions": []string{"subscribe"}, "topics": []any{map[string]any{"match": "a", "match_type": "regex"}}}}
		})), `unknown match_type "regex"`},
		{"no typ but authorization_details", mint(t, hs, []byte(secret), atClaims(issA, nil)), "must be an access token"},
		{"a failed access token is not retried as 0.x", mintAT(t, hs, []byte(secret), "at+jwt", "", jwt.MapClaims{"mercure": publishAll, "exp": now.Add(hour).Unix()}), "must name its issuer"},
	}
	v := accessVerifier(t)
	for _, tt := range cases {
		t.Run(tt.name, func(t *testing.T) {
			c, err := v.VerifyToken(tt.token)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("VerifyToken: %v, want the token accepted", err)
				}
				if c.Format != AccessToken || c.Subject != "alice" || len(c.Details) != 1 || c.Publish != nil {
					t.Fatalf("claims %+v, want an access token of alice with one detail", c)
				}
				return
			}
			if err == nil || !errors.Is(err, ErrInvalidToken) || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("VerifyToken error = %v, want ErrInvalidToken containing %q", err, tt.wantErr)
			}
		})
	}
}

func TestAccessTokenIgnoresTheMercureClaimAndKeepsDetails(t *testing.T) {
	v := accessVerifier(t)
	tok := mintAT(t, jwt.SigningMethodHS256, []byte(secret), "at+jwt", "", atClaims(issA, func(c jwt.MapClaims) {
		c["mercure"] = map[string]any{"publish": []string{"*"}, "subscribe": []string{"*"}}
		c["authorization_details"] = []any{
			map[string]any{"type": "https://other.example/detail", "whatever": 1},
			map[string]any{"type": DetailType, "actions": []string{"subscribe", "delete"}, "topics": []any{
				map[string]any{"match": "https://example.com/books/:id", "match_type": "urlpattern"},
				map[string]any{"match": "a"},
			}, "payload": map[string]any{"user": 1}},
		}
	}))
	c, err := v.VerifyToken(tok)
	if err != nil {
		t.Fatal(err)
	}
	want := []Detail{{
		Actions: []string{ActionSubscribe},
		Topics:  []Matcher{{Match: "https://example.com/books/:id", Type: MatchURLPattern}, {Match: "a", Type: MatchExact}},
		Payload: []byte(`{"user":1}`),
	}}
	if c.Publish != nil || c.Subscribe != nil || !reflect.DeepEqual(c.Details, want) || c.Issuer != issA {
		t.Fatalf("claims %+v, want only the Mercure detail %+v", c, want)
	}
	legacy, err := v.VerifyToken(mint(t, jwt.SigningMethodHS256, []byte(secret), jwt.MapClaims{"mercure": publishAll}))
	if err != nil || legacy.Format != Legacy || len(legacy.Publish) != 1 {
		t.Fatalf("a 0.x token: %+v, %v; want it verified under the 0.x rules", legacy, err)
	}
}

func TestAccessTokenTransport(t *testing.T) {
	v := accessVerifier(t)
	v.Resource = "" // derived from each request
	v.Query = true
	at := mintAT(t, jwt.SigningMethodHS256, []byte(secret), "at+jwt", "", atClaims(issA, nil))
	legacy := mint(t, jwt.SigningMethodHS256, []byte(secret), jwt.MapClaims{"mercure": publishAll})
	tlsReq := func(r *http.Request) *http.Request {
		r.TLS = &tls.ConnectionState{}
		r.Host = "hub.example.com"
		return r
	}
	cookie := func(r *http.Request, name, value string) *http.Request {
		r.AddCookie(&http.Cookie{Name: name, Value: value})
		return r
	}
	cases := []struct {
		name    string
		r       *http.Request
		want    error
		format  Format
		wantErr string
	}{
		{"in the header, lower-case scheme", tlsReq(request("GET", "/", map[string][]string{"Authorization": {"bearer " + at}}, "")), nil, AccessToken, ""},
		{"in the access token cookie", tlsReq(cookie(request("GET", "/", nil, ""), DefaultAccessTokenCookie, at)), nil, AccessToken, ""},
		{"the header wins over the cookie", tlsReq(cookie(request("GET", "/", map[string][]string{"Authorization": {"Bearer " + legacy}}, ""), DefaultAccessTokenCookie, at)), nil, Legacy, ""},
		{"in the query", tlsReq(request("GET", "/?authorization="+url.QueryEscape(at), nil, "")), ErrInvalidRequest, 0, "not in the authorization query parameter"},
		{"in the 0.x cookie", tlsReq(request("GET", "/", nil, at)), ErrInvalidRequest, 0, "not in the cookie"},
		{"a 0.x token in the access token cookie", tlsReq(cookie(request("GET", "/", nil, ""), DefaultAccessTokenCookie, legacy)), ErrInvalidRequest, 0, "carries only access tokens"},
		{"the audience is derived with the request's scheme", request("GET", "/", map[string][]string{"Authorization": {"Bearer " + at}}, ""), ErrInvalidToken, 0, `resource identifier "http://`},
	}
	for _, tt := range cases {
		t.Run(tt.name, func(t *testing.T) {
			c, err := v.Verify(tt.r)
			if tt.want == nil {
				if err != nil || c.Format != tt.format {
					t.Fatalf("Verify = %+v, %v; want format %d", c, err, tt.format)
				}
				return
			}
			if !errors.Is(err, tt.want) || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("Verify error = %v, want %v containing %q", err, tt.want, tt.wantErr)
			}
		})
	}
}

func TestChallengeNamesTheErrorAndTheMetadata(t *testing.T) {
	v := &Verifier{}
	r := request("GET", "/", nil, "")
	r.Host = "hub.example.com:8443"
	_, err := v.Verify(r)
	want := `Bearer realm="herald", resource_metadata="http://hub.example.com:8443/.well-known/oauth-protected-resource/.well-known/mercure"`
	if got := Challenge(err); got != want {
		t.Fatalf("Challenge(no token) = %q, want %q", got, want)
	}
	r.Header.Set("Authorization", "Basic x")
	_, err = v.Verify(r)
	if got := Challenge(err); !strings.Contains(got, `error="invalid_request"`) {
		t.Fatalf("Challenge(wrong scheme) = %q, want invalid_request", got)
	}
	if MetadataURL("https://a.example/hub/") != "https://a.example/.well-known/oauth-protected-resource/hub" {
		t.Fatalf("MetadataURL = %q", MetadataURL("https://a.example/hub/"))
	}
}

func TestSignAccessTokenRoundTrips(t *testing.T) {
	k := hsKey(t).WithID("k1")
	c := Claims{Format: AccessToken, Issuer: issA, Subject: "bob", Expiry: now.Add(hour), Details: []Detail{
		{Actions: []string{ActionPublish}, Topics: []Matcher{{Match: "https://example.com/:x", Type: MatchURLPattern}}},
	}}
	tok, err := k.Sign(c, resource)
	if err != nil {
		t.Fatal(err)
	}
	v := accessVerifier(t)
	v.Issuers[0].Keys = []Key{hsKey(t).WithID("k1")}
	got, err := v.VerifyToken(tok)
	if err != nil || got.Subject != "bob" || !reflect.DeepEqual(got.Details, c.Details) {
		t.Fatalf("VerifyToken(Sign) = %+v, %v; want the details back", got, err)
	}
	if _, err := k.Sign(Claims{Format: AccessToken, Issuer: issA, Expiry: now}); err == nil {
		t.Fatal("Sign without an audience succeeded")
	}
}
