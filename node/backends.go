package node

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/heraldhub/herald/eventlog"
	"github.com/heraldhub/herald/eventlog/boltlog"
	"github.com/heraldhub/herald/eventlog/natslog"
	"github.com/heraldhub/herald/eventlog/redislog"
)

// openBolt opens the embedded log at path, creating its directory.
func openBolt(path string, cfg *Config) (eventlog.Log, error) {
	if path == "" {
		return nil, fmt.Errorf("bolt log needs a file path: bolt:PATH")
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, fmt.Errorf("create the directory of %s: %w", path, err)
	}
	return boltlog.Open(path, boltlog.Options{
		RetainCount: cfg.RetainCount,
		RetainAge:   cfg.RetainAge,
		NoSync:      cfg.NoSync,
		Logger:      cfg.Logger,
	})
}

// openRedis connects to the Redis stream named by spec.
func openRedis(ctx context.Context, spec string, cfg *Config) (eventlog.Log, error) {
	return redislog.Open(ctx, spec, redislog.Options{Retain: cfg.RetainCount, Logger: cfg.Logger})
}

// openNATS connects to the JetStream stream named by spec.
func openNATS(ctx context.Context, spec string, cfg *Config) (eventlog.Log, error) {
	return natslog.Open(ctx, spec, natslog.Options{Retain: cfg.RetainCount, RetainAge: cfg.RetainAge, Logger: cfg.Logger})
}
