package main

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/heraldhub/herald/auth"
)

// runTokenCmd runs "herald token args…" and returns its exit code, stdout
// and stderr.
func runTokenCmd(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := run(context.Background(), append([]string{"token"}, args...), &stdout, &stderr)
	return code, stdout.String(), stderr.String()
}

// writePEM writes key (private, PKCS #8) or its public half to a file in a
// test directory and returns the path.
func writePEM(t *testing.T, key any, public bool) string {
	t.Helper()
	var (
		der []byte
		typ = "PRIVATE KEY"
		err error
	)
	if public {
		typ = "PUBLIC KEY"
		der, err = x509.MarshalPKIXPublicKey(key.(crypto.Signer).Public())
	} else {
		der, err = x509.MarshalPKCS8PrivateKey(key)
	}
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "key.pem")
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// verify checks that out is one token line and returns its claims as key
// verifies them.
func verify(t *testing.T, out string, key auth.Key) *auth.Claims {
	t.Helper()
	if !strings.HasSuffix(out, "\n") || strings.Count(out, "\n") != 1 {
		t.Fatalf("output %q is not one line", out)
	}
	c, err := (&auth.Verifier{Key: key}).VerifyToken(strings.TrimSuffix(out, "\n"))
	if err != nil {
		t.Fatalf("the printed token does not verify: %v", err)
	}
	return c
}

func TestTokenMintsAVerifiableToken(t *testing.T) {
	const secret = "token-test-secret-of-at-least-32-bytes"
	hs, err := auth.SecretKey(secret)
	if err != nil {
		t.Fatal(err)
	}
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	ecKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	rsaPublic, err := auth.LoadPEMFile(writePEM(t, rsaKey, true))
	if err != nil {
		t.Fatal(err)
	}
	ecPublic, err := auth.LoadPEMFile(writePEM(t, ecKey, true))
	if err != nil {
		t.Fatal(err)
	}
	rsaFile, ecFile := writePEM(t, rsaKey, false), writePEM(t, ecKey, false)

	tests := []struct {
		name   string
		env    string
		args   []string
		key    auth.Key
		want   auth.Claims
		expiry time.Duration // 0: no exp
	}{
		{
			name: "HS256 publisher",
			args: []string{"--key", secret, "--publish", "*"},
			key:  hs, want: auth.Claims{Publish: []string{"*"}}, expiry: defaultTokenTTL,
		},
		{
			name: "every claim",
			args: []string{"--key", secret, "--alg", "HS256", "--publish", "a", "--publish", "b/{id}", "--subscribe", "c",
				"--payload", `{"user":"alice"}`, "--subject", "alice", "--ttl", "90m"},
			key: hs, want: auth.Claims{Publish: []string{"a", "b/{id}"}, Subscribe: []string{"c"},
				Payload: []byte(`{"user":"alice"}`), Subject: "alice"}, expiry: 90 * time.Minute,
		},
		{
			name: "subscriber that never expires",
			args: []string{"--key", secret, "--subscribe", "*", "--ttl", "0"},
			key:  hs, want: auth.Claims{Subscribe: []string{"*"}},
		},
		{
			name: "key from HERALD_PUBLISHER_KEY",
			env:  secret,
			args: []string{"--publish", "*"},
			key:  hs, want: auth.Claims{Publish: []string{"*"}}, expiry: defaultTokenTTL,
		},
		{
			name: "--key-file wins over HERALD_PUBLISHER_KEY",
			env:  "some-other-secret",
			args: []string{"--key-file", rsaFile, "--publish", "*"},
			key:  rsaPublic, want: auth.Claims{Publish: []string{"*"}}, expiry: defaultTokenTTL,
		},
		{
			name: "RS256",
			args: []string{"--key-file", rsaFile, "--alg", "RS256", "--publish", "*"},
			key:  rsaPublic, want: auth.Claims{Publish: []string{"*"}}, expiry: defaultTokenTTL,
		},
		{
			name: "ES256",
			args: []string{"--key-file", ecFile, "--alg", "es256", "--subscribe", "x"},
			key:  ecPublic, want: auth.Claims{Subscribe: []string{"x"}}, expiry: defaultTokenTTL,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("HERALD_PUBLISHER_KEY", tt.env)
			before := time.Now().Truncate(time.Second)
			code, out, errOut := runTokenCmd(t, tt.args...)
			after := time.Now()
			if code != 0 {
				t.Fatalf("exit %d, stderr %q", code, errOut)
			}
			c := verify(t, out, tt.key)
			if tt.expiry == 0 {
				if !c.Expiry.IsZero() {
					t.Errorf("Expiry = %v, want none", c.Expiry)
				}
			} else if c.Expiry.Before(before.Add(tt.expiry)) || c.Expiry.After(after.Add(tt.expiry)) {
				t.Errorf("Expiry = %v, want %v from now", c.Expiry, tt.expiry)
			}
			c.Expiry = time.Time{}
			if !reflect.DeepEqual(*c, tt.want) {
				t.Errorf("claims = %+v, want %+v", *c, tt.want)
			}
		})
	}
}

