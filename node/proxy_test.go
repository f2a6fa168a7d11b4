package node

import (
	"net/http"
	"net/netip"
	"testing"
)

func TestClientsBehindATrustedProxyHaveTheirOwnBuckets(t *testing.T) {
	loopback := []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")}
	from := func(addr string) http.Header { return http.Header{"X-Forwarded-For": {"198.51.100.9, " + addr}} }
	tests := []struct {
		name          string
		trusted       []netip.Prefix
		first, second http.Header
		wantSecond    int
	}{
		{"two clients behind a trusted proxy", loopback, from("203.0.113.1"), from("203.0.113.2"), http.StatusOK},
		{"one client behind a trusted proxy", loopback, from("203.0.113.1"), from("203.0.113.1"), http.StatusTooManyRequests},
		{"Forwarded from a trusted proxy", loopback, http.Header{"Forwarded": {"for=203.0.113.1"}}, http.Header{"Forwarded": {`for="[2001:db8::1]:4711"`}}, http.StatusOK},
		{"spoofed headers from an untrusted peer", nil, from("203.0.113.1"), from("203.0.113.2"), http.StatusTooManyRequests},
		{"IPv6 clients in one /64", loopback, from("2001:db8:1:2::1"), from("2001:db8:1:2:ffff::2"), http.StatusTooManyRequests},
		{"IPv6 clients in two /64s", loopback, from("2001:db8:1:2::1"), from("2001:db8:1:3::1"), http.StatusOK},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n := startNode(t, Config{MaxConnsPerIP: 1, TrustedProxies: tt.trusted})
			n.subscribe(t, "topic=a", tt.first)
			if _, status, body := n.trySubscribe(t, "topic=a", tt.second); status != tt.wantSecond {
				t.Fatalf("second client: %d %q, want %d", status, body, tt.wantSecond)
			}
		})
	}
}
