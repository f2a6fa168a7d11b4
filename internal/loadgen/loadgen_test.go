package loadgen

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// broadcaster is a minimal SSE server: every published data goes to every
// stream; dup and drop, if set, say which sequence numbers it sends twice
// or never, and refuse which it answers with 503; it refuses the first
// refuseStreams subscriptions with 503 too.
type broadcaster struct {
	mu                sync.Mutex
	subs              map[chan string]struct{}
	dup, drop, refuse string
	refuseStreams     int
	publishDelay      time.Duration // before answering each publication
}

func (b *broadcaster) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodPost {
		r.ParseForm()
		data := r.PostForm.Get("data")
		seq, _, _ := strings.Cut(data, " ")
		if seq == b.refuse {
			http.Error(w, "not now", http.StatusServiceUnavailable)
			return
		}
		defer time.Sleep(b.publishDelay)
		b.mu.Lock()
		for c := range b.subs {
			if seq != b.drop {
				c <- data
			}
			if seq == b.dup {
				c <- data
			}
		}
		b.mu.Unlock()
		return
	}
	c := make(chan string, 1000)
	b.mu.Lock()
	if b.refuseStreams > 0 {
		b.refuseStreams--
		b.mu.Unlock()
		http.Error(w, "full", http.StatusServiceUnavailable)
		return
	}
	b.subs[c] = struct{}{}
	b.mu.Unlock()
	defer func() {
		b.mu.Lock()
		delete(b.subs, c)
		b.mu.Unlock()
	}()
	w.Header().Set("Content-Type", "text/event-stream")
	w.WriteHeader(http.StatusOK)
	w.(http.Flusher).Flush()
	for {
		select {
		case <-r.Context().Done():
			return
		case d := <-c:
			fmt.Fprintf(w, "data: %s\n\n", d)
			w.(http.Flusher).Flush()
		}
	}
}

func run(t *testing.T, b *broadcaster, subs, updates int) *Report {
	t.Helper()
	b.subs = map[chan string]struct{}{}
	return runWith(t, b, subs, updates, "")
}

// runWith runs against b, reading the streams with reader.
func runWith(t *testing.T, b *broadcaster, subs, updates int, reader string) *Report {
	t.Helper()
	return runSized(t, b, subs, updates, reader, 0)
}

