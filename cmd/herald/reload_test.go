package main

import (
	"context"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// A SIGHUP makes a running node read its key files again: a rotated
// publisher secret is accepted without a restart, the old one no longer.
func TestServeReloadsKeysOnSIGHUP(t *testing.T) {
	dir := t.TempDir()
	p := startHerald(t, "--data-dir", dir, "--publisher-key=", "--log", "memory")
	keyFile := filepath.Join(dir, "publisher.key")
	old, err := os.ReadFile(keyFile)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	form := url.Values{"topic": {"a"}, "data": {"x"}}
	if _, err := publish(ctx, p.URL(), publisherToken(t, strings.TrimSpace(string(old))), form); err != nil {
		t.Fatalf("with the generated secret: %v", err)
	}
	const rotated = "a-rotated-publisher-secret-0123456789"
	if err := os.WriteFile(keyFile, []byte(rotated+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Kill(p.PID(), syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(healthTimeout)
	for !strings.Contains(p.Output(), "keys reloaded") {
		if time.Now().After(deadline) || !p.h.Running() {
			t.Fatalf("no reload logged after SIGHUP (running: %v)", p.h.Running())
		}
		time.Sleep(20 * time.Millisecond) // polls the process's log; no event to wait on
	}
	if _, err := publish(ctx, p.URL(), publisherToken(t, rotated), form); err != nil {
		t.Fatalf("with the rotated secret after SIGHUP: %v", err)
	}
	if _, err := publish(ctx, p.URL(), publisherToken(t, strings.TrimSpace(string(old))), form); err == nil || !strings.Contains(err.Error(), "401") {
		t.Fatalf("with the old secret after SIGHUP: %v, want 401", err)
	}
}
