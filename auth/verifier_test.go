package auth

import (
	"encoding/base64"
	"errors"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

func TestVerifyTokenAcceptsOnlyTheConfiguredAlgorithmAndKey(t *testing.T) {
	k := keys()
	hs := hsKey(t)
	rs := pemKey(t, &k.rsa.PublicKey)
	es := pemKey(t, &k.ec.PublicKey)
	rsaPublicPEM := pemOf(t, &k.rsa.PublicKey)
	valid := jwt.MapClaims{"mercure": publishAll, "exp": now.Add(time.Hour).Unix()}
	b64 := base64.RawURLEncoding.EncodeToString

	tests := []struct {
		name    string
		key     Key
		token   string
		wantErr string // "" means the token is accepted
	}{
		{"HS256 with the shared secret", hs, mint(t, jwt.SigningMethodHS256, []byte(secret), valid), ""},
		{"RS256 with the RSA private key", rs, mint(t, jwt.SigningMethodRS256, k.rsa, valid), ""},
		{"ES256 with the EC private key", es, mint(t, jwt.SigningMethodES256, k.ec, valid), ""},
		{"no exp never expires", hs, mint(t, jwt.SigningMethodHS256, []byte(secret), jwt.MapClaims{"mercure": publishAll}), ""},

		{"alg none", hs, mint(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, valid),
			"unsigned tokens (alg none) are never accepted, only HS256"},
		{"alg none against RS256", rs, mint(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, valid),
			"unsigned tokens (alg none) are never accepted, only RS256"},
		{"algorithm confusion: HS256 keyed with the RSA public key PEM", rs, mint(t, jwt.SigningMethodHS256, rsaPublicPEM, valid),
			"signed with HS256, only RS256 accepted"},
		{"another HMAC strength", hs, mint(t, jwt.SigningMethodHS384, []byte(secret), valid),
			"signed with HS384, only HS256 accepted"},
		{"ES256 token to an RS256 key", rs, mint(t, jwt.SigningMethodES256, k.ec, valid),
			"signed with ES256, only RS256 accepted"},
		{"PS256 token to an RS256 key", rs, mint(t, jwt.SigningMethodPS256, k.rsa, valid),
			"signed with PS256, only RS256 accepted"},
		{"unknown algorithm", hs, b64([]byte(`{"alg":"XX999","typ":"JWT"}`)) + "." + b64([]byte(`{}`)) + ".c2ln",
			"signed with XX999, only HS256 accepted"},
		{"no algorithm", hs, b64([]byte(`{"typ":"JWT"}`)) + "." + b64([]byte(`{}`)) + ".c2ln",
			"names no algorithm"},
		{"wrong secret", hs, mint(t, jwt.SigningMethodHS256, []byte("another-secret-of-at-least-32-bytes"), valid),
			"signature does not match the configured key"},
		{"another RSA key", rs, mint(t, jwt.SigningMethodRS256, k.rsaOther, valid),
			"signature does not match the configured key"},
		{"another EC key", es, mint(t, jwt.SigningMethodES256, k.ecOther, valid),
			"signature does not match the configured key"},
		{"expired", hs, mint(t, jwt.SigningMethodHS256, []byte(secret), jwt.MapClaims{"exp": now.Add(-time.Minute).Unix()}),
			"expired at 2030-01-02T03:03:05Z"},
		{"not yet valid", hs, mint(t, jwt.SigningMethodHS256, []byte(secret), jwt.MapClaims{"nbf": now.Add(time.Hour).Unix()}),
			"not valid before 2030-01-02T04:04:05Z"},
		{"tampered claims", hs, tamper(mint(t, jwt.SigningMethodHS256, []byte(secret), jwt.MapClaims{"mercure": map[string]any{"publish": []string{"a"}}}), b64([]byte(`{"mercure":{"publish":["*"]}}`))),
			"signature does not match"},
		{"empty", hs, "", "malformed"},
		{"one segment", hs, "abc", "malformed"},
		{"two segments", hs, "abc.def", "malformed"},
		{"four segments", hs, "a.b.c.d", "malformed"},
		{"header not base64", hs, "!!!.e30.c2ln", "malformed"},
		{"header not JSON", hs, b64([]byte("nope")) + ".e30.c2ln", "malformed"},
		{"claims not an object", hs, b64([]byte(`{"alg":"HS256"}`)) + "." + b64([]byte(`[1]`)) + ".c2ln", "malformed"},
		{"exp not a number", hs, mint(t, jwt.SigningMethodHS256, []byte(secret), jwt.MapClaims{"exp": "tomorrow"}), "malformed"},
		{"too large", hs, strings.Repeat("a", MaxTokenBytes+1), "more than the 16384 accepted"},
		{"zero key refuses everything", Key{}, mint(t, jwt.SigningMethodHS256, []byte(secret), valid), "no verification key"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := verifier(tt.key).VerifyToken(tt.token)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("VerifyToken: %v, want the token accepted", err)
				}
				if !reflect.DeepEqual(c.Publish, []string{"*"}) {
					t.Fatalf("Publish = %q, want [*]", c.Publish)
				}
				return
			}
			if err == nil {
				t.Fatalf("VerifyToken accepted the token, want an error containing %q", tt.wantErr)
			}
			if !errors.Is(err, ErrInvalidToken) {
				t.Errorf("error %q does not wrap ErrInvalidToken", err)
			}
			if !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("error = %q, want it to contain %q", err, tt.wantErr)
			}
			if c != nil {
				t.Errorf("claims = %+v, want nil with an error", c)
			}
		})
	}
}

