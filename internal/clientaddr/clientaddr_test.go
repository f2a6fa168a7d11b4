package clientaddr

import (
	"net/http"
	"net/netip"
	"testing"
)

func resolver(t *testing.T, cidrs ...string) *Resolver {
	t.Helper()
	p, err := ParsePrefixes(cidrs)
	if err != nil {
		t.Fatal(err)
	}
	return New(p)
}

func request(peer string, header http.Header) *http.Request {
	return &http.Request{RemoteAddr: peer, Header: header}
}

func TestClientAddressFromForwardingHeaders(t *testing.T) {
	r := resolver(t, "10.0.0.0/8", "2001:db8:ffff::/48", "192.0.2.7")
	tests := []struct {
		name   string
		peer   string
		header http.Header
		want   string
	}{
		{"no proxy: the peer", "198.51.100.1:5000", nil, "198.51.100.1"},
		{"untrusted peer: spoofed X-Forwarded-For ignored", "198.51.100.1:5000", http.Header{"X-Forwarded-For": {"203.0.113.9"}}, "198.51.100.1"},
		{"untrusted peer: spoofed Forwarded ignored", "198.51.100.1:5000", http.Header{"Forwarded": {"for=203.0.113.9"}}, "198.51.100.1"},
		{"trusted peer without headers: the peer", "10.0.0.2:80", nil, "10.0.0.2"},
		{"trusted peer: X-Forwarded-For's one hop", "10.0.0.2:80", http.Header{"X-Forwarded-For": {"203.0.113.9"}}, "203.0.113.9"},
		{"right-most untrusted hop, client's own entries ignored", "10.0.0.2:80", http.Header{"X-Forwarded-For": {"1.1.1.1, 203.0.113.9"}}, "203.0.113.9"},
		{"trusted hops skipped", "10.0.0.2:80", http.Header{"X-Forwarded-For": {"1.1.1.1, 203.0.113.9, 10.1.1.1, 192.0.2.7"}}, "203.0.113.9"},
		{"several X-Forwarded-For headers in order", "10.0.0.2:80", http.Header{"X-Forwarded-For": {"1.1.1.1", "203.0.113.9, 10.1.1.1"}}, "203.0.113.9"},
		{"every hop trusted: the left-most", "10.0.0.2:80", http.Header{"X-Forwarded-For": {"10.9.9.9, 10.1.1.1"}}, "10.9.9.9"},
		{"IPv4 with a port", "10.0.0.2:80", http.Header{"X-Forwarded-For": {"203.0.113.9:4711"}}, "203.0.113.9"},
		{"bare IPv6", "10.0.0.2:80", http.Header{"X-Forwarded-For": {"2001:db8:1::5"}}, "2001:db8:1::5"},
		{"IPv6 in brackets", "10.0.0.2:80", http.Header{"X-Forwarded-For": {"[2001:db8:1::5]"}}, "2001:db8:1::5"},
		{"IPv6 in brackets with a port", "10.0.0.2:80", http.Header{"X-Forwarded-For": {"[2001:db8:1::5]:4711"}}, "2001:db8:1::5"},
		{"IPv6 with a zone", "10.0.0.2:80", http.Header{"X-Forwarded-For": {"fe80::1%eth0"}}, "fe80::1"},
		{"IPv4-mapped IPv6", "10.0.0.2:80", http.Header{"X-Forwarded-For": {"::ffff:203.0.113.9"}}, "203.0.113.9"},
		{"trusted IPv6 peer", "[2001:db8:ffff::1]:443", http.Header{"X-Forwarded-For": {"203.0.113.9"}}, "203.0.113.9"},
		{"malformed hop: the proxy that reported it", "10.0.0.2:80", http.Header{"X-Forwarded-For": {"203.0.113.9, not-an-address"}}, "10.0.0.2"},
		{"malformed hop behind a trusted hop", "10.0.0.2:80", http.Header{"X-Forwarded-For": {"garbage, 10.1.1.1"}}, "10.1.1.1"},
		{"empty hop", "10.0.0.2:80", http.Header{"X-Forwarded-For": {"203.0.113.9,,"}}, "10.0.0.2"},
		{"Forwarded for=", "10.0.0.2:80", http.Header{"Forwarded": {"for=203.0.113.9;proto=https;by=10.0.0.2"}}, "203.0.113.9"},
		{"Forwarded name case-insensitive", "10.0.0.2:80", http.Header{"Forwarded": {"For=203.0.113.9"}}, "203.0.113.9"},
		{"Forwarded quoted IPv6 with port", "10.0.0.2:80", http.Header{"Forwarded": {`for="[2001:db8:1::5]:4711"`}}, "2001:db8:1::5"},
		{"Forwarded several elements", "10.0.0.2:80", http.Header{"Forwarded": {"for=1.1.1.1, for=203.0.113.9", "for=10.1.1.1"}}, "203.0.113.9"},
		{"Forwarded quoted comma and semicolon", "10.0.0.2:80", http.Header{"Forwarded": {`for=1.1.1.1;ext="a,b;c", for=203.0.113.9`}}, "203.0.113.9"},
		{"Forwarded obfuscated identifier", "10.0.0.2:80", http.Header{"Forwarded": {"for=203.0.113.9, for=_hidden"}}, "10.0.0.2"},
		{"Forwarded unknown", "10.0.0.2:80", http.Header{"Forwarded": {"for=unknown"}}, "10.0.0.2"},
		{"Forwarded element without for", "10.0.0.2:80", http.Header{"Forwarded": {"for=203.0.113.9, proto=https"}}, "10.0.0.2"},
		{"Forwarded unterminated quote", "10.0.0.2:80", http.Header{"Forwarded": {`for="203.0.113.9`}}, "10.0.0.2"},
		{"X-Forwarded-For preferred over Forwarded", "10.0.0.2:80", http.Header{"X-Forwarded-For": {"203.0.113.9"}, "Forwarded": {"for=1.1.1.1"}}, "203.0.113.9"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := r.Addr(request(tt.peer, tt.header))
			if got.String() != tt.want {
				t.Errorf("client address %v, want %s", got, tt.want)
			}
		})
	}
}

