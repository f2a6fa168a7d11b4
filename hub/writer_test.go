//go:build linux

package hub

import (
	"strings"
	"testing"

	"github.com/heraldhub/herald/eventlog"
	"github.com/heraldhub/herald/hub/detach"
)

// Where io_uring is available, a hub writes detached streams through it
// unless told otherwise: the stream tests ran with it.
func TestIOURingIsTheDefaultWriter(t *testing.T) {
	th := startHub(t, Config{})
	if th.h.engine == nil {
		t.Skip("no detached streams here")
	}
	if w, why := th.h.engine.Writer(); w != detach.WriterIOURing {
		if why == nil {
			t.Fatalf("the default hub writes with %s, and says no reason", w)
		}
		t.Skipf("io_uring is unavailable here: %v", why)
	}
}

// TestEpollStreams runs the detached stream tests again with one writev
// per stream and write (Config.Writer "epoll").
func TestEpollStreams(t *testing.T) {
	writer = detach.WriterEpoll
	defer func() { writer = "" }()
	for name, test := range streamTests() {
		t.Run(name, test)
	}
	// And those of detached streams, full sockets and replay.
	for name, test := range map[string]func(*testing.T){
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
