package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/heraldhub/herald/hub"
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
		{"unknown writer", []string{"--writer", "aio"}, `--writer must be epoll or io_uring, got "aio"`},
		{"certificate without key", []string{"--tls-cert", "cert.pem"}, "--tls-cert and --tls-key go together"},
		{"trusted proxy not a CIDR", []string{"--trusted-proxy", "proxy.example"}, `trusted proxy "proxy.example" is neither a CIDR prefix nor an address`},
		{"stray argument", []string{"now"}, `unexpected argument "now"`},
		{"zero shutdown timeout", []string{"--shutdown-timeout", "0s"}, "--shutdown-timeout must be positive"},
		{"zero shutdown retry", []string{"--shutdown-retry", "0s"}, "--shutdown-retry must be positive"},
		{"negative heartbeat", []string{"--heartbeat", "-1s"}, "--heartbeat must not be negative"},
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

// The settings zero turns off mean the same on the command line as in
// hub.Config: their flags default to the hub's Default* constants, and a
// 0 on the command line reaches the hub as the zero that turns them off.
func TestServeDefaultsAreTheHubsAndZeroMeansOffInBoth(t *testing.T) {
	clearHeraldEnv(t)
	settings := []struct {
		flag string
		def  time.Duration
	}{
		{"heartbeat", hub.DefaultHeartbeat},
		{"batch-window", hub.DefaultBatchWindow},
		{"shutdown-retry-jitter", hub.DefaultShutdownRetryJitter},
	}
	defaults := decodeConfig(t, printedConfig(t))
	zeros := decodeConfig(t, printedConfig(t, "--heartbeat", "0", "--batch-window", "0", "--shutdown-retry-jitter", "0"))
	for _, s := range settings {
		if got := defaults[s.flag]; got != s.def.String() {
			t.Errorf("--%s defaults to %v, want the hub's %v", s.flag, got, s.def)
		}
		if got := zeros[s.flag]; got != "0s" {
			t.Errorf("--%s 0 printed as %v, want 0s", s.flag, got)
		}
	}
}
