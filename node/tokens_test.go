package node

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/MicahParks/jwkset"
	"github.com/golang-jwt/jwt/v5"
	"github.com/heraldhub/herald/auth"
)

const (
	testIssuer   = "https://issuer.example"
	testResource = "https://hub.example/.well-known/mercure"
)

// accessToken mints an HS256 access token (typ at+jwt) of testIssuer for
// testResource, changed by edit.
func accessToken(t *testing.T, key string, edit func(jwt.MapClaims)) string {
	t.Helper()
	claims := jwt.MapClaims{
		"iss": testIssuer, "aud": testResource, "exp": time.Now().Add(time.Hour).Unix(),
		"authorization_details": []any{map[string]any{"type": auth.DetailType, "actions": []string{"subscribe"}, "topics": []any{map[string]any{"match": "*"}}}},
	}
	if edit != nil {
		edit(claims)
	}
	tok := jwt.NewWithClaims(jwt.SigningMethodHS256, claims)
	tok.Header["typ"] = "at+jwt"
	s, err := tok.SignedString([]byte(key))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestAuthRefusalsCarryRFC6750Challenges(t *testing.T) {
	n := startNode(t, Config{SubscriberKey: subscriberKey, Issuer: testIssuer, ResourceIdentifier: testResource, NoAnonymous: true})
	metadata := `resource_metadata="https://hub.example/.well-known/oauth-protected-resource/.well-known/mercure"`
	form := url.Values{"topic": {"a"}, "data": {"x"}}.Encode()
	onlyB := token(t, publisherKey, []string{"b"}, nil)
	n.call(t, "POST", "/api/jobs", token(t, publisherKey, []string{"*"}, nil), `{"id":"q"}`)
	cases := []struct {
		name, method, path, body string
		header                   http.Header
		status                   int
		challenge                string // the error parameter, "" for none
	}{
		{"publish without a token", "POST", "/.well-known/mercure", form, nil, 401, ""},
		{"publish with a forged token", "POST", "/.well-known/mercure", form, http.Header{"Authorization": {"Bearer not.a.token"}}, 401, `error="invalid_token"`},
		{"jobs API beyond the token's scope", "POST", "/api/jobs/q/progress", `{"done":1}`, http.Header{"Content-Type": {"application/json"}, "Authorization": {"Bearer " + onlyB}}, 403, `error="insufficient_scope"`},
		{"two Authorization headers", "POST", "/.well-known/mercure", form, http.Header{"Authorization": {"Bearer " + onlyB, "Bearer " + onlyB}}, 400, `error="invalid_request"`},
		{"another scheme", "POST", "/.well-known/mercure", form, http.Header{"Authorization": {"Basic dXNlcjpwYXNz"}}, 400, `error="invalid_request"`},
		{"an empty bearer token", "GET", "/.well-known/mercure?topic=a", "", http.Header{"Authorization": {"Bearer "}}, 400, `error="invalid_request"`},
		{"an access token in the query", "GET", "/.well-known/mercure?topic=a&authorization=" + accessToken(t, subscriberKey, nil), "", nil, 400, `error="invalid_request"`},
		{"an access token for another audience", "GET", "/.well-known/mercure?topic=a", "", http.Header{"Authorization": {"Bearer " + accessToken(t, subscriberKey, func(c jwt.MapClaims) { c["aud"] = "https://other.example/.well-known/mercure" })}}, 401, `error="invalid_token"`},
		{"jobs API without a token", "POST", "/api/jobs", `{"id":"j"}`, http.Header{"Content-Type": {"application/json"}}, 401, ""},
		{"jobs API with another scheme", "POST", "/api/jobs", `{"id":"j"}`, http.Header{"Content-Type": {"application/json"}, "Authorization": {"Basic x"}}, 400, `error="invalid_request"`},
	}
	for _, tt := range cases {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequest(tt.method, n.http.URL+tt.path, strings.NewReader(tt.body))
			if tt.method == "POST" && tt.header.Get("Content-Type") == "" {
				req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			}
			for k, v := range tt.header {
				req.Header[k] = v
			}
			resp, err := n.http.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			got := resp.Header.Get("WWW-Authenticate")
			if resp.StatusCode != tt.status || !strings.HasPrefix(got, "Bearer ") || strings.Count(string(b), "\n") != 1 {
				t.Fatalf("%d %q, WWW-Authenticate %q; want %d, a Bearer challenge, one line", resp.StatusCode, b, got, tt.status)
			}
			if tt.status == http.StatusUnauthorized && !strings.Contains(got, metadata) {
				t.Fatalf("WWW-Authenticate %q, want %s", got, metadata)
			}
			if tt.challenge == "" && strings.Contains(got, "error=") || !strings.Contains(got, tt.challenge) {
				t.Fatalf("WWW-Authenticate %q, want error parameter %q", got, tt.challenge)
			}
		})
	}
	// An access token of the issuer, for this hub, is accepted.
	n.subscribe(t, "topic=a", http.Header{"Authorization": {"Bearer " + accessToken(t, subscriberKey, nil)}})
	n.subscribe(t, "topic=a", http.Header{"Cookie": {"__Secure-mercure_access_token=" + accessToken(t, subscriberKey, nil)}})
}

