package tcpproxy

import (
	"io"
	"net"
	"sync"
	"sync/atomic"
)

// Proxy forwards connections from a loopback port to a target address
// (or, round-robin, to one of several) until it is cut. Its methods are
// safe for concurrent use.
type Proxy struct {
	targets []string
	next    atomic.Uint64 // the target the next connection tries first
	ln      net.Listener
	addr    string

	mu    sync.Mutex
	conns map[net.Conn]struct{}
	wg    sync.WaitGroup
}

// Start listens on a free loopback port and forwards to target.
func Start(target string) (*Proxy, error) { return StartRoundRobin(target) }

// StartRoundRobin listens on a free loopback port and forwards each
// connection to the next of targets in turn, as a load balancer does:
// a target that refuses the connection is skipped for the one after it,
// and the client's connection is closed only if every target refuses.
func StartRoundRobin(targets ...string) (*Proxy, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	p := &Proxy{targets: targets, addr: ln.Addr().String(), conns: make(map[net.Conn]struct{})}
	p.serve(ln)
	return p, nil
}

// dial connects to the next target that accepts, trying each once.
func (p *Proxy) dial() (net.Conn, error) {
	first := p.next.Add(1) - 1
	var err error
	for i := range uint64(len(p.targets)) {
		var c net.Conn
		if c, err = net.Dial("tcp", p.targets[(first+i)%uint64(len(p.targets))]); err == nil {
			return c, nil
		}
	}
	return nil, err
}

// Addr is the proxy's address, "127.0.0.1:PORT"; it stays the same across
// Cut and Restore.
func (p *Proxy) Addr() string { return p.addr }

func (p *Proxy) serve(ln net.Listener) {
	p.mu.Lock()
	p.ln = ln
	p.mu.Unlock()
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			up, err := p.dial()
			if err != nil {
				c.Close()
				continue
			}
			p.mu.Lock()
			if p.ln != ln {
				// Cut came while this connection was being set up: it
				// must not outlive the cut (nor keep Cut waiting).
				p.mu.Unlock()
				c.Close()
				up.Close()
				return
			}
			p.conns[c], p.conns[up] = struct{}{}, struct{}{}
			p.wg.Add(2)
			p.mu.Unlock()
			go p.pipe(c, up)
			go p.pipe(up, c)
		}
	}()
}

func (p *Proxy) pipe(dst, src net.Conn) {
	defer p.wg.Done()
	io.Copy(dst, src)
	dst.Close()
	src.Close()
	p.mu.Lock()
	delete(p.conns, dst)
	delete(p.conns, src)
	p.mu.Unlock()
}

// Cut stops accepting and closes every forwarded connection, as if the
// service had gone away.
func (p *Proxy) Cut() {
	p.mu.Lock()
	if p.ln != nil {
		p.ln.Close()
		p.ln = nil
	}
	for c := range p.conns {
		c.Close()
	}
	p.mu.Unlock()
	p.wg.Wait()
}

// Restore listens again on the same address.
func (p *Proxy) Restore() error {
	ln, err := net.Listen("tcp", p.addr)
	if err != nil {
		return err
	}
	p.serve(ln)
	return nil
}

// Close cuts the proxy for good.
func (p *Proxy) Close() { p.Cut() }
