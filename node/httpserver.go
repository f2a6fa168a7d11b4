package node

import (
	"context"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/heraldhub/herald/hub/detach"
)

// The node's HTTP server limits. Streams are responses, so readTimeout
// bounds request bodies only: boundBodies sets it on each request that
// has a body, not http.Server.ReadTimeout, which over HTTP/2 arms a timer
// for every stream, subscriptions included, that each idle subscriber
// would keep for its first minute.
const (
	readHeaderTimeout = 10 * time.Second

	idleTimeout    = 2 * time.Minute
	maxHeaderBytes = 64 << 10
)

// readTimeout bounds the time a request's body may take (a variable for
// tests).
var readTimeout = time.Minute

// newHTTPServer makes the http.Server that Serve and Shutdown run.
//
// SSE streams never go idle, so http.Server.Shutdown would wait for them
// forever: Drain ends them first, each with a reconnection hint.
// Connections that have not sent a request yet would hold Shutdown for
// five seconds: they are closed too.
func (s *Node) newHTTPServer() *http.Server {
	hs := &http.Server{
		Handler:           boundBodies(s.handler),
		ReadHeaderTimeout: readHeaderTimeout,
		IdleTimeout:       idleTimeout,
		MaxHeaderBytes:    maxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(s.cfg.Logger.Handler(), slog.LevelWarn),
		ConnState: func(c net.Conn, state http.ConnState) {
			s.ConnState(c, state) // the cap on connections that are not subscriptions
			s.fresh.track(c, state)
		},
	}
	hs.RegisterOnShutdown(s.Drain)
	hs.RegisterOnShutdown(s.fresh.close)
	return hs
}

// boundBodies gives a request with a body readTimeout to send it, over
// HTTP/1.1 (a read deadline on the connection) as over HTTP/2 (a timer
// for that stream only). Requests without one, such as subscriptions,
// cost no timer; their headers are bounded by readHeaderTimeout, and a
// connection that sends nothing more by idleTimeout.
func boundBodies(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.ContentLength != 0 {
			_ = http.NewResponseController(w).SetReadDeadline(time.Now().Add(readTimeout))
		}
		h.ServeHTTP(w, r)
	})
}

// Serve serves the node on the connections ln accepts until Shutdown, when
// it returns http.ErrServerClosed; any other error ends it too.
func (s *Node) Serve(ln net.Listener) error { return s.http.Serve(ln) }

// ServeTLS is Serve over TLS (and HTTP/2), with the PEM certificate and
// private key in certFile and keyFile. Streams over HTTP/1.1 are detached
// as over plain TCP: the hub's engine seals and writes them, with no
// goroutine or buffer per idle subscriber.
func (s *Node) ServeTLS(ln net.Listener, certFile, keyFile string) error {
	return s.http.ServeTLS(detach.TLSListener(ln), certFile, keyFile)
}

// Shutdown stops Serve in order: readiness fails, every stream ends with a
// reconnection hint (Drain), connections that sent nothing are closed, and
// requests under way finish. If ctx ends first, the remaining connections
// are closed at once and ctx's error returned. Close still releases the
// node afterwards.
func (s *Node) Shutdown(ctx context.Context) error {
	err := s.http.Shutdown(ctx)
	if err != nil {
		s.http.Close()
	}
	return err
}

// freshConns tracks the connections that have not sent a byte of a
// request yet (browsers open them ahead of time). net/http's Shutdown
// waits five seconds for such a connection's first request; during a
// shutdown they are closed at once instead, which loses nothing: the
// client has sent nothing, and opens another connection when it needs one.
type freshConns struct {
	mu      sync.Mutex
	conns   map[net.Conn]struct{}
	closing bool
}

// track is the server's ConnState hook.
func (f *freshConns) track(c net.Conn, state http.ConnState) {
	f.mu.Lock()
	defer f.mu.Unlock()
	switch {
	case state != http.StateNew:
		delete(f.conns, c)
	case f.closing:
		c.Close()
	default:
		if f.conns == nil {
			f.conns = make(map[net.Conn]struct{})
		}
		f.conns[c] = struct{}{}
	}
}

// close closes the connections that have sent nothing yet, and those that
// arrive from now on.
func (f *freshConns) close() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.closing = true
	for c := range f.conns {
		c.Close()
	}
	clear(f.conns)
}
