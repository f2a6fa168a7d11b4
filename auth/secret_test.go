package auth

import (
	"encoding/base64"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
)

func TestGenerateSecretIsRandomAndShellSafe(t *testing.T) {
	a, err := GenerateSecret()
	if err != nil {
		t.Fatal(err)
	}
	b, err := GenerateSecret()
	if err != nil {
		t.Fatal(err)
	}
	if a == b {
		t.Fatal("two generated secrets are equal")
	}
	raw, err := base64.RawURLEncoding.DecodeString(a)
	if err != nil || len(raw) != 32 {
		t.Fatalf("secret %q is not 32 base64url-encoded bytes (%d, %v)", a, len(raw), err)
	}
}

func TestLoadOrCreateSecretCreatesOnceThenLoads(t *testing.T) {
	path := filepath.Join(t.TempDir(), "data", "publisher.key")
	first, created, err := LoadOrCreateSecret(path)
	if err != nil || !created || first == "" {
		t.Fatalf("first call = %q, created %v, %v; want a new secret", first, created, err)
	}
	if runtime.GOOS != "windows" {
		info, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if perm := info.Mode().Perm(); perm != 0o600 {
			t.Errorf("secret file mode = %04o, want 0600", perm)
		}
		dir, err := os.Stat(filepath.Dir(path))
		if err != nil {
			t.Fatal(err)
		}
		if perm := dir.Mode().Perm(); perm != 0o700 {
			t.Errorf("created directory mode = %04o, want 0700", perm)
		}
	}
	again, created, err := LoadOrCreateSecret(path)
	if err != nil || created || again != first {
		t.Fatalf("second call = %q, created %v, %v; want %q loaded", again, created, err, first)
	}
	if entries, _ := os.ReadDir(filepath.Dir(path)); len(entries) != 1 {
		t.Errorf("data directory holds %d entries, want only the secret (no temporary file left)", len(entries))
	}
}

func TestLoadOrCreateSecretAgreesUnderConcurrentStarts(t *testing.T) {
	path := filepath.Join(t.TempDir(), "publisher.key")
	const n = 8
	secrets := make([]string, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			s, _, err := LoadOrCreateSecret(path)
			if err != nil {
				t.Error(err)
			}
			secrets[i] = s
		})
	}
	wg.Wait()
	for _, s := range secrets[1:] {
		if s != secrets[0] {
			t.Fatalf("concurrent starts got different secrets: %q", secrets)
		}
	}
}

func TestLoadOrCreateSecretKeepsAWrittenSecret(t *testing.T) {
	path := filepath.Join(t.TempDir(), "publisher.key")
	if err := os.WriteFile(path, []byte("  my-own-secret\n\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	s, created, err := LoadOrCreateSecret(path)
	if err != nil || created || s != "my-own-secret" {
		t.Fatalf("LoadOrCreateSecret = %q, %v, %v; want the file's secret, trimmed", s, created, err)
	}
}

func TestLoadOrCreateSecretRefusesUnsafeOrEmptyFiles(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string, mode os.FileMode) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, mode); err != nil {
			t.Fatal(err)
		}
		return p
	}
	tests := []struct {
		name, path, wantErr string
	}{
		{"empty", write("empty", " \n", 0o600), "is empty: delete it"},
		{"too large", write("large", strings.Repeat("x", 5000), 0o600), "larger than 4096 bytes"},
		{"a directory", dir, "not a regular file"},
	}
	if runtime.GOOS != "windows" {
		tests = append(tests, struct{ name, path, wantErr string }{"readable by others", write("open", "s", 0o644), "chmod 600"})
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, _, err := LoadOrCreateSecret(tt.path); err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("LoadOrCreateSecret error = %v, want one containing %q", err, tt.wantErr)
			}
		})
	}
}
