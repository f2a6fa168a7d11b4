package hub

import (
	"bufio"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/heraldhub/herald/eventlog"
)

// startH2Hub is startHub served over TLS with HTTP/2, where every stream
// is served by its request's goroutine.
func startH2Hub(t testing.TB, cfg Config) *testHub { return startTLSHub(t, cfg, true) }

// startTLSHub is startHub served over TLS, with HTTP/2 if h2.
func startTLSHub(t testing.TB, cfg Config, h2 bool) *testHub {
	t.Helper()
	th := startHub(t, cfg)
	ts := httptest.NewUnstartedServer(th.srv.Config.Handler)
	ts.EnableHTTP2 = h2
	ts.StartTLS()
	t.Cleanup(func() {
		ts.CloseClientConnections()
		th.h.Close()
		ts.Close()
	})
	tls := *th
	tls.srv = ts
	return &tls
}

// h2Stream opens a stream over HTTP/2 and returns its body, unread.
func (th *testHub) h2Stream(t testing.TB, query string) *http.Response {
	t.Helper()
	resp, err := th.srv.Client().Get(th.srv.URL + "/?" + query)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	if resp.ProtoMajor != 2 {
		t.Fatalf("stream served over %s, want HTTP/2", resp.Proto)
	}
	return resp
}

// A quiet HTTP/2 stream stays open past the write timeout and gets its
// heartbeats: no write deadline outlives the write it bounds (net/http
// resets an HTTP/2 stream when its deadline passes, written or not).
func TestH2StreamQuietPastTheWriteTimeoutGetsHeartbeats(t *testing.T) {
	th := startH2Hub(t, Config{Heartbeat: 300 * time.Millisecond, WriteTimeout: 100 * time.Millisecond})
	r := bufio.NewReader(th.h2Stream(t, "topic=t").Body)
	start := time.Now()
	for i := range 3 {
		readUntil(t, r, ":\n")
		if i == 0 && time.Since(start) < 250*time.Millisecond {
			t.Fatalf("first heartbeat after %v, want about 300ms", time.Since(start))
		}
	}
	th.publish(t, eventlog.Update{Topics: []string{"t"}, Data: "still here"})
	readUntil(t, r, "data: still here\n\n")
	select {
	case err := <-th.ended:
		t.Fatalf("stream ended with %v while its client read it", err)
	default:
	}
}

// An HTTP/2 stream ends when its subscription expires (the subscriber's
// token), within the sweeper's period, with ErrExpired for OnStreamEnd.
func TestH2StreamEndsWhenItsSubscriptionExpires(t *testing.T) {
	reasons := make(chan error, 1)
	th := startH2Hub(t, Config{OnStreamEnd: func(err error) { reasons <- err }})
	until := time.Now().Add(500 * time.Millisecond)
	resp := th.h2Stream(t, "topic=t&until="+strconv.FormatInt(until.UnixNano(), 10))
	read := make(chan struct{})
	go func() {
		io.Copy(io.Discard, resp.Body)
		close(read)
	}()
	select {
	case <-read:
	case <-time.After(wait):
		t.Fatal("stream still open long after its subscription expired")
	}
	if time.Now().Before(until) {
		t.Fatal("stream ended before its subscription expired")
	}
	if err := th.waitEnded(t); !errors.Is(err, ErrClientGone) {
		t.Fatalf("stream ended with %v, want ErrClientGone", err)
	}
	if err := <-reasons; !errors.Is(err, ErrExpired) {
		t.Fatalf("OnStreamEnd told %v, want ErrExpired", err)
	}
}

// An HTTP/1.1 stream over TLS, taken over from net/http but not detached,
// gets its heartbeats from the sweeper too.
func TestTLSHTTP1StreamGetsHeartbeats(t *testing.T) {
	th := startTLSHub(t, Config{Heartbeat: 50 * time.Millisecond}, false)
	resp, err := th.srv.Client().Get(th.srv.URL + "/?topic=t")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.ProtoMajor != 1 {
		t.Fatalf("stream served over %s, want HTTP/1.1", resp.Proto)
	}
	r := bufio.NewReader(resp.Body)
	readUntil(t, r, ":\n")
	readUntil(t, r, ":\n")
}

