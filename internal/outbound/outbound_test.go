package outbound_test

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/heraldhub/herald/internal/outbound"
	"github.com/heraldhub/herald/internal/outbound/outboundtest"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestAllowlistRefusesHostsItDoesNotName(t *testing.T) {
	allow, err := outbound.ParseAllowlist([]string{"hooks.example.com", "*.corp.example", "127.0.0.1", "10.1.2.3"})
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		url string
		ok  bool
	}{
		{"https://hooks.example.com/in", true},
		{"http://hooks.example.com:8443/in", true},
		{"https://a.corp.example/x", true},
		{"https://a.b.corp.example/x", true},
		{"https://corp.example/x", false}, // *.corp.example is below it only
		{"https://evil.example.com/x", false},
		{"https://hooks.example.com.evil.net/x", false},
		{"http://127.0.0.1:9/cb", true}, // named exactly
		{"http://10.1.2.3/cb", true},
		{"http://127.0.0.2/cb", false},
		{"http://[::1]/cb", false},
		{"http://192.168.1.1/cb", false},
		{"ftp://hooks.example.com/x", false},
		{"/relative", false},
		{"https://user:pw@hooks.example.com/x", false},
	}
	for _, c := range cases {
		err := allow.Check(c.url)
		if (err == nil) != c.ok {
			t.Errorf("Check(%q) = %v, want allowed %v", c.url, err, c.ok)
		}
		if err != nil && !errors.Is(err, outbound.ErrNotAllowed) {
			t.Errorf("Check(%q) = %v, want ErrNotAllowed", c.url, err)
		}
	}
	// A private address is refused, even under an allowed suffix, unless
	// named exactly.
	wide, _ := outbound.ParseAllowlist([]string{"*.0.0.1"})
	if wide.Check("http://127.0.0.1/") == nil {
		t.Error("a suffix pattern allowed a loopback address")
	}
	for _, bad := range []string{"http://x.com", "x.com/path", "*.", "*"} {
		if _, err := outbound.ParseAllowlist([]string{bad}); err == nil {
			t.Errorf("ParseAllowlist(%q) accepted it", bad)
		}
	}
}

func TestHostNameResolvingToLoopbackIsRefusedAtDial(t *testing.T) {
	recv := outboundtest.New(t, []byte("secret"))
	u, _ := url.Parse(recv.URL)
	u.Host = "localhost:" + u.Port() // allowed by name, resolves to loopback
	allow, _ := outbound.ParseAllowlist([]string{"localhost"})
	e := outbound.New(allow, outbound.Policy{MaxAttempts: 1, MinBackoff: time.Millisecond})
	defer e.Close()
	var attempts []outbound.Attempt
	err := e.Deliver(context.Background(), outbound.Target{URL: u.String(), Secret: []byte("secret")}, "1", []byte("{}"), func(a outbound.Attempt) { attempts = append(attempts, a) })
	if !errors.Is(err, outbound.ErrGaveUp) || recv.Attempts() != 0 {
		t.Fatalf("Deliver = %v with %d requests received, want refused before connecting", err, recv.Attempts())
	}
	if len(attempts) != 1 || attempts[0].Status != 0 || attempts[0].Error == "" {
		t.Fatalf("attempts %+v, want one failed without a status", attempts)
	}
}

func TestDeliverRetriesUntilAcknowledgedAndLogsEachAttempt(t *testing.T) {
	secret := []byte("secret-for-the-test")
	recv := outboundtest.New(t, secret)
	recv.Respond(func(n int, _ []byte) int {
		if n <= 3 {
			return http.StatusInternalServerError
		}
		return http.StatusNoContent
	})
	allow, _ := outbound.ParseAllowlist([]string{"127.0.0.1"})
	e := outbound.New(allow, outbound.Policy{MinBackoff: time.Millisecond, MaxBackoff: 4 * time.Millisecond})
	defer e.Close()
	h := &outbound.History{Max: 3}
	if err := e.Deliver(context.Background(), outbound.Target{URL: recv.URL, Secret: secret}, "ev-1", []byte(`{"a":1}`), h.Add); err != nil {
		t.Fatal(err)
	}
	if got := recv.Accepted(); len(got) != 1 || string(got[0]) != `{"a":1}` || recv.BadSignatures() != 0 {
		t.Fatalf("receiver acknowledged %q with %d bad signatures", got, recv.BadSignatures())
	}
	list := h.List()
	if len(list) != 3 || list[0].Status != 500 || list[2].Status != 204 || list[2].Delivery != "ev-1" || list[2].Error != "" {
		t.Fatalf("delivery log %+v, want the last 3 of 4 attempts: 500, 500, 204", list)
	}
}

func TestDeliverGivesUpAfterMaxAttemptsOrDeadline(t *testing.T) {
	recv := outboundtest.New(t, []byte("k"))
	recv.Respond(func(int, []byte) int { return http.StatusServiceUnavailable })
	allow, _ := outbound.ParseAllowlist([]string{"127.0.0.1"})
	for _, p := range []outbound.Policy{
		{MinBackoff: time.Millisecond, MaxAttempts: 4},
		{MinBackoff: 20 * time.Millisecond, Deadline: 50 * time.Millisecond},
	} {
		e := outbound.New(allow, p)
		n := 0
		err := e.Deliver(context.Background(), outbound.Target{URL: recv.URL, Secret: []byte("k")}, "x", []byte("{}"), func(outbound.Attempt) { n++ })
		e.Close()
		if !errors.Is(err, outbound.ErrGaveUp) {
			t.Fatalf("policy %+v: Deliver = %v, want ErrGaveUp", p, err)
		}
		if p.MaxAttempts > 0 && n != p.MaxAttempts {
			t.Fatalf("policy %+v: %d attempts", p, n)
		}
	}
}
