package doctor_test

import (
	"compress/gzip"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"sync"
	"testing"
	"time"
)

// The misbehaving proxies the doctor must catch, as response-body rewrites
// of a reverse proxy (which otherwise forwards an event stream as it comes).

// startProxy serves a reverse proxy to target whose response bodies pass
// through rewrite (nil: unchanged), until the test ends.
func startProxy(t *testing.T, target string, rewrite func(*http.Response)) *httptest.Server {
	t.Helper()
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	rp := httputil.NewSingleHostReverseProxy(u)
	rp.ErrorLog = discardLog
	rp.ErrorHandler = func(w http.ResponseWriter, r *http.Request, err error) { w.WriteHeader(http.StatusBadGateway) }
	if rewrite != nil {
		rp.ModifyResponse = func(resp *http.Response) error {
			if resp.Header.Get("Content-Type") == "text/event-stream" {
				rewrite(resp)
			}
			return nil
		}
	}
	srv := httptest.NewUnstartedServer(rp)
	srv.Config.ErrorLog = discardLog
	srv.Start()
	t.Cleanup(func() {
		srv.CloseClientConnections()
		srv.Close()
	})
	return srv
}

// chunk is what one read of the upstream body returned, and when.
type chunk struct {
	b   []byte
	err error
	at  time.Time
}

// pumped is a body whose reads of the upstream body happen in a goroutine
// that sends each to chunks; Close ends it and waits for it.
type pumped struct {
	upstream io.ReadCloser
	chunks   chan chunk
	closed   chan struct{}
	once     sync.Once
	wg       sync.WaitGroup
	pending  []byte
}

func pump(body io.ReadCloser) *pumped {
	p := &pumped{upstream: body, chunks: make(chan chunk, 64), closed: make(chan struct{})}
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		for {
			buf := make([]byte, 4096)
			n, err := body.Read(buf)
			select {
			case p.chunks <- chunk{buf[:n], err, time.Now()}:
			case <-p.closed:
				return
			}
			if err != nil {
				return
			}
		}
	}()
	return p
}

func (p *pumped) Close() error {
	p.once.Do(func() { close(p.closed) })
	err := p.upstream.Close()
	p.wg.Wait()
	return err
}

// next returns the next chunk, or an error once the body is closed or
// after idle without one (if idle > 0).
func (p *pumped) next(idle time.Duration) chunk {
	var timeout <-chan time.Time
	if idle > 0 {
		timer := time.NewTimer(idle)
		defer timer.Stop()
		timeout = timer.C
	}
	select {
	case c := <-p.chunks:
		return c
	case <-p.closed:
		return chunk{err: io.ErrClosedPipe}
	case <-timeout:
		return chunk{err: errors.New("idle timeout")}
	}
}

// relay passes the upstream body on, each chunk delay after it arrived
// (a proxy that buffers), and ends it after idle without one, if idle > 0
// (a proxy with a short idle timeout).
type relay struct {
	*pumped
	delay, idle time.Duration
}

func (r *relay) Read(b []byte) (int, error) {
	if len(r.pending) == 0 {
		c := r.next(r.idle)
		if c.err != nil {
			return 0, c.err
		}
		if wait := time.Until(c.at.Add(r.delay)); wait > 0 {
			select {
			case <-time.After(wait):
			case <-r.closed:
				return 0, io.ErrClosedPipe
			}
		}
		r.pending = c.b
	}
	n := copy(b, r.pending)
	r.pending = r.pending[n:]
	return n, nil
}

// delay makes the proxy hold every part of the stream back by d.
func delay(d time.Duration) func(*http.Response) {
	return func(resp *http.Response) { resp.Body = &relay{pumped: pump(resp.Body), delay: d} }
}

// cutIdle makes the proxy end a stream idle for d.
func cutIdle(d time.Duration) func(*http.Response) {
	return func(resp *http.Response) { resp.Body = &relay{pumped: pump(resp.Body), idle: d} }
}

// gzipStream compresses the stream, flushing the compressor after each
// read so that only the encoding gives it away.
func gzipStream(resp *http.Response) {
	upstream := resp.Body
	pr, pw := io.Pipe()
	done := make(chan struct{})
	go func() {
		defer close(done)
		zw := gzip.NewWriter(pw)
		buf := make([]byte, 4096)
		for {
			n, err := upstream.Read(buf)
			if n > 0 {
				if _, werr := zw.Write(buf[:n]); werr != nil {
					return
				}
				if zw.Flush() != nil {
					return
				}
			}
			if err != nil {
				zw.Close()
				pw.CloseWithError(err)
				return
			}
		}
	}()
	resp.Body = closeFunc{pr, func() error {
		pr.Close()
		err := upstream.Close()
		<-done
		return err
	}}
	resp.Header.Set("Content-Encoding", "gzip")
	resp.Header.Del("Content-Length")
}

// holdAll answers only once the upstream stream has ended: a proxy that
// buffers whole responses.
func holdAll(resp *http.Response) {
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	resp.Body = closeFunc{&errReader{b: b, err: err}, func() error { return nil }}
}

type closeFunc struct {
	io.Reader
	close func() error
}

func (c closeFunc) Close() error { return c.close() }

type errReader struct {
	b   []byte
	err error
}

func (e *errReader) Read(p []byte) (int, error) {
	if len(e.b) == 0 {
		return 0, e.err
	}
	n := copy(p, e.b)
	e.b = e.b[n:]
	return n, nil
}