// A heartbeat is sent only to a stream that stayed silent: a stream
// written meanwhile gets its next heartbeat a full period after that
// write.
func TestH2HeartbeatWaitsForSilence(t *testing.T) {
	const hb = 400 * time.Millisecond
	th := startH2Hub(t, Config{Heartbeat: hb})
	r := bufio.NewReader(th.h2Stream(t, "topic=t").Body)
	readUntil(t, r, ":\n")
	th.publish(t, eventlog.Update{Topics: []string{"t"}, Data: "x"})
	readUntil(t, r, "data: x\n\n")
	wrote := time.Now()
	readUntil(t, r, ":\n")
	if d := time.Since(wrote); d < hb*3/4 {
		t.Fatalf("heartbeat %v after a write, want at least the %v period", d, hb)
	}
}

// An HTTP/2 client that stops reading is cut off once a write has waited
// for the write timeout, as slow, before its queue overflows.
func TestH2StalledClientIsCutOffAfterTheWriteTimeout(t *testing.T) {
	th := startH2Hub(t, Config{QueueLen: 1 << 20, QueueBytes: 1 << 30, WriteTimeout: 300 * time.Millisecond})
	th.h2Stream(t, "topic=t") // never read
	data := strings.Repeat("x", 64<<10)
	// The client's flow-control window (4 MiB for Go's) fills, and the
	// write waits for room that never comes.
	for i := range 160 {
		th.publish(t, eventlog.Update{Topics: []string{"t"}, Data: strconv.Itoa(i) + " " + data})
	}
	err := th.waitEnded(t)
	if !errors.Is(err, ErrSlowSubscriber) || !strings.Contains(err.Error(), "write deadline") {
		t.Fatalf("stalled stream ended with %v, want ErrSlowSubscriber for the write deadline", err)
	}
}

// Closing the hub ends its HTTP/2 streams at once with the reconnection
// hint, although they do not wait on the hub's closing channel.
func TestH2StreamsEndWithTheHintWhenTheHubCloses(t *testing.T) {
	th := startH2Hub(t, Config{ShutdownRetry: 1500 * time.Millisecond})
	var readers []*bufio.Reader
	for range 5 {
		readers = append(readers, bufio.NewReader(th.h2Stream(t, "topic=t").Body))
	}
	th.publish(t, eventlog.Update{Topics: []string{"t"}, Data: "x"})
	for _, r := range readers {
		readUntil(t, r, "data: x\n\n")
	}
	th.h.Close()
	for _, r := range readers {
		readUntil(t, r, "retry: 1500\n")
	}
	for range readers {
		if err := th.waitEnded(t); !errors.Is(err, ErrClosed) {
			t.Fatalf("stream ended with %v, want ErrClosed", err)
		}
	}
}

// BenchmarkH2IdleStream reports what an idle HTTP/2 stream holds, both
// ends in this process (the client's share does not change with the
// hub): heap and goroutine stack bytes per stream, after collections.
// With a timer per stream and a write deadline left set, the heap held
// about 530 bytes more per stream (12.2 KB here, against 11.6 KB with the
// sweeper and pooled write buffers).
func BenchmarkH2IdleStream(b *testing.B) {
	const n = 500
	th := startH2Hub(b, Config{Heartbeat: time.Hour})
	measure := func() (heap, stack uint64) {
		var ms runtime.MemStats
		for range 4 {
			runtime.GC()
		}
		runtime.ReadMemStats(&ms)
		return ms.HeapAlloc, ms.StackInuse
	}
	th.h2Stream(b, "topic=t") // the connection and its goroutines
	heap0, stack0 := measure()
	for range n - 1 {
		th.h2Stream(b, "topic=t")
	}
	heap1, stack1 := measure()
	for b.Loop() {
		// What is measured is held, not done: nothing to repeat.
	}
	b.ReportMetric(float64(heap1-heap0)/(n-1), "heap-B/stream")
	b.ReportMetric(float64(stack1-stack0)/(n-1), "stack-B/stream")
}
