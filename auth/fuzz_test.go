package auth

import (
	"errors"
	"net/http"
	"net/url"
	"testing"

	"github.com/golang-jwt/jwt/v5"
)

// FuzzVerifyToken feeds arbitrary strings to the verifier: it must never
// panic, and whatever it refuses it refuses with ErrInvalidToken.
func FuzzVerifyToken(f *testing.F) {
	hs := hsKey(f)
	good := mint(f, jwt.SigningMethodHS256, []byte(secret), jwt.MapClaims{"mercure": publishAll, "sub": "x", "exp": now.Unix() + 60})
	for _, s := range []string{
		good, good[:len(good)-2], tamper(good, "e30"), tamper(good, "bnVsbA"), // {} and null claims
		mint(f, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, jwt.MapClaims{}),
		mint(f, jwt.SigningMethodHS384, []byte(secret), jwt.MapClaims{}),
		mint(f, jwt.SigningMethodHS256, []byte(secret), jwt.MapClaims{"mercure": map[string]any{"publish": "*", "payload": []any{1, nil}}}),
		mint(f, jwt.SigningMethodHS256, []byte(secret), jwt.MapClaims{"exp": "x", "nbf": nil, "aud": 3}),
		"", ".", "..", "a.b.c", "e30.e30.e30", "eyJhbGciOiJIUzI1NiJ9.bnVsbA.", "eyJhbGciOjF9.e30.",
	} {
		f.Add(s)
	}
	v := verifier(hs)
	f.Fuzz(func(t *testing.T, token string) {
		c, err := v.VerifyToken(token)
		if err != nil {
			if !errors.Is(err, ErrInvalidToken) || c != nil {
				t.Fatalf("VerifyToken(%q) = %v, %v; want nil claims and ErrInvalidToken", token, c, err)
			}
			return
		}
		if c == nil {
			t.Fatalf("VerifyToken(%q) returned nil claims without an error", token)
		}
	})
}

// FuzzVerifyRequest builds requests from arbitrary header, query, cookie and
// origin values: extraction and verification must never panic, and every
// failure wraps one of the three sentinel errors.
func FuzzVerifyRequest(f *testing.F) {
	good := mint(f, jwt.SigningMethodHS256, []byte(secret), jwt.MapClaims{"mercure": publishAll})
	f.Add("GET", "Bearer "+good, "", "", "")
	f.Add("POST", "", "authorization="+good, "", "")
	f.Add("POST", "", "", "mercureAuthorization="+good, "https://evil.example")
	f.Add("POST", "", "", "mercureAuthorization="+good+"; other=1", "null")
	f.Add("GET", "Basic x", "authorization=&authorization=", "mercureAuthorization=", "")
	f.Add("GET", "Bearer", "%zz", "=;=", "://")
	f.Add("PUT", "bearer  \t a.b.c ", "topic=a&authorization=a.b.c", "mercureAuthorization=\"quoted\"", "http://[::1")
	v := verifier(hsKey(f))
	f.Fuzz(func(t *testing.T, method, authorization, rawQuery, cookie, origin string) {
		r := &http.Request{
			Method: method,
			URL:    &url.URL{Path: "/.well-known/mercure", RawQuery: rawQuery},
			Header: http.Header{},
			Host:   "hub.example.com",
		}
		if authorization != "" {
			r.Header.Set("Authorization", authorization)
		}
		if cookie != "" {
			r.Header.Set("Cookie", cookie)
		}
		if origin != "" {
			r.Header.Set("Origin", origin)
			r.Header.Set("Referer", origin)
		}
		c, err := v.Verify(r)
		if err != nil {
			if c != nil || !(errors.Is(err, ErrNoToken) || errors.Is(err, ErrInvalidToken) || errors.Is(err, ErrForbidden) || errors.Is(err, ErrInvalidRequest)) {
				t.Fatalf("Verify = %v, %v; want nil claims and a sentinel error", c, err)
			}
		}
	})
}