// tamper replaces the claims segment of a token, keeping its signature.
func tamper(token, claims string) string {
	parts := strings.Split(token, ".")
	parts[1] = claims
	return strings.Join(parts, ".")
}

func TestVerifyTokenLeewayToleratesClockSkew(t *testing.T) {
	v := verifier(hsKey(t))
	v.Leeway = 2 * time.Minute
	token := mint(t, jwt.SigningMethodHS256, []byte(secret), jwt.MapClaims{"exp": now.Add(-time.Minute).Unix()})
	if _, err := v.VerifyToken(token); err != nil {
		t.Fatalf("token expired a minute ago refused despite a 2m leeway: %v", err)
	}
}

func TestVerifyTokenReadsTheMercureClaim(t *testing.T) {
	v := verifier(hsKey(t))
	exp := now.Add(time.Hour)
	tests := []struct {
		name    string
		claims  jwt.MapClaims
		want    *Claims
		wantErr string
	}{
		{
			name: "every field",
			claims: jwt.MapClaims{"sub": "alice", "exp": exp.Unix(), "mercure": map[string]any{
				"publish": []string{"a", "b/{id}"}, "subscribe": []string{"*"},
				"payload": map[string]any{"user": "https://example.com/users/alice"},
			}},
			want: &Claims{Publish: []string{"a", "b/{id}"}, Subscribe: []string{"*"},
				Payload: []byte(`{"user":"https://example.com/users/alice"}`), Subject: "alice", Expiry: exp},
		},
		{name: "no mercure claim allows nothing", claims: jwt.MapClaims{"sub": "bob"}, want: &Claims{Subject: "bob"}},
		{name: "null mercure claim", claims: jwt.MapClaims{"mercure": nil}, want: &Claims{}},
		{name: "empty mercure claim", claims: jwt.MapClaims{"mercure": map[string]any{}}, want: &Claims{}},
		{name: "null lists and payload", claims: jwt.MapClaims{"mercure": map[string]any{"publish": nil, "subscribe": nil, "payload": nil}}, want: &Claims{}},
		{name: "scalar payload", claims: jwt.MapClaims{"mercure": map[string]any{"payload": 42}}, want: &Claims{Payload: []byte("42")}},
		{name: "other claims ignored", claims: jwt.MapClaims{"iss": "me", "aud": []string{"x"}, "custom": true}, want: &Claims{}},
		{name: "claim names are case-sensitive", claims: jwt.MapClaims{"Mercure": publishAll}, want: &Claims{}},

		{name: "mercure claim a string", claims: jwt.MapClaims{"mercure": "publish"}, wantErr: "the mercure claim must be a JSON object"},
		{name: "mercure claim an array", claims: jwt.MapClaims{"mercure": []string{"*"}}, wantErr: "the mercure claim must be a JSON object"},
		{name: "publish a string", claims: jwt.MapClaims{"mercure": map[string]any{"publish": "*"}}, wantErr: "mercure.publish must be an array of topic selectors (strings), got a string"},
		{name: "publish numbers", claims: jwt.MapClaims{"mercure": map[string]any{"publish": []int{1}}}, wantErr: "mercure.publish must be an array of topic selectors (strings), got an array with a non-string element"},
		{name: "subscribe an object", claims: jwt.MapClaims{"mercure": map[string]any{"subscribe": map[string]any{}}}, wantErr: "mercure.subscribe must be an array of topic selectors (strings), got an object"},
		{name: "subscribe a boolean", claims: jwt.MapClaims{"mercure": map[string]any{"subscribe": true}}, wantErr: "got a boolean"},
		{name: "sub a number", claims: jwt.MapClaims{"sub": 7}, wantErr: `claim "sub" must be a string`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := v.VerifyToken(mint(t, jwt.SigningMethodHS256, []byte(secret), tt.claims))
			if tt.wantErr != "" {
				if err == nil || !errors.Is(err, ErrInvalidToken) || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("VerifyToken error = %v, want ErrInvalidToken containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("VerifyToken: %v", err)
			}
			if !reflect.DeepEqual(c, tt.want) {
				t.Fatalf("claims = %+v (payload %s), want %+v (payload %s)", c, c.Payload, tt.want, tt.want.Payload)
			}
		})
	}
}

