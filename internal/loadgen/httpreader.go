package loadgen

import (
	"context"
	"crypto/tls"
	"fmt"
	"net/http"
	"net/url"
	"sync/atomic"

	"github.com/heraldhub/herald/sse"
)

// ReaderHTTP reads streams through net/http's client, which speaks TLS and
// HTTP/2 (Config.TLS, Config.HTTP2, Config.StreamsPerConn): a goroutine per
// stream, as a browser's connections would be served.
const ReaderHTTP = "http"

// streamClient is a client whose streams share one HTTP/2 connection.
type streamClient struct {
	*http.Client
	// opened is closed once the client's first stream has its answer (and
	// its connection): the others wait for it, or each would dial its own.
	opened chan struct{}
}

// httpClients returns the clients subscribers use, one per connection
// when streams share HTTP/2 connections: subscriber i uses
// clients[i/perConn]. A Transport keeps its own connections, so each
// client's streams share one.
func httpClients(cfg Config) []*streamClient {
	perConn := 1
	if cfg.HTTP2 {
		perConn = max(1, cfg.StreamsPerConn)
	}
	clients := make([]*streamClient, (cfg.Subscribers+perConn-1)/perConn)
	for i := range clients {
		t := &http.Transport{TLSClientConfig: cfg.TLS.Clone(), MaxIdleConnsPerHost: 1, ForceAttemptHTTP2: cfg.HTTP2, DisableCompression: true}
		if !cfg.HTTP2 {
			// An empty map turns HTTP/2 off.
			t.TLSNextProto = map[string]func(string, *tls.Conn) http.RoundTripper{}
		}
		clients[i] = &streamClient{&http.Client{Transport: t}, make(chan struct{})}
	}
	return clients
}

// httpStream opens one subscription with client, the client's first if
// first, and tallies what it receives until ctx ends, like stream.
func httpStream(ctx context.Context, client *streamClient, first bool, u *url.URL, s *sub, hist *histogram, deliveries *atomic.Int64, ready chan<- struct{}) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return err
	}
	req.Header.Set("Accept", "text/event-stream")
	if !first {
		select {
		case <-client.opened:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	resp, err := client.Do(req)
	if first {
		close(client.opened)
	}
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("subscribe: %s", resp.Status)
	}
	if ctx.Err() == nil && resp.ProtoMajor != 2 && client.Transport.(*http.Transport).ForceAttemptHTTP2 && u.Scheme == "https" {
		return fmt.Errorf("subscribe: the server answered %s, not HTTP/2", resp.Proto)
	}
	ready <- struct{}{}
	return tallyEvents(ctx, sse.NewDecoderSize(resp.Body, 1024), s, hist, deliveries)
}
