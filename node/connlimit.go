package node

import (
	"net"
	"net/http"
	"net/netip"
	"sync"

	"github.com/heraldhub/herald/internal/clientaddr"
)

// connLimit caps the connections from one client address that net/http
// serves: every connection but subscriptions, whose connections the hub
// takes over (hijacks) and MaxConnsPerIP counts instead. A connection over
// the cap is closed as it is accepted. Connections from trusted proxies
// carry many clients and are not capped; IPv6 peers are counted per /64.
type connLimit struct {
	max     int
	proxies *clientaddr.Resolver // their connections are not capped
	refused func()               // if set, told of each connection closed over the cap

	mu      sync.Mutex
	perAddr map[string]int
	conns   map[net.Conn]string
}

// track follows c through its states.
func (l *connLimit) track(c net.Conn, state http.ConnState) {
	l.mu.Lock()
	defer l.mu.Unlock()
	switch state {
	case http.StateNew:
		peer, _ := netip.ParseAddrPort(c.RemoteAddr().String())
		if l.proxies.Trusted(peer.Addr().Unmap()) {
			return
		}
		addr := clientaddr.Bucket(peer.Addr().Unmap())
		if l.perAddr[addr] >= l.max {
			if l.refused != nil {
				l.refused() // before the close, which the client may see at once
			}
			c.Close()
			return
		}
		l.perAddr[addr]++
		l.conns[c] = addr
	case http.StateHijacked, http.StateClosed:
		addr, ok := l.conns[c]
		if !ok {
			return
		}
		delete(l.conns, c)
		if l.perAddr[addr]--; l.perAddr[addr] <= 0 {
			delete(l.perAddr, addr)
		}
	}
}

// ConnState enforces Config.MaxRequestConnsPerIP: set it as the
// http.Server's ConnState. Without the cap it does nothing.
func (s *Node) ConnState(c net.Conn, state http.ConnState) {
	if s.conns != nil {
		s.conns.track(c, state)
	}
}
