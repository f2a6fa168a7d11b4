package outbound

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"strings"
	"syscall"
)

// ErrNotAllowed reports a callback URL the allowlist refuses; an HTTP API
// answers it with 400.
var ErrNotAllowed = errors.New("callback URL not allowed")

// Allowlist is the set of hosts callbacks may go to: exact host names or
// addresses, and "*.example.com" for any name below example.com. The zero
// Allowlist allows nothing.
type Allowlist struct {
	exact    map[string]bool
	suffixes []string // ".example.com"
}

// ParseAllowlist returns the allowlist of patterns (a host, an address, or
// "*." followed by a domain), or an error naming the first bad one.
func ParseAllowlist(patterns []string) (Allowlist, error) {
	a := Allowlist{exact: map[string]bool{}}
	for _, p := range patterns {
		p = strings.ToLower(strings.TrimSpace(p))
		switch {
		case p == "":
			continue
		case strings.HasPrefix(p, "*."):
			if len(p) < 3 || strings.ContainsAny(p[2:], "*/:") {
				return Allowlist{}, fmt.Errorf("allowed host %q: use a host name, an address or *.domain", p)
			}
			a.suffixes = append(a.suffixes, p[1:])
		case strings.ContainsAny(p, "*/") || strings.Contains(p, "://"):
			return Allowlist{}, fmt.Errorf("allowed host %q: use a host name, an address or *.domain, without scheme or path", p)
		default:
			a.exact[strings.Trim(p, "[]")] = true
		}
	}
	return a, nil
}

// Empty reports whether the allowlist allows nothing (the feature it
// guards is off).
func (a Allowlist) Empty() bool { return len(a.exact) == 0 && len(a.suffixes) == 0 }

// Check returns nil if raw is an http or https URL whose host the
// allowlist names, and whose address, if it is one, is public or named
// exactly. Otherwise it returns an error wrapping ErrNotAllowed that says
// why.
func (a Allowlist) Check(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
		return fmt.Errorf("%w: %q is not an absolute http or https URL", ErrNotAllowed, raw)
	}
	if u.User != nil {
		return fmt.Errorf("%w: %q carries credentials; put a secret in the subscription instead", ErrNotAllowed, raw)
	}
	host := strings.ToLower(u.Hostname())
	if !a.hostAllowed(host) {
		return fmt.Errorf("%w: host %q is not in the allowlist (ask the operator to add it with --push-allow or --webhook-allow)", ErrNotAllowed, host)
	}
	if ip, err := netip.ParseAddr(host); err == nil && internal(ip) && !a.exact[ip.Unmap().String()] {
		return fmt.Errorf("%w: %s is a loopback or private address; allow it by its exact address", ErrNotAllowed, ip)
	}
	return nil
}

func (a Allowlist) hostAllowed(host string) bool {
	if a.exact[host] {
		return true
	}
	for _, s := range a.suffixes {
		if strings.HasSuffix(host, s) {
			return true
		}
	}
	return false
}

// internal reports whether ip is not a public address.
func internal(ip netip.Addr) bool {
	ip = ip.Unmap()
	return ip.IsLoopback() || ip.IsPrivate() || ip.IsLinkLocalUnicast() || ip.IsLinkLocalMulticast() ||
		ip.IsUnspecified() || ip.IsMulticast() || ip.IsInterfaceLocalMulticast()
}

// control refuses, at dial time, an internal address not named exactly:
// a public host name that resolves to a private address does not reach
// it.
func (a Allowlist) control(_, address string, _ syscall.RawConn) error {
	host, _, err := net.SplitHostPort(address)
	if err != nil {
		return err
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return err
	}
	if internal(ip) && !a.exact[ip.Unmap().String()] {
		return fmt.Errorf("%w: the callback host resolves to %s, a loopback or private address", ErrNotAllowed, ip)
	}
	return nil
}
