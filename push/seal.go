package push

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"strings"
)

// sealedPrefix marks a secret sealed with the node's key in a definition
// record: the log (which subscribers authorized for every topic can read)
// never holds a callback secret in the clear. Only the node that created a
// subscription, which delivers it, can open it.
const sealedPrefix = "sealed:"

// seal encrypts secret with key (AES-256-GCM); a nil key leaves it as is.
func seal(key []byte, secret string) (string, error) {
	if key == nil {
		return secret, nil
	}
	aead, err := gcm(key)
	if err != nil {
		return "", err
	}
	nonce := make([]byte, aead.NonceSize())
	rand.Read(nonce)
	return sealedPrefix + base64.RawURLEncoding.EncodeToString(aead.Seal(nonce, nonce, []byte(secret), nil)), nil
}

// open decrypts a secret seal made with key.
func open(key []byte, stored string) (string, error) {
	b64, ok := strings.CutPrefix(stored, sealedPrefix)
	if !ok {
		return stored, nil
	}
	if key == nil {
		return "", errors.New("sealed secret and no key")
	}
	aead, err := gcm(key)
	if err != nil {
		return "", err
	}
	b, err := base64.RawURLEncoding.DecodeString(b64)
	if err != nil || len(b) < aead.NonceSize() {
		return "", errors.New("malformed sealed secret")
	}
	plain, err := aead.Open(nil, b[:aead.NonceSize()], b[aead.NonceSize():], nil)
	return string(plain), err
}

func gcm(key []byte) (cipher.AEAD, error) {
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}
