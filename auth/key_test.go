package auth

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestParsePEMDetectsTheAlgorithm(t *testing.T) {
	k := keys()
	der := func(b []byte, err error) []byte {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	block := func(typ string, b []byte) []byte { return pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: b}) }
	ecSEC1 := block("EC PRIVATE KEY", der(x509.MarshalECPrivateKey(k.ec)))
	certDER := selfSigned(t, k.rsa)

	tests := []struct {
		name    string
		pem     []byte
		alg     Algorithm
		canSign bool
	}{
		{"RSA public key (PKIX)", pemOf(t, &k.rsa.PublicKey), RS256, false},
		{"RSA public key (PKCS #1)", block("RSA PUBLIC KEY", x509.MarshalPKCS1PublicKey(&k.rsa.PublicKey)), RS256, false},
		{"RSA private key (PKCS #8)", pemOf(t, k.rsa), RS256, true},
		{"RSA private key (PKCS #1)", block("RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(k.rsa)), RS256, true},
		{"RSA certificate", block("CERTIFICATE", certDER), RS256, false},
		{"EC public key", pemOf(t, &k.ec.PublicKey), ES256, false},
		{"EC private key (PKCS #8)", pemOf(t, k.ec), ES256, true},
		{"EC private key (SEC 1)", ecSEC1, ES256, true},
		{"EC private key after EC PARAMETERS, as openssl ecparam writes it", append(block("EC PARAMETERS", []byte{6, 8, 42, 134, 72, 206, 61, 3, 1, 7}), ecSEC1...), ES256, true},
		{"text around the block", append(append([]byte("key for the hub\n"), pemOf(t, &k.ec.PublicKey)...), "trailer\n"...), ES256, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParsePEM(tt.pem)
			if err != nil {
				t.Fatalf("ParsePEM: %v", err)
			}
			if got.Algorithm() != tt.alg || got.CanSign() != tt.canSign {
				t.Fatalf("ParsePEM = %s (can sign: %v), want %s (can sign: %v)", got.Algorithm(), got.CanSign(), tt.alg, tt.canSign)
			}
		})
	}
}

// selfSigned returns the DER of a certificate for key's public key.
func selfSigned(t *testing.T, key *rsa.PrivateKey) []byte {
	t.Helper()
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "hub"},
		NotBefore: time.Now(), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return der
}

func TestParsePEMRefusesWhatItCannotUse(t *testing.T) {
	k := keys()
	small, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	edPub, _, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, pem, wantErr string
	}{
		{"not PEM", "a-shared-secret", "no PEM key found"},
		{"empty", "", "no PEM key found"},
		{"RSA under 2048 bits", string(pemOf(t, &small.PublicKey)), "RSA key is 1024 bits: RS256 needs at least 2048"},
		{"EC on P-384", string(pemOf(t, &k.ecP384.PublicKey)), "EC key is on curve P-384: ES256 needs P-256"},
		{"Ed25519", string(pemOf(t, edPub)), "Ed25519 keys are not supported"},
		{"encrypted PKCS #8", "-----BEGIN ENCRYPTED PRIVATE KEY-----\nAAAA\n-----END ENCRYPTED PRIVATE KEY-----\n", "encrypted"},
		{"legacy encrypted", "-----BEGIN RSA PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\nDEK-Info: AES-128-CBC,00\n\nAAAA\n-----END RSA PRIVATE KEY-----\n", "encrypted"},
		{"unknown block", "-----BEGIN OPENSSH PRIVATE KEY-----\nAAAA\n-----END OPENSSH PRIVATE KEY-----\n", `unsupported PEM block "OPENSSH PRIVATE KEY"`},
		{"corrupt key bytes", "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n", "parse PEM public key"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParsePEM([]byte(tt.pem))
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("ParsePEM error = %v, want one containing %q", err, tt.wantErr)
			}
		})
	}
}

