package node

import (
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"

	"github.com/heraldhub/herald/internal/clientaddr"
	"github.com/heraldhub/herald/internal/httperr"
)

// probePaths answer on any host even with Config.PublicURLs set: probes
// and scrapers reach a node by its own address, not by the public name.
var probePaths = map[string]bool{"/healthz": true, "/readyz": true, "/metrics": true}

// origins tells the origin a request came to, and checks it against
// Config.PublicURLs.
type origins struct {
	proxies  *clientaddr.Resolver
	accepted map[string]bool // normalized origins; nil accepts any
	list     string          // the accepted origins, for the refusal
}

// newOrigins parses the public URLs: each must be an absolute http or
// https origin, such as https://example.com or http://localhost:8080.
func newOrigins(publicURLs []string, trusted []netip.Prefix) (*origins, error) {
	o := &origins{proxies: clientaddr.New(trusted)}
	var list []string
	for _, raw := range publicURLs {
		origin, err := parseOrigin(raw)
		if err != nil {
			return nil, fmt.Errorf("public URL %q: %w (--public-url)", raw, err)
		}
		if o.accepted == nil {
			o.accepted = map[string]bool{}
		}
		if !o.accepted[origin] {
			o.accepted[origin] = true
			list = append(list, origin)
		}
	}
	o.list = strings.Join(list, ", ")
	return o, nil
}

// parseOrigin checks that raw is an http(s) origin and returns it
// normalized.
func parseOrigin(raw string) (string, error) {
	u, err := url.Parse(raw)
	switch {
	case err != nil:
		return "", fmt.Errorf("not a URL: %v", err)
	case u.Scheme != "http" && u.Scheme != "https":
		return "", fmt.Errorf("want an absolute http or https URL such as https://example.com")
	case u.Host == "":
		return "", fmt.Errorf("no host: want a URL such as https://example.com")
	case u.User != nil || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "":
		return "", fmt.Errorf("want the origin only (scheme://host[:port]), without user, path, query or fragment")
	}
	return normalOrigin(u.Scheme, u.Host), nil
}

// normalOrigin returns scheme://host[:port] in lower case, without the
// scheme's default port.
func normalOrigin(scheme, host string) string {
	scheme, host = strings.ToLower(scheme), strings.ToLower(host)
	if h, port, err := net.SplitHostPort(host); err == nil && (scheme == "http" && port == "80" || scheme == "https" && port == "443") {
		host = h
		if strings.Contains(h, ":") {
			host = "[" + h + "]"
		}
	}
	return scheme + "://" + host
}

// of returns the origin r came to: its scheme (https over TLS, or the
// X-Forwarded-Proto a trusted proxy sets) and its Host.
func (o *origins) of(r *http.Request) string {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	if proto := r.Header.Get("X-Forwarded-Proto"); proto != "" && o.fromTrustedProxy(r) {
		if p := strings.ToLower(strings.TrimSpace(strings.Split(proto, ",")[0])); p == "http" || p == "https" {
			scheme = p
		}
	}
	return normalOrigin(scheme, r.Host)
}

func (o *origins) fromTrustedProxy(r *http.Request) bool {
	peer, err := netip.ParseAddrPort(r.RemoteAddr)
	return err == nil && o.proxies.Trusted(peer.Addr().Unmap())
}

// Handler answers 421 Misdirected Request to a request for an origin that
// is not a public URL, except on the probe paths, and passes the rest to
// next. Without public URLs it is next.
func (o *origins) Handler(next http.Handler) http.Handler {
	if o.accepted == nil {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if origin := o.of(r); !o.accepted[origin] && !probePaths[r.URL.Path] {
			httperr.LeaveBody(w, r)
			httperr.Write(w, httperr.Errorf(http.StatusMisdirectedRequest,
				"this hub answers on %s, not on %s: use one of those URLs (--public-url)", o.list, origin))
			return
		}
		next.ServeHTTP(w, r)
	})
}
