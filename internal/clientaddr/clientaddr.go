package clientaddr

import (
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strings"
)

// Resolver finds the client address of requests, believing forwarding
// headers only from trusted proxies. The zero Resolver trusts no proxy. It
// is safe for concurrent use.
type Resolver struct {
	trusted []netip.Prefix
}

// New returns a Resolver that believes forwarding headers from peers in
// trusted.
func New(trusted []netip.Prefix) *Resolver {
	return &Resolver{trusted: trusted}
}

// ParsePrefixes parses CIDR prefixes ("10.0.0.0/8", "2001:db8::/32") or
// single addresses ("192.0.2.1", taken as /32 or /128).
func ParsePrefixes(list []string) ([]netip.Prefix, error) {
	out := make([]netip.Prefix, 0, len(list))
	for _, s := range list {
		s = strings.TrimSpace(s)
		if s == "" {
			continue
		}
		if !strings.Contains(s, "/") {
			a, err := netip.ParseAddr(s)
			if err != nil {
				return nil, fmt.Errorf("trusted proxy %q is neither a CIDR prefix nor an address", s)
			}
			a = a.Unmap().WithZone("")
			out = append(out, netip.PrefixFrom(a, a.BitLen()))
			continue
		}
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return nil, fmt.Errorf("trusted proxy %q is not a CIDR prefix (e.g. 10.0.0.0/8): %w", s, err)
		}
		if p.Addr().Is4In6() {
			bits := p.Bits() - 96
			if bits < 0 {
				return nil, fmt.Errorf("trusted proxy %q: an IPv4-mapped prefix needs at least 96 bits", s)
			}
			p = netip.PrefixFrom(p.Addr().Unmap(), bits)
		}
		out = append(out, p.Masked())
	}
	return out, nil
}

// Trusted reports whether a is in one of the trusted prefixes.
func (r *Resolver) Trusted(a netip.Addr) bool {
	if r == nil {
		return false
	}
	for _, p := range r.trusted {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// Addr returns the address of the client behind req: the TCP peer, or, if
// the peer is a trusted proxy, the right-most untrusted hop of the
// forwarding headers. It returns the zero Addr only when req.RemoteAddr
// itself is not an address (as for requests built in tests).
func (r *Resolver) Addr(req *http.Request) netip.Addr {
	peer, ok := parseNode(req.RemoteAddr)
	if !ok || !r.Trusted(peer) {
		return peer
	}
	var hops []string
	if xff := req.Header.Values("X-Forwarded-For"); len(xff) > 0 {
		hops = splitList(strings.Join(xff, ","))
	} else if fwd := req.Header.Values("Forwarded"); len(fwd) > 0 {
		hops = forwardedFor(strings.Join(fwd, ","))
	}
	return r.rightmostUntrusted(peer, hops)
}

// rightmostUntrusted walks hops from the right, starting from the trusted
// peer that reported them.
func (r *Resolver) rightmostUntrusted(peer netip.Addr, hops []string) netip.Addr {
	last := peer
	for i := len(hops) - 1; i >= 0; i-- {
		a, ok := parseNode(hops[i])
		if !ok {
			return last
		}
		if !r.Trusted(a) {
			return a
		}
		last = a
	}
	return last
}

// Bucket returns the key a per-client limit counts a under: the address
// for IPv4, its /64 prefix for IPv6 ("2001:db8:1:2::/64"), and "unknown"
// for the zero Addr.
func Bucket(a netip.Addr) string {
	switch {
	case !a.IsValid():
		return "unknown"
	case a.Is4():
		return a.String()
	default:
		return netip.PrefixFrom(a.WithZone(""), 64).Masked().String()
	}
}

// parseNode reads one hop: an IPv4 address with or without a port, an
// IPv6 address bare or in brackets with or without a port, possibly
// quoted. IPv4-mapped IPv6 addresses are returned as IPv4 and zones are
// dropped.
func parseNode(s string) (netip.Addr, bool) {
	s = strings.TrimSpace(s)
	if len(s) >= 2 && s[0] == '"' && s[len(s)-1] == '"' {
		s = unquote(s[1 : len(s)-1])
	}
	if len(s) >= 2 && s[0] == '[' && s[len(s)-1] == ']' {
		s = s[1 : len(s)-1]
	}
	if a, err := netip.ParseAddr(s); err == nil {
		return a.Unmap().WithZone(""), true
	}
	host, _, err := net.SplitHostPort(s)
	if err != nil {
		return netip.Addr{}, false
	}
	a, err := netip.ParseAddr(host)
	if err != nil {
		return netip.Addr{}, false
	}
	return a.Unmap().WithZone(""), true
}

// forwardedFor returns the for= value of each element of a Forwarded
// header (RFC 7239), in order; an element without one gives "" (an
// unreadable hop).
func forwardedFor(header string) []string {
	var out []string
	for _, elem := range splitList(header) {
		var value string
		for _, pair := range splitQuoted(elem, ';') {
			name, v, ok := strings.Cut(pair, "=")
			if ok && strings.EqualFold(strings.TrimSpace(name), "for") {
				value = strings.TrimSpace(v)
			}
		}
		out = append(out, value)
	}
	return out
}

// splitList splits a comma-separated header value, keeping quoted strings
// whole.
func splitList(s string) []string { return splitQuoted(s, ',') }

// splitQuoted splits s at sep outside double quotes; a backslash inside
// quotes escapes the next byte. Parts are trimmed of spaces.
func splitQuoted(s string, sep byte) []string {
	var parts []string
	quoted, escaped, start := false, false, 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case escaped:
			escaped = false
		case quoted && c == '\\':
			escaped = true
		case c == '"':
			quoted = !quoted
		case !quoted && c == sep:
			parts = append(parts, strings.TrimSpace(s[start:i]))
			start = i + 1
		}
	}
	return append(parts, strings.TrimSpace(s[start:]))
}

// unquote removes the backslashes of a quoted string's quoted pairs.
func unquote(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+1 < len(s) {
			i++
		}
		b.WriteByte(s[i])
	}
	return b.String()
}
