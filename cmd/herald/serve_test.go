package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

// Bad serve flags end with one line that says what to change, before
// anything is opened or listened on.
func TestServeRefusesBadFlagsWithOneLine(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		wantErr string
	}{
		{"negative batch window", []string{"--batch-window", "-5ms"}, "--batch-window must not be negative"},
		{"certificate without key", []string{"--tls-cert", "cert.pem"}, "--tls-cert and --tls-key go together"},
		{"trusted proxy not a CIDR", []string{"--trusted-proxy", "proxy.example"}, `trusted proxy "proxy.example" is neither a CIDR prefix nor an address`},
		{"stray argument", []string{"now"}, `unexpected argument "now"`},
		{"zero shutdown timeout", []string{"--shutdown-timeout", "0s"}, "--shutdown-timeout must be positive"},
		{"zero shutdown retry", []string{"--shutdown-retry", "0s"}, "--shutdown-retry must be positive"},
		{"negative shutdown retry jitter", []string{"--shutdown-retry-jitter", "-1s"}, "--shutdown-retry-jitter must not be negative"},
		{"retain age on a count-only log", []string{"--log", "memory", "--retain-age", "1h"}, "keeps a count of updates, not an age"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			var stdout, stderr bytes.Buffer
			args := append([]string{"serve", "--addr", "127.0.0.1:0", "--data-dir", dir}, tt.args...)
			code := run(context.Background(), args, &stdout, &stderr)
			errOut := stderr.String()
			if code != 1 || !strings.HasPrefix(errOut, "herald serve: ") || !strings.Contains(errOut, tt.wantErr) || strings.Count(errOut, "\n") != 1 {
				t.Fatalf("exit %d, stderr %q; want exit 1 and one line containing %q", code, errOut, tt.wantErr)
			}
		})
	}
}
