package node

import (
	"io"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"testing"
)

func TestPublishRateLimitAnswers429WithRetryAfter(t *testing.T) {
	// One publication every 100 s: the test cannot be slow enough to see
	// a refill.
	n := startNode(t, Config{PublishRate: 0.01, PublishBurst: 3})
	pub := token(t, publisherKey, []string{"*"}, nil)
	form := url.Values{"topic": {"a"}, "data": {"x"}}
	for i := range 3 {
		if st, body := n.publish(t, pub, form); st != http.StatusOK {
			t.Fatalf("publication %d of a burst of 3: %d %s", i+1, st, body)
		}
	}
	check := func(what string, resp *http.Response) {
		t.Helper()
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		secs, _ := strconv.Atoi(resp.Header.Get("Retry-After"))
		if resp.StatusCode != http.StatusTooManyRequests || secs < 1 || !strings.Contains(string(b), "too many publications") {
			t.Fatalf("%s over the limit: %d, Retry-After %q, %q; want 429 with Retry-After and a reason",
				what, resp.StatusCode, resp.Header.Get("Retry-After"), b)
		}
	}
	req, _ := http.NewRequest("POST", n.http.URL+"/.well-known/mercure", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Authorization", "Bearer "+pub)
	resp, err := n.http.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	check("a publication", resp)
	req, _ = http.NewRequest("POST", n.http.URL+"/api/jobs", strings.NewReader(`{"id":"j"}`))
	req.Header.Set("Authorization", "Bearer "+pub)
	resp, err = n.http.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	check("a job's creation", resp)
}

func TestPublishRateIsOffByDefault(t *testing.T) {
	n := startNode(t, Config{})
	pub := token(t, publisherKey, []string{"*"}, nil)
	for i := range 200 {
		if st, body := n.publish(t, pub, url.Values{"topic": {"a"}, "data": {"x"}}); st != http.StatusOK {
			t.Fatalf("publication %d: %d %s", i+1, st, body)
		}
	}
}

// TestPublishRateCountsEachClientBehindATrustedProxy checks that behind a
// trusted proxy the per-address bucket is the client's, not the proxy's.
func TestPublishRateCountsEachClientBehindATrustedProxy(t *testing.T) {
	n := startNode(t, Config{PublishRate: 0.01, PublishBurst: 1, TrustedProxies: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}})
	pub := token(t, publisherKey, []string{"*"}, nil) // no sub: counted by address only
	publishFrom := func(client string) int {
		t.Helper()
		req, _ := http.NewRequest("POST", n.http.URL+"/.well-known/mercure", strings.NewReader("topic=a&data=x"))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Authorization", "Bearer "+pub)
		req.Header.Set("X-Forwarded-For", client)
		resp, err := n.http.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode
	}
	for _, client := range []string{"192.0.2.1", "192.0.2.2", "2001:db8:1:2::1"} {
		if st := publishFrom(client); st != http.StatusOK {
			t.Fatalf("first publication from %s behind the proxy: %d, want 200 (its own bucket)", client, st)
		}
	}
	for _, client := range []string{"192.0.2.1", "2001:db8:1:2::ffff"} { // the same /64
		if st := publishFrom(client); st != http.StatusTooManyRequests {
			t.Fatalf("second publication from %s: %d, want 429", client, st)
		}
	}
}
