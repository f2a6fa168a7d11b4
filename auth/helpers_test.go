package auth

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// now is the fixed clock of the tests.
var now = time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)

const secret = "a-shared-secret-of-at-least-32-bytes!"

// testKeys holds keys generated once per test binary (RSA generation is
// slow enough to matter under -race).
type testKeys struct {
	rsa, rsaOther *rsa.PrivateKey
	ec, ecOther   *ecdsa.PrivateKey
	ecP384        *ecdsa.PrivateKey
}

var keys = sync.OnceValue(func() testKeys {
	var k testKeys
	var err error
	if k.rsa, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
		panic(err)
	}
	if k.rsaOther, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
		panic(err)
	}
	if k.ec, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader); err != nil {
		panic(err)
	}
	if k.ecOther, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader); err != nil {
		panic(err)
	}
	if k.ecP384, err = ecdsa.GenerateKey(elliptic.P384(), rand.Reader); err != nil {
		panic(err)
	}
	return k
})

// mint signs claims with method and key, failing the test on error.
func mint(t testing.TB, method jwt.SigningMethod, key any, claims jwt.MapClaims) string {
	t.Helper()
	s, err := jwt.NewWithClaims(method, claims).SignedString(key)
	if err != nil {
		t.Fatalf("mint %s token: %v", method.Alg(), err)
	}
	return s
}

// pemOf encodes a public or private key as PEM (PKIX or PKCS #8).
func pemOf(t testing.TB, key any) []byte {
	t.Helper()
	var (
		der []byte
		typ string
		err error
	)
	switch key.(type) {
	case *rsa.PublicKey, *ecdsa.PublicKey, ed25519.PublicKey:
		der, err = x509.MarshalPKIXPublicKey(key)
		typ = "PUBLIC KEY"
	default:
		der, err = x509.MarshalPKCS8PrivateKey(key)
		typ = "PRIVATE KEY"
	}
	if err != nil {
		t.Fatalf("marshal key: %v", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der})
}

// hsKey returns the HS256 key of the shared test secret.
func hsKey(t testing.TB) Key {
	t.Helper()
	k, err := SecretKey(secret)
	if err != nil {
		t.Fatalf("SecretKey: %v", err)
	}
	return k
}

// pemKey returns the Key ParsePEM makes of key's PEM encoding.
func pemKey(t testing.TB, key any) Key {
	t.Helper()
	k, err := ParsePEM(pemOf(t, key))
	if err != nil {
		t.Fatalf("ParsePEM: %v", err)
	}
	return k
}

// verifier returns a Verifier for k on the fixed test clock.
func verifier(k Key) *Verifier {
	return &Verifier{Key: k, Now: func() time.Time { return now }}
}

// publishAll is a mercure claim that allows everything.
var publishAll = map[string]any{"publish": []string{"*"}}