func TestTokenExplainsWhatIsWrong(t *testing.T) {
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	rsaFile, rsaPublicFile := writePEM(t, rsaKey, false), writePEM(t, rsaKey, true)
	tests := []struct {
		name    string
		args    []string
		wantErr string
	}{
		{"no selector", []string{"--key", "k"}, "give at least one --publish or --subscribe"},
		{"no key", []string{"--publish", "*"}, "no key: pass --key"},
		{"both keys", []string{"--key", "k", "--key-file", rsaFile, "--publish", "*"}, "not both"},
		{"public key file", []string{"--key-file", rsaPublicFile, "--publish", "*"}, "signing needs the private key"},
		{"missing key file", []string{"--key-file", rsaFile + ".missing", "--publish", "*"}, "read key file"},
		{"alg of another key", []string{"--key-file", rsaFile, "--alg", "ES256", "--publish", "*"}, "holds an RS256 key"},
		{"RS256 with a secret", []string{"--key", "k", "--alg", "RS256", "--publish", "*"}, "--alg RS256 needs --key-file"},
		{"unknown alg", []string{"--key", "k", "--alg", "none", "--publish", "*"}, `unsupported JWT algorithm "none"`},
		{"invalid payload", []string{"--key", "k", "--publish", "*", "--payload", "{user"}, "--payload is not valid JSON"},
		{"negative ttl", []string{"--key", "k", "--publish", "*", "--ttl", "-1h"}, "--ttl -1h0m0s is negative"},
		{"stray argument", []string{"--key", "k", "*"}, `unexpected argument "*"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("HERALD_PUBLISHER_KEY", "")
			code, out, errOut := runTokenCmd(t, tt.args...)
			if code != 1 || out != "" {
				t.Fatalf("exit %d, stdout %q; want exit 1 and no token", code, out)
			}
			if !strings.HasPrefix(errOut, "herald token: ") || !strings.Contains(errOut, tt.wantErr) || strings.Count(errOut, "\n") != 1 {
				t.Fatalf("stderr = %q, want one line containing %q", errOut, tt.wantErr)
			}
		})
	}
}

func TestTokenUsageErrorsExitTwo(t *testing.T) {
	code, out, errOut := runTokenCmd(t, "--ttl", "soon", "--publish", "*")
	if code != 2 || out != "" || !strings.Contains(errOut, "flag -ttl") {
		t.Fatalf("exit %d, stdout %q, stderr %q; want exit 2 and the flag explained", code, out, errOut)
	}
}

func TestTokenMintsAccessTokensTheVerifierAccepts(t *testing.T) {
	const (
		secret   = "a-secret-for-access-tokens-0123456789"
		issuer   = "https://issuer.example"
		resource = "https://hub.example/.well-known/mercure"
	)
	code, out, errOut := runTokenCmd(t, "--key", secret, "--format", "at+jwt", "--issuer", issuer, "--audience", resource,
		"--match-type", "urlpattern", "--publish", "https://example.com/books/:id", "--subscribe", "*", "--payload", `{"u":1}`, "--subject", "svc", "--kid", "k1")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	key, err := auth.SecretKey(secret)
	if err != nil {
		t.Fatal(err)
	}
	v := &auth.Verifier{Resource: resource, Issuers: []auth.Issuer{{ID: issuer, Keys: []auth.Key{key.WithID("k1")}}}}
	c, err := v.VerifyToken(strings.TrimSpace(out))
	if err != nil {
		t.Fatalf("the minted token is refused: %v", err)
	}
	want := []auth.Detail{
		{Actions: []string{auth.ActionPublish}, Topics: []auth.Matcher{{Match: "https://example.com/books/:id", Type: auth.MatchURLPattern}}},
		{Actions: []string{auth.ActionSubscribe}, Topics: []auth.Matcher{{Match: "*", Type: auth.MatchURLPattern}}, Payload: []byte(`{"u":1}`)},
	}
	if c.Format != auth.AccessToken || c.Subject != "svc" || !reflect.DeepEqual(c.Details, want) {
		t.Fatalf("claims %+v, want an access token of svc with details %+v", c, want)
	}
	if left := time.Until(c.Expiry); left <= 0 || left > time.Hour {
		t.Fatalf("expires in %v, want the default hour", left)
	}
	if auth.IsAccessToken(strings.TrimSpace(mustToken(t, "--key", secret, "--publish", "*"))) {
		t.Fatal("the default format is an access token, want the 0.x token")
	}
}

func TestTokenRefusesIncompleteAccessTokens(t *testing.T) {
	base := []string{"--key", "k", "--publish", "*"}
	cases := []struct {
		args    []string
		wantErr string
	}{
		{[]string{"--format", "at+jwt", "--audience", "https://h/.well-known/mercure"}, "needs --issuer"},
		{[]string{"--format", "at+jwt", "--issuer", "https://i"}, "needs --audience"},
		{[]string{"--format", "at+jwt", "--issuer", "https://i", "--audience", "a", "--ttl", "0"}, "must expire"},
		{[]string{"--format", "at+jwt", "--issuer", "https://i", "--audience", "a", "--match-type", "regex"}, "unknown --match-type"},
		{[]string{"--format", "jwe"}, "unknown --format"},
		{[]string{"--issuer", "https://i"}, "are for --format at+jwt"},
	}
	for _, tt := range cases {
		code, _, errOut := runTokenCmd(t, append(base, tt.args...)...)
		if code == 0 || !strings.Contains(errOut, tt.wantErr) {
			t.Errorf("herald token %v: exit %d, %q; want an error containing %q", tt.args, code, errOut, tt.wantErr)
		}
	}
}

// mustToken runs herald token and returns its output.
func mustToken(t *testing.T, args ...string) string {
	t.Helper()
	code, out, errOut := runTokenCmd(t, args...)
	if code != 0 {
		t.Fatalf("herald token %v: exit %d: %s", args, code, errOut)
	}
	return out
}