// runSized runs against b, reading the streams with reader, with updates
// of size bytes (0: the default).
func runSized(t *testing.T, b *broadcaster, subs, updates int, reader string, size int) *Report {
	t.Helper()
	srv := httptest.NewServer(b)
	defer srv.Close()
	rep, err := Run(context.Background(), Config{
		SubscribeURL: srv.URL + "/events", Subscribers: subs, Updates: updates, Rate: 200, Reader: reader, Size: size,
		Drain: 20 * time.Second, MaxDuration: time.Minute, // the drain ends once everything arrived
		Publish: func(ctx context.Context, data string) error {
			req, _ := http.NewRequestWithContext(ctx, http.MethodPost, srv.URL, strings.NewReader("data="+strings.ReplaceAll(data, " ", "+")))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				return err
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				return fmt.Errorf("publish: %s", resp.Status)
			}
			return nil
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	srv.CloseClientConnections()
	return rep
}

func TestCountsEveryDeliveryWithNoLoss(t *testing.T) {
	rep := run(t, &broadcaster{}, 50, 20)
	if rep.Connected != 50 || rep.Deliveries != 1000 || rep.Lost != 0 || rep.Duplicated != 0 {
		t.Fatalf("report %+v, want 50 connected, 1,000 deliveries, none lost or duplicated", rep)
	}
	if rep.P50ms <= 0 || rep.P99ms < rep.P50ms || rep.MaxMs < rep.P99ms*0.9 {
		t.Fatalf("latencies p50 %v p99 %v max %v are inconsistent", rep.P50ms, rep.P99ms, rep.MaxMs)
	}
}

func TestReportsDuplicatesAndLosses(t *testing.T) {
	rep := run(t, &broadcaster{dup: "3", drop: "7"}, 10, 20)
	if rep.Duplicated != 10 || rep.Lost != 10 {
		t.Fatalf("duplicated %d, lost %d; want 10 each (one per subscriber)", rep.Duplicated, rep.Lost)
	}
}

func TestReportsTheFirstPublishError(t *testing.T) {
	rep := run(t, &broadcaster{refuse: "4"}, 5, 10)
	if rep.Published != 9 || rep.PublishFailed != 1 || rep.PublishError != "publish: 503 Service Unavailable" {
		t.Fatalf("published %d, failed %d, error %q; want 9, 1 and the 503", rep.Published, rep.PublishFailed, rep.PublishError)
	}
	if rep.Lost != 0 || rep.Deliveries != 45 {
		t.Fatalf("lost %d, deliveries %d; a refused update is not owed to anyone", rep.Lost, rep.Deliveries)
	}
}

func TestReportsTheFirstConnectError(t *testing.T) {
	rep := run(t, &broadcaster{refuseStreams: 2}, 5, 10)
	if rep.Connected != 3 || rep.ConnectFailed != 2 || rep.ConnectError != "subscribe: 503 Service Unavailable" {
		t.Fatalf("connected %d, failed %d, error %q; want 3, 2 and the 503", rep.Connected, rep.ConnectFailed, rep.ConnectError)
	}
	if rep.Lost != 0 || rep.Deliveries != 30 {
		t.Fatalf("lost %d, deliveries %d; want every update to each of the 3 connected", rep.Lost, rep.Deliveries)
	}
}

func TestTimesPublicationsAndHowFarTheyFellBehind(t *testing.T) {
	// 10 updates at 200/s are due over 45 ms; answered after 20 ms each,
	// the last starts at least 135 ms late.
	rep := run(t, &broadcaster{publishDelay: 20 * time.Millisecond}, 2, 10)
	if rep.PublishP50ms < 20 || rep.PublishP99ms < rep.PublishP50ms || rep.PublishMaxMs < rep.PublishP99ms {
		t.Fatalf("publish times p50 %v p99 %v max %v ms, want 20 ms or more, in order", rep.PublishP50ms, rep.PublishP99ms, rep.PublishMaxMs)
	}
	if rep.MaxLagMs < 135 {
		t.Fatalf("at worst %v ms behind schedule, want 135 or more", rep.MaxLagMs)
	}
	if quick := run(t, &broadcaster{}, 2, 10); quick.PublishP50ms >= 20 || quick.MaxLagMs >= 135 {
		t.Fatalf("without a delay: publish p50 %v ms, %v ms behind; the delay is not what was measured", quick.PublishP50ms, quick.MaxLagMs)
	}
}

func TestARunWithNoSubscriberConnectedFailsWithTheReason(t *testing.T) {
	b := &broadcaster{subs: map[chan string]struct{}{}, refuseStreams: 3}
	srv := httptest.NewServer(b)
	defer srv.Close()
	published := 0
	_, err := Run(context.Background(), Config{
		SubscribeURL: srv.URL + "/events", Subscribers: 3, Updates: 5, Rate: 200, MaxDuration: 30 * time.Second,
		Publish: func(context.Context, string) error { published++; return nil },
	})
	if err == nil || !strings.Contains(err.Error(), "no subscriber could connect") || !strings.Contains(err.Error(), "503 Service Unavailable") {
		t.Fatalf("error %v, want no subscriber connected, with the 503", err)
	}
	if published != 0 {
		t.Fatalf("published %d updates to nobody", published)
	}
}

func TestReadsUserAndSystemTime(t *testing.T) {
	// The command may hold spaces and parentheses; utime and stime are
	// the 14th and 15th fields, in clock ticks.
	stat := "4242 (a) (b c)) S 1 4242 4242 0 -1 4194560 900 0 0 0 250 125 0 0 20 0 3 0 100 0"
	if got := parseStat(stat); got != (cpuTime{2.5, 1.25}) {
		t.Fatalf("parseStat = %+v, want user 2.5 s, system 1.25 s", got)
	}
	for _, bad := range []string{"", "4242 (no closing", "4242 (x) S 1 2"} {
		if got := parseStat(bad); got != (cpuTime{}) {
			t.Fatalf("parseStat(%q) = %+v, want zero", bad, got)
		}
	}
	// Spin until the kernel has counted a tick of this process, or 2 s.
	var self cpuTime
	for end := time.Now().Add(2 * time.Second); time.Now().Before(end); {
		if self = cpuSeconds(os.Getpid()); self.user > 0 {
			break
		}
	}
	if self.user <= 0 {
		t.Fatalf("cpuSeconds(self) = %+v, want some CPU time", self)
	}
}

func TestRefusesTargetsOffLoopback(t *testing.T) {
	for _, u := range []string{"http://192.0.2.1/events", "http://10.0.0.1:8080/"} {
		if _, err := Run(context.Background(), Config{SubscribeURL: u, Publish: func(context.Context, string) error { return nil }}); err == nil || !strings.Contains(err.Error(), "loopback") {
			t.Errorf("%s: %v, want a refusal naming loopback", u, err)
		}
	}
}

func TestConcurrentPublishersSendEveryUpdateOnceWithThatManyInFlight(t *testing.T) {
	var mu sync.Mutex
	inFlight, most := 0, 0
	seen := map[string]bool{}
	pub := PublishConcurrently(context.Background(), 200, 8, 64, func(_ context.Context, data string) error {
		mu.Lock()
		inFlight++
		most = max(most, inFlight)
		seq, _, _ := strings.Cut(data, " ")
		if seen[seq] || len(data) != 64 {
			t.Errorf("update %q sent twice or not padded to 64 bytes", data)
		}
		seen[seq] = true
		mu.Unlock()
		time.Sleep(time.Millisecond) // a server's acknowledgement time
		mu.Lock()
		inFlight--
		mu.Unlock()
		if seq == "13" {
			return fmt.Errorf("refused")
		}
		return nil
	})
	if pub.Published != 199 || pub.PublishFailed != 1 || pub.PublishError != "refused" || len(seen) != 200 {
		t.Fatalf("published %d, failed %d (%q), %d distinct; want 199, 1 refused, 200", pub.Published, pub.PublishFailed, pub.PublishError, len(seen))
	}
	if most != 8 || pub.AchievedRate <= 0 || pub.PublishP50ms < 1 || pub.PublishP99ms < pub.PublishP50ms {
		t.Fatalf("%d in flight at most, %v/s, p50 %v p99 %v ms; want 8 at once and acknowledgement times of 1 ms or more", most, pub.AchievedRate, pub.PublishP50ms, pub.PublishP99ms)
	}
}
