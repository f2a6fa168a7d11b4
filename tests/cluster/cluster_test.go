// Package cluster_test runs real `herald serve` processes sharing one log
// on Redis Streams or NATS JetStream, and checks the cluster's promises:
// every subscriber, on any node, receives every update in one global order,
// exactly once, across the loss of a node and an outage of the backend.
package cluster_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/heraldhub/herald/eventlog/logtest"
	"github.com/heraldhub/herald/eventlog/natslog"
	"github.com/heraldhub/herald/eventlog/redislog"
	"github.com/heraldhub/herald/heraldclient"
	"github.com/heraldhub/herald/internal/proctest"
	"github.com/heraldhub/herald/sse"
)

const key = "cluster-test-publisher-key-0123456789"

func TestMain(m *testing.M) {
	code := m.Run()
	proctest.RemoveBinary()
	os.Exit(code)
}

// backend is a shared log the nodes of a cluster use.
type backend struct {
	name string
	// url returns the --log value for a fresh stream on addr, and a
	// function that deletes the stream.
	url func(t *testing.T, addr string) string
}

var backends = []backend{
	{"redis", func(t *testing.T, addr string) string {
		name := logtest.UniqueName(t)
		t.Cleanup(func() {
			if l, err := redislog.Open(context.Background(), "redis://"+addr+"/0?stream="+name, redislog.Options{}); err == nil {
				l.DeleteStream(context.Background())
				l.Close()
			}
		})
		return "redis://" + addr + "/0?stream=" + name
	}},
	{"nats", func(t *testing.T, addr string) string {
		name := logtest.UniqueName(t)
		t.Cleanup(func() {
			if l, err := natslog.Open(context.Background(), "nats://"+addr+"?stream="+name, natslog.Options{}); err == nil {
				l.DeleteStream(context.Background())
				l.Close()
			}
		})
		return "nats://" + addr + "?stream=" + name
	}},
}

var sharedAddr = map[string]string{"redis": "127.0.0.1:6379", "nats": "127.0.0.1:4222"}

func publisherToken(t *testing.T) string {
	t.Helper()
	s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{
		"mercure": map[string]any{"publish": []string{"*"}},
		"exp":     time.Now().Add(time.Hour).Unix(),
	}).SignedString([]byte(key))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// startCluster starts n nodes on the log logURL with the test's publisher
// key, no demo, and args.
func startCluster(t *testing.T, logURL string, n int, args ...string) []*proctest.Herald {
	t.Helper()
	nodes := make([]*proctest.Herald, n)
	for i := range nodes {
		nodes[i] = proctest.StartHerald(t, append([]string{"--log", logURL, "--publisher-key", key, "--no-demo"}, args...)...)
	}
	return nodes
}

// publish posts update id to one of nodes, starting with the first, and
// reports whether the update was acknowledged (a 409 for our own id means
// an earlier attempt was stored).
func publish(tok, id string, nodes []string) bool {
	for _, node := range nodes {
		c, err := heraldclient.New(node, tok)
		if err != nil {
			return false
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_, err = c.Publish(ctx, heraldclient.Update{Topics: []string{"cluster"}, ID: id, Data: id})
		cancel()
		var refused *heraldclient.Error
		if err == nil || errors.As(err, &refused) && refused.StatusCode == http.StatusConflict {
			return true
		}
	}
	return false
}

// subscriber follows topic "cluster" from its home node, moving to the next
// node with its last event id whenever a stream ends.
type subscriber struct {
	nodes     []string
	connected chan struct{}
	mu        sync.Mutex
	got       []string
}

func (s *subscriber) ids() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.got)
}

func (s *subscriber) run(ctx context.Context, want int) {
	lastID, first := "", true
	for i := 0; ctx.Err() == nil; i = (i + 1) % len(s.nodes) {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, s.nodes[i]+"/.well-known/mercure?topic=cluster", nil)
		if lastID != "" {
			req.Header.Set("Last-Event-ID", lastID)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil || resp.StatusCode != http.StatusOK {
			if err == nil {
				resp.Body.Close()
			}
			select {
			case <-ctx.Done():
			case <-time.After(50 * time.Millisecond):
			}
			continue
		}
		if first {
			close(s.connected)
			first = false
		}
		dec := sse.NewDecoderSize(resp.Body, 1024)
		for {
			ev, err := dec.Next()
			if err != nil {
				break
			}
			s.mu.Lock()
			s.got = append(s.got, ev.ID)
			n := len(s.got)
			s.mu.Unlock()
			lastID = ev.ID
			if n >= want {
				resp.Body.Close()
				return
			}
		}
		resp.Body.Close() // the stream ended: go on from the next node
	}
}

// readAll returns the ids of the cluster topic's retained history, in log
// order, as node serves it.
func readAll(t *testing.T, node string, want int) []string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, node+"/.well-known/mercure?topic=cluster&lastEventID=earliest", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	dec := sse.NewDecoder(resp.Body)
	var ids []string
	for len(ids) < want {
		ev, err := dec.Next()
		if err != nil {
			t.Fatalf("history from %s: %v after %d updates", node, err, len(ids))
		}
		ids = append(ids, ev.ID)
	}
	return ids
}

