package redislog

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/heraldhub/herald/eventlog"
	"github.com/heraldhub/herald/eventlog/logtest"
	"github.com/redis/go-redis/v9"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// redisAddr is the Redis the tests use (scripts/test.sh starts it).
const redisAddr = "127.0.0.1:6379"

// open opens a log on a fresh stream at addr, deleted after the test.
func open(t *testing.T, addr, stream string, retain int) *Log {
	t.Helper()
	l, err := Open(context.Background(), "redis://"+addr+"/0?stream="+stream, Options{Retain: retain})
	if err != nil {
		t.Fatalf("open the Redis log (is Redis running on %s? scripts/test.sh starts it): %v", addr, err)
	}
	t.Cleanup(func() {
		l.Close()
		removeStream(t, stream)
	})
	return l
}

// removeStream deletes a test's stream and its index with a client of its
// own: the log may be closed already (the conformance suite closes its
// logs before the factory's cleanups run) or reached through a proxy that
// is gone.
func removeStream(t *testing.T, stream string) {
	t.Helper()
	rdb := redis.NewClient(&redis.Options{Addr: redisAddr})
	defer rdb.Close()
	if err := rdb.Del(context.Background(), stream, stream+":ids").Err(); err != nil {
		t.Errorf("remove the test stream %s: %v", stream, err)
	}
}

func TestConformance(t *testing.T) {
	logtest.Run(t, func(t *testing.T, retain int) eventlog.Log {
		return open(t, redisAddr, logtest.UniqueName(t), retain)
	})
}

func TestNodesShareOneStream(t *testing.T) {
	logtest.RunShared(t, redisAddr, func(t *testing.T, addr, name string) eventlog.Log {
		return open(t, addr, name, 0)
	})
}

// benchLog opens a log on a fresh stream for a benchmark.
func benchLog(name string) func(b *testing.B) eventlog.Log {
	return func(b *testing.B) eventlog.Log {
		l, err := Open(context.Background(), "redis://"+redisAddr+"/0?stream="+name, Options{})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() {
			l.DeleteStream(context.Background())
			l.Close()
		})
		return l
	}
}

func BenchmarkAppend(b *testing.B) {
	for _, par := range []int{1, 64} {
		b.Run(fmt.Sprintf("publishers=%d", par), func(b *testing.B) {
			logtest.BenchmarkAppend(b, benchLog(fmt.Sprintf("herald-bench-append-%d-%d", par, time.Now().UnixNano())), par)
		})
	}
}

func BenchmarkFollowLatency(b *testing.B) {
	logtest.BenchmarkFollowLatency(b, benchLog(fmt.Sprintf("herald-bench-follow-%d", time.Now().UnixNano())))
}

// BenchmarkSinceResume measures a subscriber's resumption (see logtest).
func BenchmarkSinceResume(b *testing.B) {
	logtest.BenchmarkSinceResume(b, benchLog(fmt.Sprintf("herald-bench-since-%d", time.Now().UnixNano())))
}
