//go:build linux

package hub

import (
	"strings"
	"testing"

	"github.com/heraldhub/herald/eventlog"
	"github.com/heraldhub/herald/hub/detach"
)

// TestIOURingStreams runs the detached stream tests again with each
// flusher round's writes submitted through io_uring (Config.Writer).
func TestIOURingStreams(t *testing.T) {
	e, err := detach.New(detach.Config{Writer: detach.WriterIOURing})
	if err != nil {
		t.Skipf("no detached streams here: %v", err)
	}
	w, why := e.Writer()
	e.Close()
	if w != detach.WriterIOURing {
		t.Skipf("io_uring is unavailable here: %v", why)
	}
	writer = detach.WriterIOURing
	defer func() { writer = "" }()
	for name, test := range map[string]func(*testing.T){
		"fan-out":       TestEveryUpdateReachesEverySubscriberInOrder,
		"selectors":     TestUpdateMatchingSeveralSelectorsArrivesOnce,
		"resume":        TestResumeAfterIDHasNoGapWhilePublishing,
		"earliest":      TestEarliestReplaysAllRetained,
		"private":       TestPrivateUpdateReachesOnlyAuthorizedSubscribers,
		"slow":          TestSlowSubscriberIsDisconnectedAndLosesNothing,
		"heartbeat":     TestHeartbeatWhenIdle,
		"close":         TestCloseEndsStreamsWithRetryHint,
		"jitter":        TestCloseSpreadsTheRetryHints,
		"snapshots":     TestNewSubscriberReceivesSnapshotsFirst,
		"batch":         TestUpdatesWithinTheBatchWindowShareOneWrite,
		"after replay":  TestDetachedStreamWritesAtOnceLongAfterItsReplay,
		"stuck":         TestStuckSubscribersDoNotGetHealthyOnesDisconnected,
		"stuck close":   TestCloseDoesNotWaitForStuckSubscribers,
		"reused id":     TestResumeFromAReusedIDFollowsItsFirstOccurrence,
		"reset history": TestResumeFromACutHistoryStartsWithAReset,
	} {
		t.Run(name, test)
	}
}

// An unknown writer is refused with what to set instead.
func TestUnknownWriterIsRefused(t *testing.T) {
	log := eventlog.NewMemory(10)
	defer log.Close()
	_, err := New(Config{Log: log, Writer: "aio"})
	if err == nil || !strings.Contains(err.Error(), `"aio"`) || !strings.Contains(err.Error(), "io_uring") {
		t.Fatalf("New with writer aio returned %v, want an error naming it and the writers", err)
	}
}