// request builds a request with the given token placements.
func request(method, target string, header map[string][]string, cookie string) *http.Request {
	r := httptest.NewRequest(method, target, nil)
	for k, vs := range header {
		for _, v := range vs {
			r.Header.Add(k, v)
		}
	}
	if cookie != "" {
		r.AddCookie(&http.Cookie{Name: DefaultCookieName, Value: cookie})
	}
	return r
}

func TestExtractFollowsTheProtocolsPrecedence(t *testing.T) {
	v := verifier(hsKey(t))
	v.Query = true // a subscriber's verifier
	tests := []struct {
		name    string
		r       *http.Request
		want    string
		src     Source
		wantErr error
		errText string
	}{
		{"nothing", request("GET", "/.well-known/mercure?topic=a", nil, ""), "", FromNowhere, ErrNoToken, ""},
		{"header", request("GET", "/", map[string][]string{"Authorization": {"Bearer H"}}, ""), "H", FromHeader, nil, ""},
		{"header scheme is case-insensitive", request("GET", "/", map[string][]string{"Authorization": {"bearer H"}}, ""), "H", FromHeader, nil, ""},
		{"query", request("GET", "/?topic=a&authorization=Q", nil, ""), "Q", FromQuery, nil, ""},
		{"cookie", request("GET", "/", nil, "C"), "C", FromCookie, nil, ""},
		{"header wins over query and cookie", request("GET", "/?authorization=Q", map[string][]string{"Authorization": {"Bearer H"}}, "C"), "H", FromHeader, nil, ""},
		{"query wins over cookie", request("GET", "/?authorization=Q", nil, "C"), "Q", FromQuery, nil, ""},
		{"empty cookie is no cookie", request("GET", "/", nil, ""), "", FromNowhere, ErrNoToken, ""},

		{"header present but not Bearer does not fall back", request("GET", "/?authorization=Q", map[string][]string{"Authorization": {"Basic dXNlcjpwYXNz"}}, "C"), "", FromHeader, ErrInvalidRequest, `must read "Bearer <JWT>"`},
		{"Bearer without a token", request("GET", "/", map[string][]string{"Authorization": {"Bearer "}}, ""), "", FromHeader, ErrInvalidRequest, "no token"},
		{"two Authorization headers", request("GET", "/", map[string][]string{"Authorization": {"Bearer A", "Bearer B"}}, ""), "", FromHeader, ErrInvalidRequest, "2 Authorization headers"},
		{"two query parameters", request("GET", "/?authorization=A&authorization=B", nil, ""), "", FromQuery, ErrInvalidToken, "2 authorization query parameters"},
		{"empty query parameter", request("GET", "/?authorization=", nil, "C"), "", FromQuery, ErrInvalidToken, "is empty"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, src, err := v.Extract(tt.r)
			if !errors.Is(err, tt.wantErr) || (err == nil) != (tt.wantErr == nil) {
				t.Fatalf("Extract error = %v, want %v", err, tt.wantErr)
			}
			if err != nil && !strings.Contains(err.Error(), tt.errText) {
				t.Errorf("error = %q, want it to contain %q", err, tt.errText)
			}
			if got != tt.want || src != tt.src {
				t.Errorf("Extract = %q from %v, want %q from %v", got, src, tt.want, tt.src)
			}
		})
	}
}

func TestQueryTokenIsRefusedWithAReasonUnlessAccepted(t *testing.T) {
	v := verifier(hsKey(t)) // a publisher's verifier: Query off
	good := mint(t, jwt.SigningMethodHS256, []byte(secret), jwt.MapClaims{"mercure": map[string]any{"publish": []string{"*"}}})
	for _, method := range []string{"GET", "POST"} {
		_, err := v.Verify(request(method, "/?authorization="+good, nil, good))
		if !errors.Is(err, ErrInvalidToken) || !strings.Contains(err.Error(), "Authorization: Bearer") {
			t.Errorf("%s with a valid token in the query: error %v, want ErrInvalidToken saying to use the Authorization header", method, err)
		}
	}
	if _, err := v.Verify(request("POST", "/?authorization=x", map[string][]string{"Authorization": {"Bearer " + good}}, "")); err != nil {
		t.Errorf("header token beside a query parameter: %v, want the header's token accepted", err)
	}
}

func TestExtractReadsACustomCookieName(t *testing.T) {
	v := verifier(hsKey(t))
	v.CookieName = "hubAuth"
	r := httptest.NewRequest("GET", "/", nil)
	r.AddCookie(&http.Cookie{Name: DefaultCookieName, Value: "ignored"})
	r.AddCookie(&http.Cookie{Name: "hubAuth", Value: "C"})
	if got, src, err := v.Extract(r); err != nil || got != "C" || src != FromCookie {
		t.Fatalf("Extract = %q, %v, %v; want the hubAuth cookie", got, src, err)
	}
}

