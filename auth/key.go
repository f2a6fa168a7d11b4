package auth

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/golang-jwt/jwt/v5"
)

// Algorithm names a JWT signature algorithm ("alg" header).
type Algorithm string

// The algorithms a Key can be bound to.
const (
	// HS256 is HMAC with SHA-256 and a shared secret: the default.
	HS256 Algorithm = "HS256"
	// RS256 is RSASSA-PKCS1-v1_5 with SHA-256 and an RSA key of at least
	// 2048 bits.
	RS256 Algorithm = "RS256"
	// ES256 is ECDSA on the P-256 curve with SHA-256.
	ES256 Algorithm = "ES256"
)

// More algorithms a key from a JWK Set can be bound to (see JWKS); the
// static keys of the flags use the three above.
const (
	RS384 Algorithm = "RS384"
	RS512 Algorithm = "RS512"
	PS256 Algorithm = "PS256"
	PS384 Algorithm = "PS384"
	PS512 Algorithm = "PS512"
	ES384 Algorithm = "ES384"
	ES512 Algorithm = "ES512"
	EdDSA Algorithm = "EdDSA"
)

// minRSABits is the smallest RSA modulus accepted (RFC 7518, section 3.3).
const minRSABits = 2048

// ParseAlgorithm returns the Algorithm named s (case-insensitive), or an
// error naming the accepted ones. An empty s means HS256.
func ParseAlgorithm(s string) (Algorithm, error) {
	switch strings.ToUpper(strings.TrimSpace(s)) {
	case "", "HS256":
		return HS256, nil
	case "RS256":
		return RS256, nil
	case "ES256":
		return ES256, nil
	}
	return "", fmt.Errorf("unsupported JWT algorithm %q: use HS256, RS256 or ES256", s)
}

// method returns the jwt signing method for a.
func (a Algorithm) method() jwt.SigningMethod {
	switch a {
	case HS256:
		return jwt.SigningMethodHS256
	case RS256:
		return jwt.SigningMethodRS256
	case ES256:
		return jwt.SigningMethodES256
	case RS384:
		return jwt.SigningMethodRS384
	case RS512:
		return jwt.SigningMethodRS512
	case PS256:
		return jwt.SigningMethodPS256
	case PS384:
		return jwt.SigningMethodPS384
	case PS512:
		return jwt.SigningMethodPS512
	case ES384:
		return jwt.SigningMethodES384
	case ES512:
		return jwt.SigningMethodES512
	case EdDSA:
		return jwt.SigningMethodEdDSA
	}
	return nil
}

// Key verifies, and if it holds a secret or a private key also signs, tokens
// with exactly one algorithm. The zero Key verifies nothing: every token is
// refused with ErrInvalidToken. Keys are immutable and safe for concurrent
// use.
type Key struct {
	alg    Algorithm
	id     string
	verify any // []byte, *rsa.PublicKey, *ecdsa.PublicKey or ed25519.PublicKey
	sign   any // []byte, *rsa.PrivateKey, *ecdsa.PrivateKey, or nil
}

// Algorithm returns the only algorithm k accepts ("" for the zero Key).
func (k Key) Algorithm() Algorithm { return k.alg }

// ID returns k's key id ("kid"), "" if it has none.
func (k Key) ID() string { return k.id }

// WithID returns k with key id kid. A token whose header names a kid is
// verified only with keys of that id, or keys without one; a token signed
// with k names kid in its header.
func (k Key) WithID(kid string) Key {
	k.id = kid
	return k
}

// CanSign reports whether k holds what signing needs: a secret or a private
// key.
func (k Key) CanSign() bool { return k.sign != nil }

// SecretKey returns an HS256 key for secret, used as its UTF-8 bytes. It
// returns an error if secret is empty. Secrets of 32 bytes or more are
// recommended (GenerateSecret makes one).
func SecretKey(secret string) (Key, error) {
	if secret == "" {
		return Key{}, errors.New("empty HS256 secret")
	}
	b := []byte(secret)
	return Key{alg: HS256, verify: b, sign: b}, nil
}

