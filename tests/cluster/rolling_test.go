package cluster_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/heraldhub/herald/client"
	"github.com/heraldhub/herald/internal/proctest"
	"github.com/heraldhub/herald/internal/tcpproxy"
	"github.com/heraldhub/herald/sse"
)

// The drain settings of the rolled nodes: a budget for the exit, and the
// window the clients are told to reconnect in.
const (
	rollBudget      = 5 * time.Second
	rollRetry       = 300 * time.Millisecond
	rollRetryJitter = 700 * time.Millisecond
)

// TestRollingRestartLosesAndRepeatsNothing restarts the three nodes of a
// cluster one at a time (SIGTERM, exit 0 within the budget, start again
// on the same port, ready) under a steady flow of publications, with
// subscribers reaching the nodes through a round-robin balancer with the
// reconnecting client. Every subscriber receives every update exactly once
// and in order, and the reconnection delays the stopping nodes tell their
// clients are spread over the configured window.
func TestRollingRestartLosesAndRepeatsNothing(t *testing.T) {
	if testing.Short() {
		t.Skip("starts real herald processes")
	}
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			nodes := startCluster(t, b.url(t, sharedAddr[b.name]), 3, "--shutdown-timeout", rollBudget.String(),
				"--shutdown-retry", rollRetry.String(), "--shutdown-retry-jitter", rollRetryJitter.String())
			var addrs []string
			for _, n := range nodes {
				addrs = append(addrs, strings.TrimPrefix(n.URL, "http://"))
			}
			lb, err := tcpproxy.StartRoundRobin(addrs...)
			if err != nil {
				t.Fatal(err)
			}
			defer lb.Close()
			hub := "http://" + lb.Addr() + "/.well-known/mercure"
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()

			const subs = 30
			watch := &retryWatch{base: http.DefaultTransport.(*http.Transport).Clone()}
			defer watch.base.(*http.Transport).CloseIdleConnections()
			all := make([]*follower, subs)
			var wg sync.WaitGroup
			for i := range all {
				f := &follower{connected: make(chan struct{}), progress: make(chan struct{}, 1)}
				all[i] = f
				wg.Add(1)
				go func() { defer wg.Done(); f.run(ctx, hub, &http.Client{Transport: watch}) }()
			}
			defer func() { cancel(); wg.Wait() }()
			for _, f := range all {
				select {
				case <-f.connected:
				case <-ctx.Done():
					t.Fatal("subscribers did not connect in time")
				}
			}

			pub := startPublisher(publisherToken(t), "http://"+lb.Addr())
			defer pub.stop()
			for i, n := range nodes {
				// Roll the next node only once every subscriber is live
				// again: it has an update published after the last restart.
				awaitAll(t, all, pub.count()+1, 15*time.Second, fmt.Sprintf("before restarting node %d", i+1))
				before := len(watch.values())
				start := time.Now()
				n.Stop()
				took := time.Since(start)
				if err := n.Exited(); err != nil {
					t.Fatalf("node %d after SIGTERM: %v (after %v), want exit status 0", i+1, err, took)
				}
				if took > rollBudget {
					t.Fatalf("node %d took %v to exit after SIGTERM, over its --shutdown-timeout of %v", i+1, took, rollBudget)
				}
				n.Restart(t)
				proctest.WaitTCP(t, n.Port, func() bool { return readyz(n.URL) == http.StatusOK }, n.Proc)
				t.Logf("node %d: exit took %v, %d streams told to reconnect", i+1, took, len(watch.values())-before)
				if len(watch.values()) == before {
					t.Fatalf("no subscriber of node %d was told when to reconnect", i+1)
				}
			}
			awaitAll(t, all, pub.count()+1, 15*time.Second, "after the last restart")
			total, err := pub.stop()
			if err != nil {
				t.Fatal(err)
			}
			awaitAll(t, all, total, 15*time.Second, "after the last publication")

			order := readAll(t, nodes[0].URL, total)
			for i, id := range order {
				if want := fmt.Sprintf("r-%05d", i); id != want {
					t.Fatalf("the log holds %s at %d, want %s: the one publisher's updates in its order, once each", id, i, want)
				}
			}
			for i, f := range all {
				if got := f.ids(); !slices.Equal(got, order) {
					t.Fatalf("subscriber %d got %d updates, not the %d published, once each in order (first difference at %d)", i, len(got), total, firstDiff(got, order))
				}
			}
			retries := watch.values()
			distinct := map[time.Duration]bool{}
			for _, d := range retries {
				if d < rollRetry || d > rollRetry+rollRetryJitter {
					t.Fatalf("a stream was told retry %v, want within [%v, %v]", d, rollRetry, rollRetry+rollRetryJitter)
				}
				distinct[d] = true
			}
			if len(distinct) < 2 {
				t.Fatalf("all %d streams ended by the restarts were told the same retry %v, want them spread", len(retries), retries)
			}
			t.Logf("%d updates, %d reconnection hints, %d distinct", total, len(retries), len(distinct))
		})
	}
}

