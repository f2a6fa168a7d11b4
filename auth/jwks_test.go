package auth

import (
	"context"
	"crypto"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/MicahParks/jwkset"
	"github.com/golang-jwt/jwt/v5"
)

// jwksServer serves a JWK Set that a test can change, counting fetches.
type jwksServer struct {
	*httptest.Server
	fetches atomic.Int32
	mu      sync.Mutex
	body    []byte
	ctype   string
	status  int
	cache   string
}

func newJWKSServer(t *testing.T) *jwksServer {
	t.Helper()
	s := &jwksServer{ctype: "application/jwk-set+json", status: 200}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.fetches.Add(1)
		s.mu.Lock()
		defer s.mu.Unlock()
		w.Header().Set("Content-Type", s.ctype)
		if s.cache != "" {
			w.Header().Set("Cache-Control", s.cache)
		}
		w.WriteHeader(s.status)
		w.Write(s.body)
	}))
	t.Cleanup(s.Close)
	return s
}

// serve makes the server answer with the public keys, by kid.
func (s *jwksServer) serve(t *testing.T, keys map[string]crypto.PublicKey) {
	t.Helper()
	var set jwkset.JWKSMarshal
	for kid, k := range keys {
		jwk, err := jwkset.NewJWKFromKey(k, jwkset.JWKOptions{Metadata: jwkset.JWKMetadataOptions{KID: kid}})
		if err != nil {
			t.Fatal(err)
		}
		set.Keys = append(set.Keys, jwk.Marshal())
	}
	b, err := json.Marshal(set)
	if err != nil {
		t.Fatal(err)
	}
	s.answer(200, "application/jwk-set+json", b)
}

func (s *jwksServer) answer(status int, ctype string, body []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.status, s.ctype, s.body = status, ctype, body
}

// fakeClock is a clock a test moves.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *fakeClock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func TestJWKSRotationVerifiesTheNewKidAndRateLimitsUnknownOnes(t *testing.T) {
	k := keys()
	srv := newJWKSServer(t)
	srv.serve(t, map[string]crypto.PublicKey{"old": &k.rsa.PublicKey})
	clock := &fakeClock{t: now}
	v := verifier(Key{})
	v.Resource = resource
	v.Issuers = []Issuer{{ID: issA, JWKS: &JWKS{URL: srv.URL, Now: clock.Now}}}
	sign := func(key any, kid string) string {
		return mintAT(t, jwt.SigningMethodRS256, key, "at+jwt", kid, atClaims(issA, nil))
	}
	if _, err := v.VerifyToken(sign(k.rsa, "old")); err != nil {
		t.Fatalf("a token of the served key: %v", err)
	}
	// The issuer rotates to a new key; tokens of the old one are gone.
	srv.serve(t, map[string]crypto.PublicKey{"new": &k.rsaOther.PublicKey})
	clock.Add(DefaultJWKSRefreshInterval)
	if _, err := v.VerifyToken(sign(k.rsaOther, "new")); err != nil {
		t.Fatalf("a token of the rotated-in key: %v", err)
	}
	if got := srv.fetches.Load(); got != 2 {
		t.Fatalf("%d fetches, want 2 (the first token, then the new kid)", got)
	}
	for range 50 {
		if _, err := v.VerifyToken(sign(k.rsa, "unknown")); err == nil {
			t.Fatal("a token with an unknown kid verified")
		}
	}
	if got := srv.fetches.Load(); got != 2 {
		t.Fatalf("50 tokens of an unknown kid within the refresh interval made %d fetches in all, want still 2", got)
	}
	clock.Add(DefaultJWKSRefreshInterval)
	for range 50 {
		v.VerifyToken(sign(k.rsa, "unknown"))
	}
	if got := srv.fetches.Load(); got != 3 {
		t.Fatalf("after one more interval: %d fetches, want 3", got)
	}
}