// ParsePEM returns a key from PEM data, detecting its algorithm: RS256 for
// an RSA key, ES256 for an EC P-256 key. It accepts a public key ("PUBLIC
// KEY", "RSA PUBLIC KEY"), a certificate ("CERTIFICATE"), whose public key is
// used, or an unencrypted private key ("PRIVATE KEY", "RSA PRIVATE KEY", "EC
// PRIVATE KEY"), which also lets the Key sign. The first key block is used;
// "EC PARAMETERS" blocks are skipped.
func ParsePEM(data []byte) (Key, error) {
	rest := data
	for {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			return Key{}, errors.New("no PEM key found: expected a block such as -----BEGIN PUBLIC KEY----- or -----BEGIN PRIVATE KEY-----")
		}
		if block.Type == "EC PARAMETERS" {
			continue
		}
		if _, encrypted := block.Headers["Proc-Type"]; encrypted || block.Type == "ENCRYPTED PRIVATE KEY" {
			return Key{}, errors.New("the PEM private key is encrypted: decrypt it first (openssl pkey -in key.pem -out plain.pem)")
		}
		return parseBlock(block)
	}
}

// parseBlock turns one PEM block into a Key.
func parseBlock(block *pem.Block) (Key, error) {
	var (
		parsed any
		err    error
	)
	switch block.Type {
	case "PUBLIC KEY":
		parsed, err = x509.ParsePKIXPublicKey(block.Bytes)
	case "RSA PUBLIC KEY":
		parsed, err = x509.ParsePKCS1PublicKey(block.Bytes)
	case "CERTIFICATE":
		var cert *x509.Certificate
		if cert, err = x509.ParseCertificate(block.Bytes); err == nil {
			parsed = cert.PublicKey
		}
	case "PRIVATE KEY":
		parsed, err = x509.ParsePKCS8PrivateKey(block.Bytes)
	case "RSA PRIVATE KEY":
		parsed, err = x509.ParsePKCS1PrivateKey(block.Bytes)
	case "EC PRIVATE KEY":
		parsed, err = x509.ParseECPrivateKey(block.Bytes)
	default:
		return Key{}, fmt.Errorf("unsupported PEM block %q: expected a public key, a certificate or a private key", block.Type)
	}
	if err != nil {
		return Key{}, fmt.Errorf("parse PEM %s: %w", strings.ToLower(block.Type), err)
	}
	return keyFrom(parsed)
}

// keyFrom binds a parsed public or private key to its algorithm.
func keyFrom(parsed any) (Key, error) {
	switch k := parsed.(type) {
	case *rsa.PublicKey:
		if err := checkRSA(k); err != nil {
			return Key{}, err
		}
		return Key{alg: RS256, verify: k}, nil
	case *rsa.PrivateKey:
		if err := checkRSA(&k.PublicKey); err != nil {
			return Key{}, err
		}
		return Key{alg: RS256, verify: &k.PublicKey, sign: k}, nil
	case *ecdsa.PublicKey:
		if err := checkEC(k); err != nil {
			return Key{}, err
		}
		return Key{alg: ES256, verify: k}, nil
	case *ecdsa.PrivateKey:
		if err := checkEC(&k.PublicKey); err != nil {
			return Key{}, err
		}
		return Key{alg: ES256, verify: &k.PublicKey, sign: k}, nil
	case ed25519.PublicKey, ed25519.PrivateKey:
		return Key{}, errors.New("Ed25519 keys are not supported: use an RSA key (RS256) or an EC P-256 key (ES256)")
	}
	return Key{}, fmt.Errorf("unsupported key type %T: use an RSA key (RS256) or an EC P-256 key (ES256)", parsed)
}

func checkRSA(k *rsa.PublicKey) error {
	if bits := k.N.BitLen(); bits < minRSABits {
		return fmt.Errorf("RSA key is %d bits: RS256 needs at least %d", bits, minRSABits)
	}
	return nil
}

func checkEC(k *ecdsa.PublicKey) error {
	if k.Curve != elliptic.P256() {
		return fmt.Errorf("EC key is on curve %s: ES256 needs P-256 (openssl ecparam -name prime256v1 -genkey)", k.Curve.Params().Name)
	}
	return nil
}

