package loadgen

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// broadcaster is a minimal SSE server: every published data goes to every
// stream; dup and drop, if set, say which sequence numbers it sends twice
// or never.
type broadcaster struct {
	mu        sync.Mutex
	subs      map[chan string]struct{}
	dup, drop string
}

func (b *broadcaster) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodPost {
		r.ParseForm()
		data := r.PostForm.Get("data")
		seq, _, _ := strings.Cut(data, " ")
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
	srv := httptest.NewServer(b)
	defer srv.Close()
	rep, err := Run(context.Background(), Config{
		SubscribeURL: srv.URL + "/events", Subscribers: subs, Updates: updates, Rate: 200,
		Drain: 2 * time.Second, MaxDuration: 30 * time.Second,
		Publish: func(ctx context.Context, data string) error {
			req, _ := http.NewRequestWithContext(ctx, http.MethodPost, srv.URL, strings.NewReader("data="+strings.ReplaceAll(data, " ", "+")))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			resp, err := http.DefaultClient.Do(req)
			if err == nil {
				resp.Body.Close()
			}
			return err
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

func TestRefusesTargetsOffLoopback(t *testing.T) {
	for _, u := range []string{"http://192.0.2.1/events", "http://10.0.0.1:8080/"} {
		if _, err := Run(context.Background(), Config{SubscribeURL: u, Publish: func(context.Context, string) error { return nil }}); err == nil || !strings.Contains(err.Error(), "loopback") {
			t.Errorf("%s: %v, want a refusal naming loopback", u, err)
		}
	}
}