func TestZeroResolverTrustsNoProxy(t *testing.T) {
	var r *Resolver
	got := r.Addr(request("10.0.0.2:80", http.Header{"X-Forwarded-For": {"203.0.113.9"}}))
	if got.String() != "10.0.0.2" {
		t.Fatalf("client address %v, want the peer", got)
	}
}

func TestBucketGroupsIPv6By64(t *testing.T) {
	tests := []struct{ addr, want string }{
		{"203.0.113.9", "203.0.113.9"},
		{"2001:db8:1:2::5", "2001:db8:1:2::/64"},
		{"2001:db8:1:2:ffff:ffff:ffff:ffff", "2001:db8:1:2::/64"},
		{"2001:db8:1:3::5", "2001:db8:1:3::/64"},
	}
	for _, tt := range tests {
		if got := Bucket(netip.MustParseAddr(tt.addr)); got != tt.want {
			t.Errorf("Bucket(%s) = %s, want %s", tt.addr, got, tt.want)
		}
	}
	if got := Bucket(netip.Addr{}); got != "unknown" {
		t.Errorf("Bucket of no address = %s, want unknown", got)
	}
}

func TestParsePrefixes(t *testing.T) {
	got, err := ParsePrefixes([]string{"10.0.0.0/8", " 192.0.2.7 ", "2001:db8::/32", "::ffff:10.0.0.0/104", "10.1.2.3/8", ""})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"10.0.0.0/8", "192.0.2.7/32", "2001:db8::/32", "10.0.0.0/8", "10.0.0.0/8"}
	if len(got) != len(want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	for i := range want {
		if got[i].String() != want[i] {
			t.Errorf("prefix %d = %v, want %s", i, got[i], want[i])
		}
	}
	for _, bad := range []string{"10.0.0.0/33", "proxy.example.com", "10.0.0.0/", "::ffff:10.0.0.0/90"} {
		if _, err := ParsePrefixes([]string{bad}); err == nil {
			t.Errorf("ParsePrefixes(%q) succeeded, want an error", bad)
		}
	}
}

// FuzzAddr checks that no header makes Addr panic, and that the address it
// returns is always the peer or one of the hops the headers name, never
// an untrusted peer's claim.
func FuzzAddr(f *testing.F) {
	for _, seed := range []struct{ xff, fwd string }{
		{"203.0.113.9", ""},
		{"1.1.1.1, 203.0.113.9, 10.1.1.1", ""},
		{"[2001:db8:1::5]:4711", ""},
		{"fe80::1%eth0", ""},
		{"203.0.113.9,,", ""},
		{"", "for=203.0.113.9;proto=https;by=10.0.0.2"},
		{"", `for="[2001:db8:1::5]:4711"`},
		{"", `for=1.1.1.1;ext="a,b;c", for=203.0.113.9`},
		{"", "for=_hidden, for=unknown"},
		{"", `for="203.0.113.9`},
		{"", `for="\"\\[::1]"`},
	} {
		f.Add(seed.xff, seed.fwd)
	}
	trusting := New([]netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")})
	f.Fuzz(func(t *testing.T, xff, fwd string) {
		h := http.Header{}
		if xff != "" {
			h.Set("X-Forwarded-For", xff)
		}
		if fwd != "" {
			h.Set("Forwarded", fwd)
		}
		if got := trusting.Addr(request("198.51.100.1:5000", h)); got.String() != "198.51.100.1" {
			t.Fatalf("untrusted peer: client address %v, want the peer", got)
		}
		got := trusting.Addr(request("10.0.0.2:80", h))
		if !got.IsValid() {
			t.Fatalf("trusted peer: no client address")
		}
		_ = Bucket(got)
	})
}
