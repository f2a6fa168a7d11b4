package hub

import (
	"bufio"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/heraldhub/herald/eventlog"
	"github.com/heraldhub/herald/sse"
)

func TestEveryUpdateReachesEverySubscriberInOrder(t *testing.T) {
	th := startHub(t, Config{})
	const subs, updates = 100, 300
	var on []*testSub
	for range subs {
		on = append(on, th.subscribe(t, "", "topic=news"))
	}
	other := th.subscribe(t, "", "topic=sports")
	for i := range updates {
		th.publish(t, eventlog.Update{Topics: []string{"news"}, Data: strconv.Itoa(i)})
	}
	th.publish(t, eventlog.Update{Topics: []string{"sports"}, Data: "marker"})
	var wg sync.WaitGroup
	errs := make(chan error, subs)
	for _, s := range on {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range updates {
				select {
				case ev := <-s.events:
					if ev.Data != strconv.Itoa(i) {
						errs <- fmt.Errorf("got %q, want %d", ev.Data, i)
						return
					}
				case <-time.After(wait):
					errs <- fmt.Errorf("update %d did not arrive", i)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if got := other.next(t).Data; got != "marker" {
		t.Fatalf("subscriber of another topic got %q, want only its own update", got)
	}
}

func TestUpdateMatchingSeveralSelectorsArrivesOnce(t *testing.T) {
	th := startHub(t, Config{})
	s := th.subscribe(t, "", "topic=books/1&topic=*&topic=books/{id}&topic=authors/{id}")
	th.publish(t, eventlog.Update{Topics: []string{"books/1", "authors/7"}, Data: "both"})
	th.publish(t, eventlog.Update{Topics: []string{"elsewhere"}, Data: "next"})
	if got := s.next(t).Data; got != "both" {
		t.Fatalf("got %q, want %q", got, "both")
	}
	if got := s.next(t).Data; got != "next" {
		t.Fatalf("got %q after the first update, want %q: it arrived twice", got, "next")
	}
}

func TestSelectorMatching(t *testing.T) {
	tests := []struct {
		selector, topic string
		match           bool
	}{
		{"https://example.com/books/1", "https://example.com/books/1", true},
		{"https://example.com/books/1", "https://example.com/books/12", false},
		{"*", "anything at all", true},
		{"https://example.com/books/{id}", "https://example.com/books/42", true},
		{"https://example.com/books/{id}", "https://example.com/books/42/reviews", false},
		{"https://example.com/books/{id}", "https://example.com/authors/42", false},
		{"https://example.com/{+path}", "https://example.com/a/b/c", true},
		{"jobs/{id}", "jobs/abc", true},
		{"jobs/{id}", "xjobs/abc", false},
	}
	for _, tt := range tests {
		sel, err := ParseSelector(tt.selector)
		if err != nil {
			t.Fatalf("%q: %v", tt.selector, err)
		}
		if got := sel.Match(tt.topic); got != tt.match {
			t.Errorf("%q matching %q = %v, want %v", tt.selector, tt.topic, got, tt.match)
		}
	}
	for _, bad := range []string{"", "books/{id", "books/{i d}"} {
		if _, err := ParseSelector(bad); err == nil {
			t.Errorf("ParseSelector(%q) succeeded, want an error", bad)
		}
	}
}

func TestResumeAfterIDHasNoGapWhilePublishing(t *testing.T) {
	th := startHub(t, Config{})
	const total, cut = 600, 150
	first := th.subscribe(t, "", "topic=t")
	published := make(chan error, 1)
	go func() {
		for i := range total {
			if _, err := th.h.Publish(t.Context(), eventlog.Update{Topics: []string{"t"}, Data: strconv.Itoa(i)}); err != nil {
				published <- err
				return
			}
		}
		published <- nil
	}()
	var lastID string
	for i := range cut {
		ev := first.next(t)
		if ev.Data != strconv.Itoa(i) {
			t.Fatalf("got %q, want %d", ev.Data, i)
		}
		lastID = ev.ID
	}
	first.close() // disconnect while publishing goes on
	again := th.subscribe(t, lastID, "topic=t")
	for i := cut; i < total; i++ {
		if got := again.next(t).Data; got != strconv.Itoa(i) {
			t.Fatalf("after resuming: got %q, want %d", got, i)
		}
	}
	if err := <-published; err != nil {
		t.Fatal(err)
	}
	th.publish(t, eventlog.Update{Topics: []string{"t"}, Data: "end"})
	if got := again.next(t).Data; got != "end" {
		t.Fatalf("got %q, want end: a duplicate arrived", got)
	}
}

func TestEarliestReplaysAllRetained(t *testing.T) {
	th := startHub(t, Config{})
	for i := range 5 {
		th.publish(t, eventlog.Update{Topics: []string{"t"}, Data: strconv.Itoa(i)})
	}
	th.publish(t, eventlog.Update{Topics: []string{"other"}, Data: "not mine"})
	s := th.subscribe(t, eventlog.Earliest, "topic=t")
	if got := s.resp.Header.Get("Last-Event-ID"); got != eventlog.Earliest {
		t.Errorf("Last-Event-ID header %q, want earliest", got)
	}
	for i := range 5 {
		if got := s.next(t).Data; got != strconv.Itoa(i) {
			t.Fatalf("got %q, want %d", got, i)
		}
	}
	th.publish(t, eventlog.Update{Topics: []string{"t"}, Data: "live"})
	if got := s.next(t).Data; got != "live" {
		t.Fatalf("got %q, want live", got)
	}
}

func TestUnknownIDReplaysAllRetainedAndSaysEarliest(t *testing.T) {
	th := startHub(t, Config{})
	th.publish(t, eventlog.Update{Topics: []string{"t"}, Data: "kept"})
	s := th.subscribe(t, "urn:uuid:never-published", "topic=t")
	if got := s.resp.Header.Get("Last-Event-ID"); got != eventlog.Earliest {
		t.Errorf("Last-Event-ID header %q, want earliest for an unknown id", got)
	}
	if got := s.next(t).Type; got != ResetType {
		t.Fatalf("first event of type %q, want %s before the replay", got, ResetType)
	}
	if got := s.next(t).Data; got != "kept" {
		t.Fatalf("got %q, want the retained update", got)
	}
	u := th.publish(t, eventlog.Update{Topics: []string{"t"}, Data: "second"})
	resumed := th.subscribe(t, u.ID, "topic=t")
	if got := resumed.resp.Header.Get("Last-Event-ID"); got != u.ID {
		t.Errorf("Last-Event-ID header %q, want the requested %q", got, u.ID)
	}
}

func TestPrivateUpdateReachesOnlyAuthorizedSubscribers(t *testing.T) {
	th := startHub(t, Config{})
	anon := th.subscribe(t, "", "topic=orders/{id}")
	authorized := th.subscribe(t, "", "topic=orders/{id}&allow=orders/{id}")
	wrong := th.subscribe(t, "", "topic=orders/{id}&allow=orders/2")
	th.publish(t, eventlog.Update{Topics: []string{"orders/1"}, Data: "secret", Private: true})
	th.publish(t, eventlog.Update{Topics: []string{"orders/1"}, Data: "public"})
	for name, s := range map[string]*testSub{"anonymous": anon, "unauthorized": wrong} {
		if got := s.next(t).Data; got != "public" {
			t.Errorf("%s subscriber got %q, want the public update only", name, got)
		}
	}
	if got := authorized.next(t).Data; got != "secret" {
		t.Errorf("authorized subscriber got %q, want the private update", got)
	}
	// Replays filter private updates the same way.
	replay := th.subscribe(t, eventlog.Earliest, "topic=orders/1")
	if got := replay.next(t).Data; got != "public" {
		t.Errorf("anonymous replay got %q, want the public update only", got)
	}
}

func TestSlowSubscriberIsDisconnectedAndLosesNothing(t *testing.T) {
	th := startHub(t, Config{QueueLen: 8, QueueBytes: 256 << 10, WriteTimeout: time.Second})
	const total = 400
	data := strings.Repeat("x", 64<<10) // large updates fill socket buffers fast
	fast := th.subscribe(t, "", "topic=t")
	// The slow subscriber reads nothing until it has been disconnected.
	resp, err := th.srv.Client().Get(th.srv.URL + "/?topic=t")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	// The publisher and the fast reader go on in lockstep: neither waits
	// for the slow one.
	for i := range total {
		th.publish(t, eventlog.Update{Topics: []string{"t"}, Data: strconv.Itoa(i) + " " + data})
		if got := fast.next(t).Data; !strings.HasPrefix(got, strconv.Itoa(i)+" ") {
			t.Fatalf("fast subscriber got update %.8q, want %d", got, i)
		}
	}
	if err := th.waitEnded(t); !errors.Is(err, ErrSlowSubscriber) {
		t.Fatalf("slow subscriber's stream ended with %v, want ErrSlowSubscriber", err)
	}
	// It then reads what reached it, reconnects with its last id and ends
	// up with every update, once, in order.
	next := 0
	dec := sse.NewDecoder(resp.Body)
	for {
		ev, err := dec.Next()
		if err != nil {
			break
		}
		if !strings.HasPrefix(ev.Data, strconv.Itoa(next)+" ") {
			t.Fatalf("slow subscriber got %.8q, want %d", ev.Data, next)
		}
		next++
	}
	if next == total {
		t.Fatal("slow subscriber received everything before being disconnected; the test did not exercise overflow")
	}
	// As a browser does, it reconnects again with its last id should the
	// catch-up itself be cut (a loaded machine can make this reader miss
	// the 1 s write deadline during a 25 MB replay).
	lastID := dec.LastEventID()
	for reconnects := 1; next < total; reconnects++ {
		if reconnects > 5 {
			t.Fatalf("still at update %d of %d after 5 reconnections", next, total)
		}
		again := th.subscribe(t, lastID, "topic=t")
	catchUp:
		for next < total {
			select {
			case ev, ok := <-again.events:
				if !ok {
					break catchUp
				}
				if !strings.HasPrefix(ev.Data, strconv.Itoa(next)+" ") {
					t.Fatalf("after reconnecting got %.8q, want %d", ev.Data, next)
				}
				lastID = ev.ID
				next++
			case <-time.After(wait):
				t.Fatalf("no update %d in time after reconnecting", next)
			}
		}
		again.close()
	}
}

func TestHeartbeatWhenIdle(t *testing.T) {
	th := startHub(t, Config{Heartbeat: 20 * time.Millisecond})
	r := th.rawStream(t, "topic=t")
	readUntil(t, r, ":\n")
}

func TestCloseEndsStreamsWithRetryHint(t *testing.T) {
	th := startHub(t, Config{ShutdownRetry: 1500 * time.Millisecond})
	r := th.rawStream(t, "topic=t")
	th.publish(t, eventlog.Update{Topics: []string{"t"}, Data: "x"})
	readUntil(t, r, "data: x\n\n")
	th.h.Close()
	readUntil(t, r, "retry: 1500\n")
	if _, err := th.h.Publish(t.Context(), eventlog.Update{Topics: []string{"t"}}); !errors.Is(err, ErrClosed) {
		t.Fatalf("publish after Close: %v, want ErrClosed", err)
	}
}

// closeWithStreams opens n streams on th, publishes an update they all
// receive, closes the hub, and returns what each stream ended with.
func closeWithStreams(t *testing.T, th *testHub, n int) []string {
	t.Helper()
	readers := make([]*bufio.Reader, n)
	for i := range readers {
		readers[i] = th.rawStream(t, "topic=t")
	}
	th.publish(t, eventlog.Update{Topics: []string{"t"}, Data: "x"})
	for _, r := range readers {
		readUntil(t, r, "data: x\n\n")
	}
	th.h.Close()
	ends := make([]string, n)
	for i, r := range readers {
		ends[i] = readUntil(t, r, "\n\n")
	}
	return ends
}

// TestZeroTurnsOffTheSettingsThatCanBeOff checks that zero means off for
// Heartbeat, BatchWindow and ShutdownRetryJitter, as on the command line:
// New does not replace it with a default, and a zero jitter tells every
// stream ShutdownRetry exactly.
func TestZeroTurnsOffTheSettingsThatCanBeOff(t *testing.T) {
	var c Config
	c.setDefaults()
	if c.Heartbeat != 0 || c.BatchWindow != 0 || c.ShutdownRetryJitter != 0 {
		t.Fatalf("zero Config became heartbeat %v, batch window %v, jitter %v; want all zero (off)", c.Heartbeat, c.BatchWindow, c.ShutdownRetryJitter)
	}
	th := startHub(t, Config{ShutdownRetry: 1500 * time.Millisecond})
	for _, rest := range closeWithStreams(t, th, 5) {
		if !strings.Contains(rest, "retry: 1500\n\n") {
			t.Fatalf("stream ended with %q, want exactly retry: 1500", rest)
		}
	}
}

// TestCloseSpreadsTheRetryHints checks that the streams of a closing hub
// are told reconnection delays spread over [ShutdownRetry, ShutdownRetry +
// ShutdownRetryJitter], after the updates queued for them, so that they do
// not all come back at the same moment.
func TestCloseSpreadsTheRetryHints(t *testing.T) {
	const streams = 20
	base, jitter := time.Second, 2*time.Second
	th := startHub(t, Config{ShutdownRetry: base, ShutdownRetryJitter: jitter})
	seen := map[time.Duration]bool{}
	for i, rest := range closeWithStreams(t, th, streams) {
		var ms int64
		at := strings.Index(rest, "retry: ")
		if at < 0 {
			t.Fatalf("stream %d ended with %q, want a retry field", i, rest)
		}
		if _, err := fmt.Sscanf(rest[at:], "retry: %d\n", &ms); err != nil {
			t.Fatalf("stream %d ended with %q, want a retry field", i, rest)
		}
		d := time.Duration(ms) * time.Millisecond
		if d < base || d > base+jitter {
			t.Fatalf("stream %d was told retry %v, want within [%v, %v]", i, d, base, base+jitter)
		}
		seen[d] = true
	}
	if len(seen) < 2 {
		t.Fatalf("all %d streams were told the same retry %v, want them spread", streams, seen)
	}
}

func TestNewSubscriberReceivesSnapshotsFirst(t *testing.T) {
	th := startHub(t, Config{Snapshots: func(match func(string) bool) []eventlog.Update {
		var out []eventlog.Update
		for _, topic := range []string{"jobs/1", "jobs/2"} {
			if match(topic) {
				out = append(out, eventlog.Update{Topics: []string{topic}, Type: "progress", Data: "snapshot " + topic})
			}
		}
		return out
	}})
	s := th.subscribe(t, "", "topic=jobs/2")
	ev := s.next(t)
	if ev.Data != "snapshot jobs/2" || ev.Type != "progress" || ev.ID != "" {
		t.Fatalf("first event %+v, want the jobs/2 snapshot without an id", ev)
	}
	u := th.publish(t, eventlog.Update{Topics: []string{"jobs/2"}, Data: "live"})
	if got := s.next(t).Data; got != "live" {
		t.Fatalf("got %q, want live", got)
	}
	resumed := th.subscribe(t, u.ID, "topic=jobs/2")
	th.publish(t, eventlog.Update{Topics: []string{"jobs/2"}, Data: "after"})
	if got := resumed.next(t).Data; got != "after" {
		t.Fatalf("resuming subscriber got %q first, want no snapshot", got)
	}
}

func TestPublishRejectsInvalidUpdates(t *testing.T) {
	th := startHub(t, Config{MaxDataBytes: 10})
	bad := map[string]eventlog.Update{
		"no topic":       {Data: "x"},
		"empty topic":    {Topics: []string{""}},
		"id with LF":     {Topics: []string{"t"}, ID: "a\nb"},
		"id with '#'":    {Topics: []string{"t"}, ID: "#1"},
		"id earliest":    {Topics: []string{"t"}, ID: "earliest"},
		"type with CR":   {Topics: []string{"t"}, Type: "a\rb"},
		"too large":      {Topics: []string{"t"}, Data: "12345678901"},
		"invalid UTF-8":  {Topics: []string{"t"}, Data: "\xff"},
		"negative retry": {Topics: []string{"t"}, Retry: -time.Second},
		// A browser sends an invalid id back with U+FFFD in it, and then
		// gets the whole history on every reconnection.
		"id not UTF-8":    {Topics: []string{"t"}, ID: "a\xffb"},
		"topic not UTF-8": {Topics: []string{"t", "b\xc3"}},
		// 49 days: the browser would not come back for as long.
		"retry over the limit": {Topics: []string{"t"}, Retry: DefaultMaxRetry + time.Millisecond},
	}
	for name, u := range bad {
		if _, err := th.h.Publish(t.Context(), u); err == nil {
			t.Errorf("%s: published, want an error", name)
		}
	}
	seen := 0
	th.log.Since(t.Context(), eventlog.Earliest, func(eventlog.Update) bool { seen++; return true })
	if seen != 0 {
		t.Fatalf("log holds %d updates after only bad publications", seen)
	}
	if _, err := th.h.Publish(t.Context(), eventlog.Update{Topics: []string{"t"}, Retry: DefaultMaxRetry}); err != nil {
		t.Fatalf("a retry at the limit was refused: %v", err)
	}
}

// TestGoroutineStreams runs the stream tests again with detaching off, as
// HTTP/2 streams (which cannot be detached) are served.
func TestGoroutineStreams(t *testing.T) {
	noDetach = true
	defer func() { noDetach = false }()
	for name, test := range streamTests() {
		t.Run(name, test)
	}
}

// streamTests are the stream tests that every serving mode passes, run
// again in each other way of serving streams (TestGoroutineStreams,
// TestEpollStreams, TestTLSStreams).
func streamTests() map[string]func(*testing.T) {
	return map[string]func(*testing.T){
		"fan-out":   TestEveryUpdateReachesEverySubscriberInOrder,
		"selectors": TestUpdateMatchingSeveralSelectorsArrivesOnce,
		"resume":    TestResumeAfterIDHasNoGapWhilePublishing,
		"earliest":  TestEarliestReplaysAllRetained,
		"private":   TestPrivateUpdateReachesOnlyAuthorizedSubscribers,
		"slow":      TestSlowSubscriberIsDisconnectedAndLosesNothing,
		"heartbeat": TestHeartbeatWhenIdle,
		"close":     TestCloseEndsStreamsWithRetryHint,
		"jitter":    TestCloseSpreadsTheRetryHints,
		"snapshots": TestNewSubscriberReceivesSnapshotsFirst,
		"batch":     TestUpdatesWithinTheBatchWindowShareOneWrite,
	}
}