func TestLoadKeyReadsSecretsAndPEMFiles(t *testing.T) {
	k := keys()
	dir := t.TempDir()
	rsaFile := filepath.Join(dir, "rsa.pem")
	if err := os.WriteFile(rsaFile, pemOf(t, &k.rsa.PublicKey), 0o600); err != nil {
		t.Fatal(err)
	}
	ecPEM := string(pemOf(t, &k.ec.PublicKey))

	tests := []struct {
		name, value string
		alg         Algorithm
		want        Algorithm
		wantErr     string
	}{
		{"secret by default", secret, "", HS256, ""},
		{"secret", secret, HS256, HS256, ""},
		{"RSA PEM file", rsaFile, RS256, RS256, ""},
		{"inline EC PEM", ecPEM, ES256, ES256, ""},
		{"empty secret", "", HS256, "", "empty HS256 secret"},
		{"no PEM file", "", RS256, "", "RS256 needs a PEM public key file"},
		{"missing file", filepath.Join(dir, "nope.pem"), RS256, "", "nope.pem"},
		{"RSA file for ES256", rsaFile, ES256, "", "the PEM holds an RS256 key but ES256 was asked for"},
		{"unknown algorithm", secret, "HS512", "", `unsupported JWT algorithm "HS512"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := LoadKey(tt.alg, tt.value)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("LoadKey error = %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || got.Algorithm() != tt.want {
				t.Fatalf("LoadKey = %s, %v; want %s", got.Algorithm(), err, tt.want)
			}
		})
	}
}

func TestLoadPEMFileNamesTheFileInErrors(t *testing.T) {
	path := filepath.Join(t.TempDir(), "key.pem")
	if err := os.WriteFile(path, []byte("not a key"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadPEMFile(path); err == nil || !strings.Contains(err.Error(), path) {
		t.Fatalf("LoadPEMFile error = %v, want one naming %s", err, path)
	}
	if _, err := LoadPEMFile(path + ".missing"); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("LoadPEMFile of a missing file: %v, want os.ErrNotExist", err)
	}
}

func TestParseAlgorithm(t *testing.T) {
	for in, want := range map[string]Algorithm{"": HS256, "hs256": HS256, "RS256": RS256, " es256 ": ES256} {
		if got, err := ParseAlgorithm(in); err != nil || got != want {
			t.Errorf("ParseAlgorithm(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, in := range []string{"none", "HS384", "PS256", "EdDSA"} {
		if _, err := ParseAlgorithm(in); err == nil {
			t.Errorf("ParseAlgorithm(%q) accepted it", in)
		}
	}
}

func TestSignedTokensVerifyWithTheMatchingKeyOnly(t *testing.T) {
	k := keys()
	exp := now.Add(time.Hour)
	claims := Claims{Publish: []string{"a"}, Subscribe: []string{"b", "c/{id}"},
		Payload: []byte(`{"n":1}`), Subject: "svc", Expiry: exp}
	tests := []struct {
		name         string
		signer       Key
		verifier     Key
		otherKey     Key
		otherAlgsKey Key
	}{
		{"HS256", hsKey(t), hsKey(t), mustSecret(t, "another-secret-of-at-least-32-bytes"), pemKey(t, &k.rsa.PublicKey)},
		{"RS256", pemKey(t, k.rsa), pemKey(t, &k.rsa.PublicKey), pemKey(t, &k.rsaOther.PublicKey), pemKey(t, &k.ec.PublicKey)},
		{"ES256", pemKey(t, k.ec), pemKey(t, &k.ec.PublicKey), pemKey(t, &k.ecOther.PublicKey), hsKey(t)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			token, err := tt.signer.Sign(claims)
			if err != nil {
				t.Fatalf("Sign: %v", err)
			}
			got, err := verifier(tt.verifier).VerifyToken(token)
			if err != nil {
				t.Fatalf("VerifyToken: %v", err)
			}
			if !reflect.DeepEqual(*got, claims) {
				t.Fatalf("round trip = %+v, want %+v", *got, claims)
			}
			if _, err := verifier(tt.otherKey).VerifyToken(token); !errors.Is(err, ErrInvalidToken) {
				t.Errorf("another key of the same algorithm accepted the token: %v", err)
			}
			if _, err := verifier(tt.otherAlgsKey).VerifyToken(token); !errors.Is(err, ErrInvalidToken) {
				t.Errorf("a key of another algorithm accepted the token: %v", err)
			}
		})
	}
}

func mustSecret(t *testing.T, s string) Key {
	t.Helper()
	k, err := SecretKey(s)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestSignRefusesWhatItCannotSign(t *testing.T) {
	k := keys()
	if _, err := pemKey(t, &k.rsa.PublicKey).Sign(Claims{}); err == nil || !strings.Contains(err.Error(), "needs a private key") {
		t.Errorf("Sign with a public key: %v, want an error asking for a private key", err)
	}
	if _, err := (Key{}).Sign(Claims{}); err == nil {
		t.Error("Sign with the zero Key succeeded")
	}
	if _, err := hsKey(t).Sign(Claims{Payload: []byte("{nope")}); err == nil || !strings.Contains(err.Error(), "payload is not valid JSON") {
		t.Errorf("Sign with an invalid payload: %v", err)
	}
}

func TestSignOmitsExpiryWhenZero(t *testing.T) {
	token, err := hsKey(t).Sign(Claims{Publish: []string{"*"}})
	if err != nil {
		t.Fatal(err)
	}
	v := verifier(hsKey(t))
	v.Now = func() time.Time { return time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC) }
	c, err := v.VerifyToken(token)
	if err != nil || !c.Expiry.IsZero() {
		t.Fatalf("VerifyToken = %+v, %v; want a token that never expires", c, err)
	}
}