func TestCookieOnAnUnsafeRequestNeedsTheHubsOwnOrigin(t *testing.T) {
	v := verifier(hsKey(t))
	v.Origins = []string{"https://app.example.com"}
	tests := []struct {
		name   string
		method string
		header map[string][]string
		ok     bool
	}{
		{"GET from another origin", "GET", map[string][]string{"Origin": {"https://evil.example"}}, true},
		{"GET without origin", "GET", nil, true},
		{"POST from the hub's own origin", "POST", map[string][]string{"Origin": {"https://hub.example.com"}}, true},
		{"POST from the hub's own origin over plain HTTP", "POST", map[string][]string{"Origin": {"http://hub.example.com"}}, true},
		{"POST from an allowed origin", "POST", map[string][]string{"Origin": {"https://app.example.com"}}, true},
		{"POST with only a same-origin Referer", "POST", map[string][]string{"Referer": {"https://hub.example.com/page?x=1"}}, true},
		{"POST from another origin", "POST", map[string][]string{"Origin": {"https://evil.example"}}, false},
		{"POST from a look-alike host", "POST", map[string][]string{"Origin": {"https://hub.example.com.evil.example"}}, false},
		{"POST from the hub's host on another port", "POST", map[string][]string{"Origin": {"https://hub.example.com:8443"}}, false},
		{"POST with an opaque origin", "POST", map[string][]string{"Origin": {"null"}}, false},
		{"POST with a cross-origin Referer only", "POST", map[string][]string{"Referer": {"https://evil.example/"}}, false},
		{"POST with neither header", "POST", nil, false},
		{"DELETE from another origin", "DELETE", map[string][]string{"Origin": {"https://evil.example"}}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := request(tt.method, "https://hub.example.com/.well-known/mercure", tt.header, "C")
			got, src, err := v.Extract(r)
			if tt.ok {
				if err != nil || got != "C" || src != FromCookie {
					t.Fatalf("Extract = %q, %v, %v; want the cookie accepted", got, src, err)
				}
				return
			}
			if !errors.Is(err, ErrForbidden) || !strings.Contains(err.Error(), "CSRF") {
				t.Fatalf("Extract error = %v, want ErrForbidden explaining CSRF protection", err)
			}
			// The same request with the token in the header is fine.
			r.Header.Set("Authorization", "Bearer H")
			if got, _, err := v.Extract(r); err != nil || got != "H" {
				t.Fatalf("with an Authorization header: Extract = %q, %v; want the header's token", got, err)
			}
		})
	}
	t.Run("no origin allowed a cookie through *", func(t *testing.T) {
		v := verifier(hsKey(t))
		v.Origins = []string{"*"}
		r := request("POST", "https://hub.example.com/", map[string][]string{"Origin": {"https://evil.example"}}, "C")
		if _, _, err := v.Extract(r); !errors.Is(err, ErrForbidden) {
			t.Fatalf("Extract: %v, want the cookie refused: * allows calls without credentials only", err)
		}
	})
}

func TestVerifyReturnsClaimsOfTheRequestsToken(t *testing.T) {
	v := verifier(hsKey(t))
	good := mint(t, jwt.SigningMethodHS256, []byte(secret), jwt.MapClaims{"mercure": map[string]any{"subscribe": []string{"s"}}})
	bad := mint(t, jwt.SigningMethodHS256, []byte("wrong-secret-wrong-secret-wrong-secret"), jwt.MapClaims{})

	v.Query = true
	c, err := v.Verify(request("GET", "/?authorization="+good, nil, bad))
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	if !reflect.DeepEqual(c.Subscribe, []string{"s"}) {
		t.Fatalf("Subscribe = %q, want [s]", c.Subscribe)
	}
	// The bad cookie is ignored above, but used (and refused) alone.
	if _, err := v.Verify(request("GET", "/", nil, bad)); !errors.Is(err, ErrInvalidToken) {
		t.Fatalf("Verify with a forged cookie: %v, want ErrInvalidToken", err)
	}
	if _, err := v.Verify(request("GET", "/", nil, "")); !errors.Is(err, ErrNoToken) {
		t.Fatalf("Verify without a token: %v, want ErrNoToken", err)
	}
}

func TestSentinelErrorsStayDistinct(t *testing.T) {
	all := []error{ErrNoToken, ErrInvalidToken, ErrForbidden, ErrInvalidRequest}
	for i, a := range all {
		for j, b := range all {
			if i != j && errors.Is(a, b) {
				t.Errorf("%v is %v", a, b)
			}
		}
	}
}