// writeECKey writes a new EC P-256 private key to path as PEM and returns it.
func writeECKey(t *testing.T, path string) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKIXPublicKey(&k.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return k
}

func TestReloadPicksUpChangedKeyFiles(t *testing.T) {
	dir := t.TempDir()
	pemPath := filepath.Join(dir, "publisher.pem")
	oldKey := writeECKey(t, pemPath)
	n := startNode(t, Config{PublisherKey: pemPath, PublisherAlg: "ES256", SubscriberKey: subscriberKey, SubscriberAlg: "HS256", DataDir: filepath.Join(dir, "data")})
	es := func(k *ecdsa.PrivateKey) string {
		s, err := jwt.NewWithClaims(jwt.SigningMethodES256, jwt.MapClaims{"mercure": map[string]any{"publish": []string{"*"}}}).SignedString(k)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	form := url.Values{"topic": {"a"}, "data": {"x"}}
	// The old key's token is used twice: the hub remembers it.
	oldToken := es(oldKey)
	for range 2 {
		if status, body := n.publish(t, oldToken, form); status != http.StatusOK {
			t.Fatalf("before the rotation: %d %s", status, body)
		}
	}
	newKey := writeECKey(t, pemPath)
	if status, _ := n.publish(t, es(newKey), form); status != http.StatusUnauthorized {
		t.Fatalf("the new key before Reload: %d, want 401", status)
	}
	if err := n.srv.Reload(); err != nil {
		t.Fatal(err)
	}
	if status, body := n.publish(t, es(newKey), form); status != http.StatusOK {
		t.Fatalf("the new key after Reload: %d %s", status, body)
	}
	if status, _ := n.publish(t, oldToken, form); status != http.StatusUnauthorized {
		t.Fatalf("the old key's remembered token after Reload: %d, want 401", status)
	}
	// A broken file leaves the keys in use.
	if err := os.WriteFile(pemPath, []byte("not a key"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := n.srv.Reload(); err == nil || !strings.Contains(err.Error(), "no PEM key") {
		t.Fatalf("Reload of a broken file: %v, want an error naming it", err)
	}
	if status, body := n.publish(t, es(newKey), form); status != http.StatusOK {
		t.Fatalf("after a failed Reload: %d %s", status, body)
	}

	// The generated secret in the data directory is reloaded too.
	srv, err := New(context.Background(), Config{Log: "memory", DataDir: filepath.Join(dir, "data2")}) // no publisher key: generated
	if err != nil {
		t.Fatal(err)
	}
	m := serveNode(t, srv)
	secretFile := filepath.Join(dir, "data2", publisherKeyFile)
	const rotated = "a-rotated-secret-of-at-least-32-bytes!!"
	if err := os.WriteFile(secretFile, []byte(rotated+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if status, _ := m.publish(t, token(t, rotated, []string{"*"}, nil), form); status != http.StatusUnauthorized {
		t.Fatalf("the rotated secret before Reload: %d, want 401", status)
	}
	if err := m.srv.Reload(); err != nil {
		t.Fatal(err)
	}
	if status, body := m.publish(t, token(t, rotated, []string{"*"}, nil), form); status != http.StatusOK {
		t.Fatalf("the rotated secret after Reload: %d %s", status, body)
	}
}

func TestSubscriberJWKSVerifiesAccessTokensOfTheIssuer(t *testing.T) {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	jwk, err := jwkset.NewJWKFromKey(&k.PublicKey, jwkset.JWKOptions{Metadata: jwkset.JWKMetadataOptions{KID: "k1"}})
	if err != nil {
		t.Fatal(err)
	}
	set, _ := json.Marshal(jwkset.JWKSMarshal{Keys: []jwkset.JWKMarshal{jwk.Marshal()}})
	jwks := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/jwk-set+json")
		w.Write(set)
	}))
	t.Cleanup(jwks.Close)
	n := startNode(t, Config{Issuer: testIssuer, SubscriberJWKSURL: jwks.URL, ResourceIdentifier: testResource, NoAnonymous: true})
	sign := func(key *ecdsa.PrivateKey, kid string) string {
		tok := jwt.NewWithClaims(jwt.SigningMethodES256, jwt.MapClaims{"iss": testIssuer, "aud": testResource, "exp": time.Now().Add(time.Hour).Unix()})
		tok.Header["typ"], tok.Header["kid"] = "at+jwt", kid
		s, err := tok.SignedString(key)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	n.subscribe(t, "topic=a", http.Header{"Authorization": {"Bearer " + sign(k, "k1")}})
	other, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if _, status, body := n.trySubscribe(t, "topic=a", http.Header{"Authorization": {"Bearer " + sign(other, "k1")}}); status != http.StatusUnauthorized {
		t.Fatalf("a token of another key: %d %s, want 401", status, body)
	}
	if _, err := New(context.Background(), Config{Log: "memory", PublisherKey: publisherKey, DataDir: t.TempDir(), SubscriberJWKSURL: jwks.URL}); err == nil || !strings.Contains(err.Error(), "needs --issuer") {
		t.Fatalf("a JWK Set URL without --issuer: %v, want an error", err)
	}
}
