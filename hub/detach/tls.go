package detach

import (
	"crypto/tls"
	"net"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// Streams under TLS are detached too. A *tls.Conn writes each record to
// the connection under it and waits until that takes it, so the engine
// cannot hand it to a full socket. Instead the connection under it is a
// capturing one (TLSListener makes it so): once the stream is adopted,
// what TLS writes to it is kept, not sent, and the engine sends those
// records itself, without waiting, exactly as it sends a plain stream's
// chunks. The client's departure is noticed on the socket as for a plain
// stream: nothing is read from the TLS connection again.

// TLSListener returns ln with every connection it accepts made ready for
// its streams to be detached once TLS is layered on it: pass it where the
// TLS listener wraps the TCP one. Until a stream is adopted, and on a
// connection never adopted (HTTP/2, other requests), the connections read
// and write as before.
func TLSListener(ln net.Listener) net.Listener { return tlsListener{ln} }

type tlsListener struct{ net.Listener }

func (l tlsListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	if _, ok := c.(syscall.Conn); !ok {
		return c, nil // nothing to detach: no socket under it
	}
	return &captureConn{Conn: c}, nil
}

// captureConn is a connection under TLS whose writes, once capturing,
// are appended to sealed instead of being sent.
type captureConn struct {
	net.Conn
	capturing atomic.Bool
	sealed    []byte // written by the TLS connection while capturing
}

func (c *captureConn) Write(p []byte) (int, error) {
	if c.capturing.Load() {
		c.sealed = append(c.sealed, p...)
		return len(p), nil
	}
	return c.Conn.Write(p)
}

// SetWriteDeadline is ignored while capturing: a write then cannot wait,
// and a deadline left on the socket would fail the engine's writes.
func (c *captureConn) SetWriteDeadline(t time.Time) error {
	if c.capturing.Load() {
		return nil
	}
	return c.Conn.SetWriteDeadline(t)
}

func (c *captureConn) SetDeadline(t time.Time) error {
	if c.capturing.Load() {
		return c.Conn.SetReadDeadline(t)
	}
	return c.Conn.SetDeadline(t)
}

// NetConn returns the TCP connection.
func (c *captureConn) NetConn() net.Conn { return c.Conn }

// adoptable returns the capturing connection under conn, a TLS
// connection TLSListener accepted, and the socket under that.
func adoptable(conn net.Conn) (*tls.Conn, net.Conn, bool) {
	tc, ok := conn.(*tls.Conn)
	if !ok {
		return nil, conn, true
	}
	cc, ok := tc.NetConn().(*captureConn)
	if !ok {
		return nil, nil, false
	}
	return tc, cc.Conn, true
}

// sealPool holds the buffers a chunk's plaintext is gathered in, and
// those its records are sealed into; an idle stream keeps neither.
var sealPool = sync.Pool{New: func() any { return new([]byte) }}

// maxPooled bounds the buffers sealPool keeps: a burst's larger buffers
// are left to the collector.
const maxPooled = 64 << 10

func putSealBuf(b []byte) {
	if cap(b) <= maxPooled {
		b = b[:0]
		sealPool.Put(&b)
	}
}

// seal replaces d.out, one chunk in plaintext, with its TLS records.
func (d *Stream) seal() error {
	bp := sealPool.Get().(*[]byte)
	plain := (*bp)[:0]
	for _, b := range d.out {
		plain = append(plain, b...)
	}
	clear(d.out)
	sealed, err := d.sealBytes(plain)
	*bp = plain[:0]
	if cap(plain) <= maxPooled {
		sealPool.Put(bp)
	}
	d.out = append(d.out[:0], sealed)
	return err
}

// sealBytes returns p in TLS records, in a buffer from sealPool.
func (d *Stream) sealBytes(p []byte) ([]byte, error) {
	cc := d.tls.NetConn().(*captureConn)
	cc.sealed = (*sealPool.Get().(*[]byte))[:0]
	_, err := d.tls.Write(p)
	sealed := cc.sealed
	cc.sealed = nil
	return sealed, err
}

// sealClose returns the TLS alert that tells the client the stream ends,
// after p, in TLS records.
func (d *Stream) sealClose(p []byte) []byte {
	sealed, _ := d.sealBytes(p)
	cc := d.tls.NetConn().(*captureConn)
	cc.sealed = sealed
	d.tls.CloseWrite()
	sealed, cc.sealed = cc.sealed, nil
	return sealed
}

// writeLast writes p, the stream's last bytes, as far as the socket takes
// them at once; under TLS, sealed and followed by the alert that ends it.
func (d *Stream) writeLast(p []byte) {
	if d.tls == nil {
		d.writeNow([][]byte{p}, 0)
		return
	}
	sealed := d.sealClose(p)
	d.writeNow([][]byte{sealed}, 0)
	putSealBuf(sealed)
}

// capture turns capturing on or off for a stream under TLS.
func (d *Stream) capture(on bool) {
	if d.tls != nil {
		d.tls.NetConn().(*captureConn).capturing.Store(on)
	}
}
