package auth

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
)

// secretBytes is the entropy of a generated secret: as long as HS256's hash.
const secretBytes = 32

// maxSecretFileBytes bounds what LoadOrCreateSecret reads.
const maxSecretFileBytes = 4096

// GenerateSecret returns a new random HS256 secret: 32 bytes from
// crypto/rand, base64url-encoded without padding (43 characters that need no
// quoting in a shell).
func GenerateSecret() (string, error) {
	b := make([]byte, secretBytes)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("generate secret: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

// LoadOrCreateSecret returns the secret kept in the file at path, trimmed of
// surrounding white space. If the file does not exist it generates one
// (GenerateSecret), writes it there with mode 0600, creating the directory
// with mode 0700 if needed, and reports created. Creation is atomic: two
// processes starting at once end up with the same secret. It refuses (on
// systems with Unix permissions) a file that other users may read or write,
// and an empty file.
func LoadOrCreateSecret(path string) (secret string, created bool, err error) {
	secret, err = readSecret(path)
	if !errors.Is(err, fs.ErrNotExist) {
		return secret, false, err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return "", false, fmt.Errorf("create directory for the secret: %w", err)
	}
	secret, err = GenerateSecret()
	if err != nil {
		return "", false, err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".secret-*")
	if err != nil {
		return "", false, fmt.Errorf("write secret: %w", err)
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(0o600); err != nil && runtime.GOOS != "windows" {
		tmp.Close()
		return "", false, fmt.Errorf("write secret: %w", err)
	}
	_, werr := tmp.WriteString(secret + "\n")
	if err := errors.Join(werr, tmp.Sync(), tmp.Close()); err != nil {
		return "", false, fmt.Errorf("write secret: %w", err)
	}
	// Link never replaces an existing file: if another process created
	// the secret meanwhile, use that one.
	if err := os.Link(tmp.Name(), path); err != nil {
		if errors.Is(err, fs.ErrExist) {
			secret, err = readSecret(path)
			return secret, false, err
		}
		return "", false, fmt.Errorf("write secret: %w", err)
	}
	return secret, true, nil
}

// readSecret reads and checks an existing secret file.
func readSecret(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return "", fmt.Errorf("secret file: %w", err)
	}
	if !info.Mode().IsRegular() {
		return "", fmt.Errorf("secret file %s is not a regular file", path)
	}
	if perm := info.Mode().Perm(); perm&0o077 != 0 && runtime.GOOS != "windows" {
		return "", fmt.Errorf("secret file %s is accessible to other users (mode %04o): run chmod 600 %s", path, perm, path)
	}
	b, err := io.ReadAll(io.LimitReader(f, maxSecretFileBytes+1))
	if err != nil {
		return "", fmt.Errorf("read secret file: %w", err)
	}
	if len(b) > maxSecretFileBytes {
		return "", fmt.Errorf("secret file %s is larger than %d bytes: is it the right file?", path, maxSecretFileBytes)
	}
	secret := strings.TrimSpace(string(b))
	if secret == "" {
		return "", fmt.Errorf("secret file %s is empty: delete it to generate a new secret, or write one into it", path)
	}
	return secret, nil
}