// LoadPEMFile reads path and returns its key as ParsePEM does; errors name
// the file.
func LoadPEMFile(path string) (Key, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return Key{}, fmt.Errorf("read key file: %w", err)
	}
	k, err := ParsePEM(data)
	if err != nil {
		return Key{}, fmt.Errorf("key file %s: %w", path, err)
	}
	return k, nil
}

// LoadKey returns the key a configuration names: for HS256 (or an empty
// alg), value is the shared secret; for RS256 and ES256, value is the path of
// a PEM file, or the PEM text itself if it starts with "-----BEGIN". The key
// found in the PEM must be of the algorithm asked for.
func LoadKey(alg Algorithm, value string) (Key, error) {
	if alg == "" {
		alg = HS256
	}
	if alg.method() == nil {
		return Key{}, fmt.Errorf("unsupported JWT algorithm %q: use HS256, RS256 or ES256", alg)
	}
	if alg == HS256 {
		return SecretKey(value)
	}
	if value == "" {
		return Key{}, fmt.Errorf("no key: %s needs a PEM public key file", alg)
	}
	var (
		k   Key
		err error
	)
	if strings.HasPrefix(strings.TrimSpace(value), "-----BEGIN") {
		k, err = ParsePEM([]byte(value))
	} else {
		k, err = LoadPEMFile(value)
	}
	if err != nil {
		return Key{}, err
	}
	if k.alg != alg {
		return Key{}, fmt.Errorf("the PEM holds an %s key but %s was asked for", k.alg, alg)
	}
	return k, nil
}

// Sign returns a compact JWT for c, signed with k, in c.Format.
//
// A Legacy token carries the "mercure" claim (publish, subscribe and
// payload, each omitted when empty), "sub" if c.Subject is set and "exp" if
// c.Expiry is not zero.
//
// An AccessToken has the header typ "at+jwt" and the claims "iss"
// (c.Issuer), "aud" (audience), "exp" (c.Expiry), "iat", "jti", "sub" and
// "client_id" (c.Subject, if set) and "authorization_details" (c.Details);
// issuer, audience and expiry are required.
//
// It returns an error if k cannot sign (a public key or the zero Key) or if
// a payload is not valid JSON.
func (k Key) Sign(c Claims, audience ...string) (string, error) {
	if k.sign == nil {
		if k.alg == "" {
			return "", errors.New("no signing key")
		}
		return "", fmt.Errorf("signing with %s needs a private key, but this key is public only", k.alg)
	}
	var (
		claims jwt.MapClaims
		err    error
	)
	if c.Format == AccessToken {
		claims, err = accessClaims(c, audience)
	} else {
		claims, err = legacyClaims(c)
	}
	if err != nil {
		return "", err
	}
	t := jwt.NewWithClaims(k.alg.method(), claims)
	if c.Format == AccessToken {
		t.Header["typ"] = "at+jwt"
	}
	if k.id != "" {
		t.Header["kid"] = k.id
	}
	s, err := t.SignedString(k.sign)
	if err != nil {
		return "", fmt.Errorf("sign %s token: %w", k.alg, err)
	}
	return s, nil
}

// legacyClaims are the claims of a Mercure 0.x token for c.
func legacyClaims(c Claims) (jwt.MapClaims, error) {
	mercure := map[string]any{}
	if len(c.Publish) > 0 {
		mercure["publish"] = c.Publish
	}
	if len(c.Subscribe) > 0 {
		mercure["subscribe"] = c.Subscribe
	}
	if len(c.Payload) > 0 {
		if !json.Valid(c.Payload) {
			return nil, errors.New("payload is not valid JSON")
		}
		mercure["payload"] = c.Payload
	}
	claims := jwt.MapClaims{"mercure": mercure}
	if c.Subject != "" {
		claims["sub"] = c.Subject
	}
	if !c.Expiry.IsZero() {
		claims["exp"] = jwt.NewNumericDate(c.Expiry)
	}
	return claims, nil
}
