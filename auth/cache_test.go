package auth

import (
	"context"
	"crypto"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// cachingVerifier is verifier(k) with a cache of size entries and clock.
func cachingVerifier(k Key, size int, clock *fakeClock) *Verifier {
	v := verifier(k)
	v.Now = clock.Now
	v.Cache = NewTokenCache(size)
	return v
}

// bearer is a publication presenting token in the Authorization header.
func bearer(token string) *http.Request {
	r := httptest.NewRequest(http.MethodPost, "https://hub.example.com/.well-known/mercure", nil)
	r.Header.Set("Authorization", "Bearer "+token)
	return r
}

func TestARepeatedTokenIsNotVerifiedAgain(t *testing.T) {
	clock := &fakeClock{t: now}
	v := cachingVerifier(hsKey(t), 0, clock)
	token := mint(t, jwt.SigningMethodHS256, []byte(secret), jwt.MapClaims{"mercure": publishAll, "exp": now.Add(hour).Unix()})
	first, err := v.Verify(bearer(token))
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		again, err := v.Verify(bearer(token))
		if err != nil {
			t.Fatalf("request %d: %v", i+2, err)
		}
		// A verification decodes the claims anew: the same ones mean
		// the token was taken from the cache.
		if again != first {
			t.Fatalf("request %d: the token was verified again", i+2)
		}
	}
	if a, err := v.VerifyToken(token); err != nil {
		t.Fatal(err)
	} else if b, err := v.VerifyToken(token); err != nil || b != a {
		t.Fatalf("VerifyToken of the same token twice: %p %v, want the remembered claims %p", b, err, a)
	}
	// The cache keeps the transport rules: a 0.x token is no access
	// token, whatever cookie it comes in.
	r := httptest.NewRequest(http.MethodGet, "https://hub.example.com/.well-known/mercure", nil)
	r.AddCookie(&http.Cookie{Name: DefaultAccessTokenCookie, Value: token})
	if _, err := v.Verify(r); !errors.Is(err, ErrInvalidRequest) {
		t.Fatalf("a remembered 0.x token in the access token cookie: %v, want ErrInvalidRequest", err)
	}
	// Without a cache every request verifies.
	v.Cache = nil
	if c, err := v.Verify(bearer(token)); err != nil || c == first {
		t.Fatalf("without a cache: %p %v, want new claims", c, err)
	}
}

func TestARememberedTokenStopsWorkingAtItsExpiry(t *testing.T) {
	clock := &fakeClock{t: now}
	v := cachingVerifier(hsKey(t), 0, clock)
	v.Leeway = 5 * time.Second
	exp := now.Add(time.Minute)
	token := mint(t, jwt.SigningMethodHS256, []byte(secret), jwt.MapClaims{"mercure": publishAll, "exp": exp.Unix()})
	for range 2 {
		if _, err := v.VerifyToken(token); err != nil {
			t.Fatal(err)
		}
	}
	clock.Add(exp.Sub(now) + v.Leeway - time.Millisecond)
	if _, err := v.VerifyToken(token); err != nil {
		t.Fatalf("just before its expiry (with leeway): %v", err)
	}
	clock.Add(time.Millisecond)
	if _, err := v.VerifyToken(token); !errors.Is(err, ErrInvalidToken) || !strings.Contains(err.Error(), "expired") {
		t.Fatalf("at its expiry (with leeway): %v, want it expired", err)
	}
	if n := v.Cache.Len(); n != 0 {
		t.Fatalf("the cache keeps %d tokens after the expiry, want 0", n)
	}
}

func TestATokenNotYetValidIsRefusedUntilItsNotBefore(t *testing.T) {
	clock := &fakeClock{t: now}
	v := cachingVerifier(hsKey(t), 0, clock)
	nbf := now.Add(time.Minute)
	token := mint(t, jwt.SigningMethodHS256, []byte(secret), jwt.MapClaims{"mercure": publishAll, "nbf": nbf.Unix()})
	if _, err := v.VerifyToken(token); !errors.Is(err, ErrInvalidToken) {
		t.Fatalf("before its nbf: %v, want ErrInvalidToken", err)
	}
	if n := v.Cache.Len(); n != 0 {
		t.Fatalf("a refused token is remembered: %d entries", n)
	}
	clock.Add(time.Minute)
	if _, err := v.VerifyToken(token); err != nil {
		t.Fatalf("at its nbf: %v", err)
	}
	// A clock set back (a remembered token's nbf ahead again) refuses it.
	clock.Add(-time.Second)
	if _, err := v.VerifyToken(token); !errors.Is(err, ErrInvalidToken) {
		t.Fatalf("with the clock set back before its nbf: %v, want ErrInvalidToken", err)
	}
}

