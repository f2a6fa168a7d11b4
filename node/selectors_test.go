package node

import (
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/heraldhub/herald/internal/floodtest"
	"time"

	"github.com/heraldhub/herald/mercure"
)

// topics encodes selectors as a subscription query.
func topics(selectors ...string) string {
	return url.Values{"topic": selectors}.Encode()
}

// head sends a HEAD subscription request and returns its status.
func (n *node) head(t *testing.T, query string) int {
	t.Helper()
	req, _ := http.NewRequest(http.MethodHead, n.http.URL+"/.well-known/mercure?"+query, nil)
	resp, err := n.http.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// hold opens a subscription and, if the hub accepts it, returns its body
// unread, holding nothing else on the client's side.
func (n *node) hold(t *testing.T, query string) (io.Closer, int) {
	t.Helper()
	resp, err := n.http.Client().Get(n.http.URL + "/.well-known/mercure?" + query)
	if err != nil {
		t.Error(err)
		return nil, 0
	}
	if resp.StatusCode == http.StatusOK {
		return resp.Body, resp.StatusCode
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return nil, resp.StatusCode
}

func TestSubscriptionSelectorLimitsAnswerWithTheReason(t *testing.T) {
	n := startNode(t, Config{})
	max := mercure.DefaultMaxSelectorBytes
	many := make([]string, 65)
	for i := range many {
		many[i] = fmt.Sprintf("t%d", i)
	}
	fiveLong := make([]string, 5)
	for i := range fiveLong {
		fiveLong[i] = strings.Repeat("x", max-i)
	}
	tests := []struct {
		name   string
		query  string
		status int
		reason string
	}{
		{"selector over the length limit", topics(strings.Repeat("x", max+1)), http.StatusRequestURITooLong, "--max-selector-bytes"},
		{"template over the length limit", topics(floodtest.Template(0, max+3)), http.StatusRequestURITooLong, "--max-selector-bytes"},
		{"selectors over the subscription's total", topics(fiveLong...), http.StatusBadRequest, "--max-subscription-bytes"},
		{"too many selectors", topics(many...), http.StatusBadRequest, "too many topics"},
		{"selector at the length limit", topics(strings.Repeat("x", max)), http.StatusOK, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, status, body := n.trySubscribe(t, tt.query, nil)
			if status != tt.status || !strings.Contains(body, tt.reason) {
				t.Errorf("GET: %d %q, want %d naming %q", status, body, tt.status, tt.reason)
			}
			if status := n.head(t, tt.query); status != tt.status {
				t.Errorf("HEAD: %d, want %d", status, tt.status)
			}
		})
	}
}

func TestTemplateBytesOfOneClientAreBounded(t *testing.T) {
	n := startNode(t, Config{MaxTemplateBytesPerIP: 100})
	first := n.subscribe(t, topics(floodtest.Template(1, 60)), nil)
	if _, status, body := n.trySubscribe(t, topics(floodtest.Template(2, 60)), nil); status != http.StatusTooManyRequests || !strings.Contains(body, "--max-template-bytes-per-ip") {
		t.Fatalf("second template subscription: %d %q, want 429 naming the limit", status, body)
	}
	n.subscribe(t, topics(strings.Repeat("x", 200)), nil) // exact selectors cost nothing to compile
	first.close()
	waitFor(t, "the first subscription to end", func() bool { return n.srv.Hub().Subscribers() == 1 })
	n.subscribe(t, topics(floodtest.Template(2, 60)), nil)
}

func TestClientLimitsAndTokenAreCheckedBeforeSelectorsAreParsed(t *testing.T) {
	t.Run("token", func(t *testing.T) {
		n := startNode(t, Config{SubscriberKey: subscriberKey, NoAnonymous: true})
		if _, status, body := n.trySubscribe(t, topics("books/{id"), nil); status != http.StatusUnauthorized {
			t.Fatalf("anonymous subscriber with a malformed template: %d %q, want 401 before the template is read", status, body)
		}
	})
	t.Run("connections per client", func(t *testing.T) {
		n := startNode(t, Config{MaxConnsPerIP: 1})
		n.subscribe(t, topics("a"), nil)
		if _, status, body := n.trySubscribe(t, topics("books/{id"), nil); status != http.StatusTooManyRequests {
			t.Fatalf("client over its limit with a malformed template: %d %q, want 429 before the template is read", status, body)
		}
	})
	t.Run("HEAD parses nothing", func(t *testing.T) {
		n := startNode(t, Config{})
		if status := n.head(t, topics("books/{id")); status != http.StatusOK {
			t.Fatalf("HEAD with a malformed template: %d, want 200 without reading it", status)
		}
		if _, status, _ := n.trySubscribe(t, topics("books/{id"), nil); status != http.StatusBadRequest {
			t.Fatalf("GET with a malformed template: %d, want 400", status)
		}
	})
}

// TestSelectorFloodFromOneClientKeepsMemoryBounded sends, from one
// anonymous client, 2,000 GET and 2,000 HEAD subscriptions, each with a
// distinct URI template of the longest accepted length (one compiles to
// about 1 MB), keeping every stream the hub accepts open. Live heap (after
// GC) must grow by less than 64 MB with the streams open, and by less than
// 8 MB once they are closed; /healthz, polled throughout, must answer with
// a median under 50 ms (the median, so that a scheduling hiccup of a loaded
// 2-core machine does not decide), and never take 5 s.
func TestSelectorFloodFromOneClientKeepsMemoryBounded(t *testing.T) {
	const (
		requests  = 2000
		workers   = 4
		maxGrowth = 64 << 20
	)
	n := startNode(t, Config{})
	before := floodtest.LiveHeap()
	grown := func() int64 { return int64(floodtest.LiveHeap()) - int64(before) }

	health := &http.Client{Transport: &http.Transport{}}
	defer health.CloseIdleConnections()
	var latencies []time.Duration
	stop, polled := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(polled)
		for {
			start := time.Now()
			resp, err := health.Get(n.http.URL + "/healthz")
			if err != nil || resp.StatusCode != http.StatusOK {
				t.Errorf("/healthz during the flood: %v %v", resp, err)
				return
			}
			resp.Body.Close()
			latencies = append(latencies, time.Since(start))
			select {
			case <-stop:
				return
			case <-time.After(10 * time.Millisecond):
			}
		}
	}()

	var (
		mu       sync.Mutex
		open     []io.Closer
		statuses = map[string]int{}
	)
	jobs := make(chan int)
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range jobs {
				s, status := n.hold(t, topics(floodtest.Template(i, mercure.DefaultMaxSelectorBytes)))
				hstatus := n.head(t, topics(floodtest.Template(requests+i, mercure.DefaultMaxSelectorBytes)))
				mu.Lock()
				statuses[fmt.Sprintf("GET %d", status)]++
				statuses[fmt.Sprintf("HEAD %d", hstatus)]++
				if s != nil {
					open = append(open, s)
				}
				mu.Unlock()
			}
		}()
	}
	for i := range requests {
		if i%250 == 249 {
			if g := grown(); g > maxGrowth {
				close(jobs)
				wg.Wait()
				close(stop)
				<-polled
				t.Fatalf("live heap grew by %d MB after %d distinct selectors, want under %d MB", g>>20, i, maxGrowth>>20)
			}
		}
		jobs <- i
	}
	close(jobs)
	wg.Wait()
	close(stop)
	<-polled
	t.Logf("answers: %v; open streams: %d", statuses, len(open))

	g := grown()
	t.Logf("live heap growth with %d streams open: %.1f MB", len(open), float64(g)/(1<<20))
	if g > maxGrowth {
		t.Errorf("live heap grew by %d MB with the accepted streams open, want under %d MB", g>>20, maxGrowth>>20)
	}
	for _, s := range open {
		s.Close()
	}
	waitFor(t, "every stream to end", func() bool { return n.srv.Hub().Subscribers() == 0 })
	g = grown()
	t.Logf("live heap growth once they closed: %.1f MB", float64(g)/(1<<20))
	if g > maxGrowth/8 {
		t.Errorf("live heap grew by %d MB once every stream closed, want under %d MB: closed subscriptions' selectors are kept", g>>20, maxGrowth/8>>20)
	}

	if len(latencies) == 0 {
		t.Fatal("/healthz was never answered during the flood")
	}
	slices.Sort(latencies)
	median, p90, worst := latencies[len(latencies)/2], latencies[len(latencies)*9/10], latencies[len(latencies)-1]
	t.Logf("/healthz during the flood: %d answers, median %v, 90th percentile %v, slowest %v", len(latencies), median, p90, worst)
	if median > 50*time.Millisecond || worst > 5*time.Second {
		t.Errorf("/healthz answered in a median %v (slowest %v) during the flood, want under 50ms (5s)", median, worst)
	}
}

// waitFor polls cond until it holds, failing the test after wait.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(wait)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
