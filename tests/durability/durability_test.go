// Package durability_test checks, with real `herald serve` processes on the
// default embedded (bolt) log, that an acknowledged update survives a crash
// of the hub and that a subscriber rides out a restart without a gap.
package durability_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/heraldhub/herald/client"
	"github.com/heraldhub/herald/internal/proctest"
	"github.com/heraldhub/herald/sse"
)

const key = "durability-test-key-0123456789abcdef"

func token(t *testing.T) string {
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

// post publishes data and returns the acknowledged id, or "" if the hub did
// not acknowledge it.
func post(ctx context.Context, node, tok, data string) string {
	form := url.Values{"topic": {"d"}, "data": {data}}
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, node+"/.well-known/mercure", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return ""
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return ""
	}
	return strings.TrimSpace(string(b))
}

// history returns the data of every retained update of topic d, in order.
func history(t *testing.T, node string) []string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, node+"/.well-known/mercure?topic=d&lastEventID=earliest", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	// The replay is written first; a publication marks its end.
	go func() { post(ctx, node, token(t), "end-of-history") }()
	var out []string
	dec := sse.NewDecoder(resp.Body)
	for {
		ev, err := dec.Next()
		if err != nil {
			t.Fatalf("history: %v after %d updates", err, len(out))
		}
		if ev.Data == "end-of-history" {
			return out
		}
		out = append(out, ev.Data)
	}
}

func TestEveryAcknowledgedUpdateSurvivesSIGKILL(t *testing.T) {
	if testing.Short() {
		t.Skip("starts real herald processes")
	}
	dir := t.TempDir()
	node := proctest.StartHerald(t, "--data-dir", dir, "--publisher-key", key, "--no-demo")
	tok := token(t)
	var acked []string
	for round := range 3 {
		ctx, cancel := context.WithCancel(context.Background())
		var wg sync.WaitGroup
		var mu sync.Mutex
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ctx.Err() == nil && i < 100000; i++ {
				data := fmt.Sprintf("r%d-%06d", round, i)
				if id := post(ctx, node.URL, tok, data); id != "" {
					mu.Lock()
					acked = append(acked, data)
					mu.Unlock()
				} else if ctx.Err() == nil {
					return // the hub is gone
				}
			}
		}()
		// Kill the hub at a random point mid-stream.
		time.Sleep(time.Duration(150+rand.IntN(300)) * time.Millisecond)
		node.Kill()
		cancel()
		wg.Wait()
		node.Restart(t)
	}
	got := history(t, node.URL)
	// Every acknowledged update is there, in order, once; an update whose
	// acknowledgement the kill interrupted may be there too.
	pos := map[string]int{}
	for i, d := range got {
		if _, dup := pos[d]; dup {
			t.Fatalf("update %s is in the log twice", d)
		}
		pos[d] = i
	}
	last := -1
	for _, d := range acked {
		p, ok := pos[d]
		if !ok {
			t.Fatalf("acknowledged update %s was lost (%d acknowledged, %d in the log)", d, len(acked), len(got))
		}
		if p < last {
			t.Fatalf("acknowledged update %s is out of order", d)
		}
		last = p
	}
	if len(acked) < 30 {
		t.Fatalf("only %d updates acknowledged over 3 rounds: the test exercised too little", len(acked))
	}
	t.Logf("%d acknowledged updates over 3 kills, all retained in order (%d in the log)", len(acked), len(got))
}

func TestASubscriberResumesAcrossACleanRestart(t *testing.T) {
	if testing.Short() {
		t.Skip("starts real herald processes")
	}
	node := proctest.StartHerald(t, "--data-dir", t.TempDir(), "--publisher-key", key, "--no-demo")
	tok := token(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var mu sync.Mutex
	var got []string
	connects := make(chan struct{}, 10)
	errc := make(chan error, 1)
	go func() {
		errc <- client.Subscribe(ctx, node.URL+"/.well-known/mercure?topic=d", client.Options{
			Retry:     100 * time.Millisecond,
			OnConnect: func(*http.Response) { connects <- struct{}{} },
		}, func(ev sse.Event) error {
			mu.Lock()
			defer mu.Unlock()
			got = append(got, ev.Data)
			if len(got) == 40 {
				return io.EOF
			}
			return nil
		})
	}()
	<-connects
	for i := range 20 {
		if post(ctx, node.URL, tok, fmt.Sprintf("before-%02d", i)) == "" {
			t.Fatalf("update %d not acknowledged", i)
		}
	}
	node.Stop() // SIGTERM: streams end with a retry hint
	if err := node.Exited(); err != nil {
		t.Fatalf("herald serve did not exit cleanly on SIGTERM: %v", err)
	}
	node.Restart(t)
	for i := range 20 {
		if post(ctx, node.URL, tok, fmt.Sprintf("after-%02d", i)) == "" {
			t.Fatalf("update %d not acknowledged after the restart", i)
		}
	}
	if err := <-errc; !errors.Is(err, io.EOF) {
		t.Fatalf("subscription ended with %v", err)
	}
	for i, d := range got {
		want := fmt.Sprintf("before-%02d", i)
		if i >= 20 {
			want = fmt.Sprintf("after-%02d", i-20)
		}
		if d != want {
			t.Fatalf("update %d is %q, want %q: a gap or a duplicate across the restart", i, d, want)
		}
	}
}