func TestTheCacheStaysBounded(t *testing.T) {
	clock := &fakeClock{t: now}
	const size = 16
	v := cachingVerifier(hsKey(t), size, clock)
	for i := range 10 * size {
		token := mint(t, jwt.SigningMethodHS256, []byte(secret), jwt.MapClaims{"mercure": publishAll, "sub": fmt.Sprint("publisher-", i)})
		if _, err := v.VerifyToken(token); err != nil {
			t.Fatal(err)
		}
		if n := v.Cache.Len(); n > size {
			t.Fatalf("after %d distinct tokens the cache holds %d, more than its %d", i+1, n, size)
		}
	}
	// Refused tokens take no room.
	v.Cache = NewTokenCache(size)
	for i := range 10 * size {
		token := mint(t, jwt.SigningMethodHS256, []byte("another-secret-of-at-least-32-bytes!"), jwt.MapClaims{"sub": fmt.Sprint(i)})
		if _, err := v.VerifyToken(token); err == nil {
			t.Fatal("a token of another key was accepted")
		}
	}
	if n := v.Cache.Len(); n != 0 {
		t.Fatalf("refused tokens left %d entries, want 0", n)
	}
	// A token larger than MaxCachedTokenBytes is verified every time.
	big := mint(t, jwt.SigningMethodHS256, []byte(secret), jwt.MapClaims{"mercure": publishAll, "pad": strings.Repeat("x", MaxCachedTokenBytes)})
	a, err := v.VerifyToken(big)
	if err != nil {
		t.Fatal(err)
	}
	if b, err := v.VerifyToken(big); err != nil || a == b {
		t.Fatalf("a token of %d bytes: %p %v, want it verified again", len(big), b, err)
	}
}

func TestAChangedJWKSetEmptiesTheCache(t *testing.T) {
	k := keys()
	srv := newJWKSServer(t)
	srv.serve(t, map[string]crypto.PublicKey{"k1": &k.rsa.PublicKey, "k2": &k.rsaOther.PublicKey})
	clock := &fakeClock{t: now}
	set := &JWKS{URL: srv.URL, Now: clock.Now}
	v := cachingVerifier(Key{}, 0, clock)
	v.Resource = resource
	v.Issuers = []Issuer{{ID: issA, JWKS: set}}
	token := mintAT(t, jwt.SigningMethodRS256, k.rsa, "at+jwt", "k1", atClaims(issA, nil))
	other := mintAT(t, jwt.SigningMethodRS256, k.rsaOther, "at+jwt", "k2", atClaims(issA, nil))
	for _, tok := range []string{token, token, other} {
		if _, err := v.VerifyToken(tok); err != nil {
			t.Fatal(err)
		}
	}
	first, _ := v.VerifyToken(token)
	// A refresh that brings the same keys keeps what was verified.
	if err := set.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	if c, err := v.VerifyToken(token); err != nil || c != first {
		t.Fatalf("after a refresh with the same keys: %p %v, want the remembered claims %p", c, err, first)
	}
	// The issuer drops k1: its token is refused at once, k2's still works.
	srv.serve(t, map[string]crypto.PublicKey{"k2": &k.rsaOther.PublicKey})
	if err := set.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, err := v.VerifyToken(token); !errors.Is(err, ErrInvalidToken) {
		t.Fatalf("a remembered token of the dropped key: %v, want ErrInvalidToken", err)
	}
	if _, err := v.VerifyToken(other); err != nil {
		t.Fatalf("a token of the kept key: %v", err)
	}

	// Past its max-age the set is fetched again before any token is taken
	// from the cache.
	if _, err := v.VerifyToken(other); err != nil {
		t.Fatal(err)
	}
	srv.serve(t, map[string]crypto.PublicKey{"k1": &k.rsa.PublicKey})
	clock.Add(DefaultJWKSMaxAge)
	if _, err := v.VerifyToken(other); !errors.Is(err, ErrInvalidToken) {
		t.Fatalf("a remembered token whose key went while the set was stale: %v, want ErrInvalidToken", err)
	}
}

func BenchmarkVerifyRepeatedToken(b *testing.B) {
	token := mint(b, jwt.SigningMethodHS256, []byte(secret), jwt.MapClaims{"mercure": publishAll, "exp": now.Add(hour).Unix()})
	for _, cache := range []bool{false, true} {
		b.Run(fmt.Sprintf("cache=%v", cache), func(b *testing.B) {
			v := verifier(hsKey(b))
			if cache {
				v.Cache = NewTokenCache(0)
			}
			r := bearer(token)
			b.ReportAllocs()
			for b.Loop() {
				if _, err := v.Verify(r); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
