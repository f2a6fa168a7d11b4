package node

import (
	"context"
	"io"
	"net/http"
	"net/netip"
	"strings"
	"testing"
)

// get sends a GET for path to n with the Host header host and extra
// headers, and returns the status and the body.
func (n *node) get(t *testing.T, host, path string, header http.Header) (int, http.Header, string) {
	t.Helper()
	return n.do(t, http.MethodGet, host, path, header)
}

func (n *node) do(t *testing.T, method, host, path string, header http.Header) (int, http.Header, string) {
	t.Helper()
	req, _ := http.NewRequest(method, n.http.URL+path, nil)
	if host != "" {
		req.Host = host
	}
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := n.http.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(b)
}

func TestPublicURLsRefuseOtherHostsWith421ButNotProbes(t *testing.T) {
	n := startNode(t, Config{PublicURLs: []string{"http://hub.example", "https://hub.example:8443"}, NoDemo: true})
	tests := []struct {
		host, path string
		want       int
	}{
		{"hub.example", "/herald.js", http.StatusOK},
		{"HUB.Example:80", "/herald.js", http.StatusOK},
		{"other.example", "/herald.js", http.StatusMisdirectedRequest},
		{"hub.example:8443", "/herald.js", http.StatusMisdirectedRequest}, // that origin is https
		{"other.example", "/.well-known/mercure?topic=a", http.StatusMisdirectedRequest},
		{"other.example", "/api/jobs", http.StatusMisdirectedRequest},
		{"other.example", metadataPath, http.StatusMisdirectedRequest},
		{"10.1.2.3:8080", "/healthz", http.StatusOK},
		{"10.1.2.3:8080", "/readyz", http.StatusOK},
		{"10.1.2.3:8080", "/metrics", http.StatusOK},
	}
	for _, tt := range tests {
		status, _, body := n.get(t, tt.host, tt.path, nil)
		if status != tt.want {
			t.Errorf("GET %s with Host %s: %d %q, want %d", tt.path, tt.host, status, body, tt.want)
			continue
		}
		if status == http.StatusMisdirectedRequest {
			line := strings.TrimSuffix(body, "\n")
			if strings.Contains(line, "\n") || !strings.Contains(line, "http://hub.example, https://hub.example:8443") || !strings.Contains(line, "http://"+strings.ToLower(tt.host)) {
				t.Errorf("421 for Host %s says %q; want one line naming the accepted origins and the one asked for", tt.host, body)
			}
		}
	}
}

func TestPublicURLSchemeComesFromATrustedProxyOnly(t *testing.T) {
	forwarded := http.Header{"X-Forwarded-Proto": {"https"}}
	behind := startNode(t, Config{PublicURLs: []string{"https://hub.example"}, NoDemo: true, TrustedProxies: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}})
	if status, _, body := behind.get(t, "hub.example", "/herald.js", forwarded); status != http.StatusOK {
		t.Errorf("https forwarded by a trusted proxy: %d %q, want 200", status, body)
	}
	if status, _, _ := behind.get(t, "hub.example", "/herald.js", nil); status != http.StatusMisdirectedRequest {
		t.Errorf("plain http to an https-only hub: %d, want 421", status)
	}
	direct := startNode(t, Config{PublicURLs: []string{"https://hub.example"}, NoDemo: true})
	if status, _, _ := direct.get(t, "hub.example", "/herald.js", forwarded); status != http.StatusMisdirectedRequest {
		t.Errorf("X-Forwarded-Proto from an untrusted peer was believed: %d, want 421", status)
	}
}

func TestPublicURLMustBeAnOrigin(t *testing.T) {
	for _, bad := range []string{"hub.example", "ftp://hub.example", "https://", "https://hub.example/hub", "https://user@hub.example", "https://hub.example?x=1", "/relative"} {
		_, err := New(context.Background(), Config{Log: "memory", DataDir: t.TempDir(), PublisherKey: publisherKey, PublicURLs: []string{bad}})
		if err == nil || !strings.Contains(err.Error(), "--public-url") || !strings.Contains(err.Error(), bad) {
			t.Errorf("public URL %q: error %v, want one naming it and --public-url", bad, err)
		}
	}
}