func TestJWKSCachesForMaxAgeAndKeepsKeysWhenAFetchFails(t *testing.T) {
	k := keys()
	srv := newJWKSServer(t)
	srv.serve(t, map[string]crypto.PublicKey{"a": &k.ec.PublicKey})
	srv.cache = "public, max-age=120"
	clock := &fakeClock{t: now}
	j := &JWKS{URL: srv.URL, Now: clock.Now}
	ctx := context.Background()
	if got := len(j.Keys(ctx, "a")); got != 1 {
		t.Fatalf("%d keys, want 1", got)
	}
	clock.Add(119 * time.Second)
	j.Keys(ctx, "a")
	if got := srv.fetches.Load(); got != 1 {
		t.Fatalf("%d fetches within max-age, want 1", got)
	}
	srv.answer(http.StatusBadGateway, "text/plain", []byte("down"))
	clock.Add(2 * time.Second)
	if got := len(j.Keys(ctx, "a")); got != 1 || srv.fetches.Load() != 2 {
		t.Fatalf("stale set with a failing fetch: %d keys after %d fetches, want the old key after 2", got, srv.fetches.Load())
	}
	if err := j.Err(); err == nil || !strings.Contains(err.Error(), "502") {
		t.Fatalf("Err = %v, want the 502", err)
	}
}

func TestJWKSRefusesBadAnswers(t *testing.T) {
	k := keys()
	oct, _ := json.Marshal(map[string]any{"keys": []any{map[string]any{"kty": "oct", "k": "c2VjcmV0"}}})
	cases := []struct {
		name, ctype string
		status      int
		body        []byte
		wantErr     string
	}{
		{"non-2xx", "application/json", 404, []byte(`{}`), "answered 404"},
		{"wrong content type", "text/html", 200, []byte(`{"keys":[]}`), `Content-Type "text/html"`},
		{"oversized", "application/json", 200, []byte(`{"keys":[` + strings.Repeat(" ", MaxJWKSBytes) + `]}`), "larger than"},
		{"not a set", "application/json", 200, []byte(`[1]`), "not a JWK Set"},
		{"a symmetric key", "application/json", 200, oct, `symmetric ("oct")`},
		{"an encryption key", "application/json", 200, jwkJSON(t, &k.rsa.PublicKey, `"use":"enc"`), `use is "enc"`},
		{"an alg not fitting the key", "application/json", 200, jwkJSON(t, &k.ec.PublicKey, `"alg":"RS256"`), `algorithm "RS256" does not fit`},
	}
	for _, tt := range cases {
		t.Run(tt.name, func(t *testing.T) {
			srv := newJWKSServer(t)
			srv.answer(tt.status, tt.ctype, tt.body)
			j := &JWKS{URL: srv.URL}
			if err := j.Refresh(context.Background()); err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("Refresh = %v, want an error containing %q", err, tt.wantErr)
			}
		})
	}
	j := &JWKS{URL: "http://127.0.0.1:1/jwks.json"}
	if err := j.Refresh(context.Background()); err == nil {
		t.Fatal("an unreachable JWK Set fetched")
	}
}

// jwkJSON is a JWK Set of key with extra members added to its JWK.
func jwkJSON(t *testing.T, key crypto.PublicKey, extra string) []byte {
	t.Helper()
	jwk, err := jwkset.NewJWKFromKey(key, jwkset.JWKOptions{})
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(jwk.Marshal())
	if err != nil {
		t.Fatal(err)
	}
	return []byte(`{"keys":[` + strings.TrimSuffix(string(b), "}") + "," + extra + `}]}`)
}

// FuzzParseJWKS feeds arbitrary documents to the JWK Set parser: it never
// panics, and every key it accepts is an asymmetric verification key with
// an algorithm.
func FuzzParseJWKS(f *testing.F) {
	f.Add(`{"keys":[]}`)
	f.Add(`{"keys":[{"kty":"oct","k":"c2VjcmV0"}]}`)
	f.Add(`{"keys":[{"kty":"EC","crv":"P-256","x":"AA","y":"AA"}]}`)
	f.Add(`{"keys":[{"kty":"RSA","n":"AQAB","e":"AQAB","use":"sig","alg":"RS256","kid":"a"}]}`)
	f.Add(`{"keys":[{"kty":"OKP","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}]}`)
	f.Add(`[1]`)
	f.Fuzz(func(t *testing.T, doc string) {
		keys, err := ParseJWKS([]byte(doc), nil)
		if err != nil {
			if keys != nil {
				t.Fatalf("keys %v with error %v", keys, err)
			}
			return
		}
		for _, k := range keys {
			if k.Algorithm() == "" || k.Algorithm() == HS256 || k.CanSign() || k.verify == nil {
				t.Fatalf("accepted key %+v", k)
			}
		}
	})
}
