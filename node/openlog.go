package node

import (
	"context"
	"fmt"
	"strings"

	"github.com/heraldhub/herald/eventlog"
)

// openLog opens the log named by spec: "memory", "bolt:PATH",
// "redis://HOST:PORT/DB?stream=NAME" or "nats://HOST:PORT?stream=NAME".
func openLog(ctx context.Context, spec string, cfg *Config) (eventlog.Log, error) {
	if cfg.RetainAge != 0 && (spec == "memory" || strings.HasPrefix(spec, "redis://") || strings.HasPrefix(spec, "rediss://")) {
		kind, _, _ := strings.Cut(spec, ":")
		return nil, fmt.Errorf("the %s log keeps a count of updates, not an age: use --retain-count, or a bolt: or nats:// log for --retain-age", kind)
	}
	switch {
	case spec == "memory":
		return eventlog.NewMemory(cfg.RetainCount), nil
	case strings.HasPrefix(spec, "bolt:"):
		return openBolt(strings.TrimPrefix(spec, "bolt:"), cfg)
	case strings.HasPrefix(spec, "redis://"), strings.HasPrefix(spec, "rediss://"):
		return openRedis(ctx, spec, cfg)
	case strings.HasPrefix(spec, "nats://"):
		return openNATS(ctx, spec, cfg)
	default:
		return nil, fmt.Errorf("unknown log %q: use memory, bolt:PATH, redis://HOST:PORT/DB?stream=NAME or nats://HOST:PORT?stream=NAME", spec)
	}
}