// follower subscribes to topic "cluster" through the balancer with the
// reconnecting client, which resumes with Last-Event-ID, and keeps the ids
// it receives.
type follower struct {
	connected chan struct{} // closed at the first stream
	progress  chan struct{} // signalled at each event
	mu        sync.Mutex
	got       []string
}

func (f *follower) run(ctx context.Context, hub string, c *http.Client) {
	var once sync.Once
	client.Subscribe(ctx, hub+"?topic=cluster", client.Options{
		Client:     c,
		Retry:      100 * time.Millisecond,
		MaxBackoff: time.Second,
		OnConnect:  func(*http.Response) { once.Do(func() { close(f.connected) }) },
	}, func(ev sse.Event) error {
		f.mu.Lock()
		f.got = append(f.got, ev.ID)
		f.mu.Unlock()
		select {
		case f.progress <- struct{}{}:
		default:
		}
		return nil
	})
}

func (f *follower) ids() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.got)
}

func (f *follower) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.got)
}

// awaitAll waits until every follower has received n updates, failing the
// test after within.
func awaitAll(t *testing.T, all []*follower, n int, within time.Duration, when string) {
	t.Helper()
	deadline := time.NewTimer(within)
	defer deadline.Stop()
	for i, f := range all {
		for f.count() < n {
			select {
			case <-f.progress:
			case <-deadline.C:
				t.Fatalf("%s: subscriber %d has %d updates after %v, want %d", when, i, f.count(), within, n)
			}
		}
	}
}

// publisher publishes r-00000, r-00001, … to topic "cluster" at 20 a
// second, each retried (on whichever node the balancer picks) until it is
// acknowledged, so the log holds them once each in that order.
type publisher struct {
	n    atomic.Int64
	quit chan struct{}
	done chan struct{}
	err  error
}

func startPublisher(tok, base string) *publisher {
	p := &publisher{quit: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(p.done)
		tick := time.NewTicker(50 * time.Millisecond)
		defer tick.Stop()
		for i := 0; ; i++ {
			select {
			case <-p.quit:
				return
			case <-tick.C:
			}
			id := fmt.Sprintf("r-%05d", i)
			if !publishPersistently(tok, id, base, 10*time.Second) {
				p.err = fmt.Errorf("update %s was not acknowledged in 10s", id)
				return
			}
			p.n.Store(int64(i + 1))
		}
	}()
	return p
}

// count returns how many updates were acknowledged so far.
func (p *publisher) count() int { return int(p.n.Load()) }

// stop stops the publisher and returns how many updates were acknowledged.
func (p *publisher) stop() (int, error) {
	select {
	case <-p.quit:
	default:
		close(p.quit)
	}
	<-p.done
	return p.count(), p.err
}

// publishPersistently publishes id through base until it is acknowledged
// or within passes: a node shutting down refuses it (503) or drops the
// connection, and the balancer picks another node for the next attempt.
func publishPersistently(tok, id, base string, within time.Duration) bool {
	deadline := time.Now().Add(within)
	for !publish(tok, id, []string{base}) {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(20 * time.Millisecond) // pacing between attempts
	}
	return true
}

// retryWatch is a transport that records the retry fields of the event
// streams it carries: the reconnection delays the hub tells its clients.
type retryWatch struct {
	base http.RoundTripper
	mu   sync.Mutex
	seen []time.Duration
}

// RoundTrip sends req through the base transport and watches the body.
func (w *retryWatch) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := w.base.RoundTrip(req)
	if err == nil {
		resp.Body = &retryScanner{ReadCloser: resp.Body, w: w}
	}
	return resp, err
}

func (w *retryWatch) values() []time.Duration {
	w.mu.Lock()
	defer w.mu.Unlock()
	return slices.Clone(w.seen)
}

// retryScanner reads a body line by line as it passes, for retry fields.
type retryScanner struct {
	io.ReadCloser
	w    *retryWatch
	line []byte // the current line's start
}

func (s *retryScanner) Read(p []byte) (int, error) {
	n, err := s.ReadCloser.Read(p)
	for _, c := range p[:n] {
		if c != '\n' {
			if len(s.line) < 32 {
				s.line = append(s.line, c)
			}
			continue
		}
		if v, ok := strings.CutPrefix(string(s.line), "retry: "); ok {
			if ms, perr := strconv.Atoi(v); perr == nil {
				s.w.mu.Lock()
				s.w.seen = append(s.w.seen, time.Duration(ms)*time.Millisecond)
				s.w.mu.Unlock()
			}
		}
		s.line = s.line[:0]
	}
	return n, err
}