func TestEveryUpdateReachesEverySubscriberAcrossANodeLoss(t *testing.T) {
	if testing.Short() {
		t.Skip("starts real herald processes")
	}
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			nodes := startCluster(t, b.url(t, sharedAddr[b.name]), 3, "--heartbeat", "1s", "--max-conns-per-ip", "-1")
			var urls []string
			for _, n := range nodes {
				urls = append(urls, n.URL)
			}
			const subs, updates = 300, 1000
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			var wg sync.WaitGroup
			all := make([]*subscriber, subs)
			for i := range all {
				home := i % 3
				s := &subscriber{nodes: append(slices.Clone(urls[home:]), urls[:home]...), connected: make(chan struct{})}
				all[i] = s
				wg.Add(1)
				go func() { defer wg.Done(); s.run(ctx, updates) }()
			}
			defer func() { cancel(); wg.Wait() }()
			for _, s := range all {
				select {
				case <-s.connected:
				case <-ctx.Done():
					t.Fatal("subscribers did not connect in time")
				}
			}
			tok := publisherToken(t)
			for i := range updates {
				if i == updates*2/5 {
					nodes[2].Kill() // mid-stream: its subscribers move to the others
				}
				start := i % 3
				if !publish(tok, fmt.Sprintf("u-%04d", i), append(slices.Clone(urls[start:]), urls[:start]...)) {
					t.Fatalf("update %d was not acknowledged by any node", i)
				}
			}
			order := readAll(t, urls[0], updates)
			seen := map[string]bool{}
			for _, id := range order {
				if seen[id] {
					t.Fatalf("the log holds %s twice", id)
				}
				seen[id] = true
			}
			done := make(chan struct{})
			go func() { wg.Wait(); close(done) }()
			select {
			case <-done:
			case <-ctx.Done():
			}
			for i, s := range all {
				if got := s.ids(); !slices.Equal(got, order) {
					t.Fatalf("subscriber %d (home node %d) got %d updates, not the log's %d in order (first difference at %d)", i, i%3+1, len(got), len(order), firstDiff(got, order))
				}
			}
		})
	}
}

func firstDiff(a, b []string) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}

func TestAcknowledgedUpdatesSurviveABackendOutage(t *testing.T) {
	if testing.Short() {
		t.Skip("starts real processes")
	}
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			var server *proctest.Proc
			if b.name == "redis" {
				server = proctest.Redis(t)
			} else {
				server = proctest.NATS(t)
			}
			logURL := b.url(t, "127.0.0.1:"+strconv.Itoa(server.Port))
			a := proctest.StartHerald(t, "--log", logURL, "--publisher-key", key, "--no-demo", "--heartbeat", "1s")
			c := proctest.StartHerald(t, "--log", logURL, "--publisher-key", key, "--no-demo", "--heartbeat", "1s")
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			s := &subscriber{nodes: []string{c.URL}, connected: make(chan struct{})}
			var wg sync.WaitGroup
			const updates = 150
			wg.Add(1)
			go func() { defer wg.Done(); s.run(ctx, 1<<30) }() // until the test ends
			defer func() { cancel(); wg.Wait() }()
			<-s.connected
			tok := publisherToken(t)
			var acked, failed []string
			for i := range updates {
				if i == updates/3 {
					// The backend stops answering (as in a partition or a
					// freeze) for a few seconds.
					server.Pause()
					time.AfterFunc(6*time.Second, server.Resume)
					if status := readyz(a.URL); status != http.StatusServiceUnavailable {
						t.Errorf("/readyz answered %d while the backend was unreachable, want 503", status)
					}
				}
				id := fmt.Sprintf("o-%04d", i)
				if publish(tok, id, []string{a.URL}) {
					acked = append(acked, id)
				} else {
					failed = append(failed, id)
				}
			}
			if len(failed) == 0 {
				t.Fatal("no publication failed during the outage: the test did not exercise it")
			}
			// Publish until the subscriber has seen everything acknowledged.
			deadline := time.Now().Add(30 * time.Second)
			for !containsAll(s.ids(), acked) && time.Now().Before(deadline) {
				id := fmt.Sprintf("late-%d", time.Now().UnixNano())
				if publish(tok, id, []string{a.URL}) {
					acked = append(acked, id)
				}
				time.Sleep(100 * time.Millisecond)
			}
			got := s.ids()
			if !containsAll(got, acked) {
				t.Fatalf("after the outage the subscriber has %d updates; some of the %d acknowledged are missing", len(got), len(acked))
			}
			seen := map[string]bool{}
			for _, id := range got {
				if seen[id] {
					t.Fatalf("update %s delivered twice", id)
				}
				seen[id] = true
			}
			t.Logf("%d acknowledged, %d reported as failed to the publisher", len(acked), len(failed))
		})
	}
}

// readyz returns the node's readiness status.
func readyz(node string) int {
	c := http.Client{Timeout: 5 * time.Second}
	resp, err := c.Get(node + "/readyz")
	if err != nil {
		return 0
	}
	resp.Body.Close()
	return resp.StatusCode
}

func containsAll(have, want []string) bool {
	set := map[string]bool{}
	for _, id := range have {
		set[id] = true
	}
	for _, id := range want {
		if !set[id] {
			return false
		}
	}
	return true
}
