package doctor_test

import (
	"context"
	"io"
	"log"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"go.uber.org/goleak"

	"github.com/heraldhub/herald/internal/doctor"
	"github.com/heraldhub/herald/node"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const (
	publisherKey = "doctor-test-publisher-key-0123456789abcdef"
	appOrigin    = "https://app.example.com"
)

var discardLog = log.New(io.Discard, "", 0)

// startHerald serves a Herald node on a memory log on loopback, over
// HTTP/2 with TLS if tls is set, until the test ends.
func startHerald(t *testing.T, tls bool) *httptest.Server {
	t.Helper()
	srv, err := node.New(context.Background(), node.Config{
		Log: "memory", DataDir: t.TempDir(), PublisherKey: publisherKey,
		CORSOrigins: []string{appOrigin}, NoDemo: true,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewUnstartedServer(srv.Handler())
	hs.Config.RegisterOnShutdown(srv.Drain)
	hs.Config.ErrorLog = discardLog
	if tls {
		hs.EnableHTTP2 = true
		hs.StartTLS()
	} else {
		hs.Start()
	}
	t.Cleanup(func() {
		srv.Drain()
		hs.CloseClientConnections()
		hs.Close()
		srv.Close()
	})
	return hs
}

// publisherToken mints a token that may publish anything, expiring after
// ttl.
func publisherToken(t *testing.T, ttl time.Duration) string {
	t.Helper()
	claims := jwt.MapClaims{
		"mercure": map[string]any{"publish": []string{"*"}},
		"exp":     time.Now().Add(ttl).Unix(),
	}
	s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString([]byte(publisherKey))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// check runs the doctor against url with a short idle period.
func check(t *testing.T, cfg doctor.Config) map[string]doctor.Result {
	t.Helper()
	if cfg.Token == "" {
		cfg.Token = publisherToken(t, time.Hour)
	}
	if cfg.Idle == 0 {
		cfg.Idle = 1500 * time.Millisecond
	}
	if cfg.Wait == 0 {
		cfg.Wait = 4 * time.Second
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	results, err := doctor.Run(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	byCheck := map[string]doctor.Result{}
	for _, r := range results {
		if _, dup := byCheck[r.Check]; dup {
			t.Errorf("check %s reported twice: %+v", r.Check, results)
		}
		byCheck[r.Check] = r
	}
	for _, name := range []string{"delivery", "headers", "idle", "protocol", "cors", "clock"} {
		if _, ok := byCheck[name]; !ok {
			t.Errorf("no result for check %s: %+v", name, results)
		}
	}
	return byCheck
}

func TestHeraldServedDirectlyPassesEveryCheck(t *testing.T) {
	for _, tt := range []struct {
		name         string
		tls          bool
		wantProtocol doctor.Status
	}{
		{"HTTP/1.1", false, doctor.Warn},
		{"HTTP/2", true, doctor.Pass},
	} {
		t.Run(tt.name, func(t *testing.T) {
			hs := startHerald(t, tt.tls)
			results := check(t, doctor.Config{URL: hs.URL + "/.well-known/mercure", Origin: appOrigin, Client: hs.Client()})
			for _, r := range results {
				if r.Status == doctor.Fail {
					t.Errorf("%s failed: %s: %s", r.Check, r.Problem, r.Finding)
				}
			}
			if got := results["protocol"]; got.Status != tt.wantProtocol {
				t.Errorf("protocol: %v (%s), want %v", got.Status, got.Finding, tt.wantProtocol)
			}
			if got := results["idle"].Finding; !strings.Contains(got, "stayed open") {
				t.Errorf("idle finding %q", got)
			}
		})
	}
}

// Each proxy misbehaves one way, and the doctor names that way, with the
// fix.
func TestMisbehavingProxyIsCaught(t *testing.T) {
	tests := []struct {
		name        string
		rewrite     func(*http.Response)
		idle        time.Duration
		wantCheck   string
		wantProblem string
		wantFix     string
	}{
		{"delays the stream by 2s", delay(2 * time.Second), 0, "delivery", "the stream is buffered", "proxy_buffering off"},
		{"buffers whole responses", holdAll, 0, "delivery", "the stream is buffered", "flush_interval -1"},
		{"compresses the stream", gzipStream, 0, "headers", "the stream is compressed", "gzip off"},
		{"cuts connections idle for 1s", cutIdle(time.Second), 2 * time.Second, "idle", "the idle connection was closed", "timeout tunnel 1h"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			hs := startHerald(t, false)
			proxy := startProxy(t, hs.URL, tt.rewrite)
			results := check(t, doctor.Config{URL: proxy.URL + "/.well-known/mercure", Idle: tt.idle, Wait: 3 * time.Second})
			got := results[tt.wantCheck]
			if got.Status != doctor.Fail || got.Problem != tt.wantProblem || !strings.Contains(got.Fix, tt.wantFix) {
				t.Fatalf("%s: %v %q (%s), fix %q; want FAIL %q with a fix naming %q", tt.wantCheck, got.Status, got.Problem, got.Finding, got.Fix, tt.wantProblem, tt.wantFix)
			}
		})
	}
}

func TestCORSForAnotherOriginFails(t *testing.T) {
	hs := startHerald(t, false)
	got := check(t, doctor.Config{URL: hs.URL + "/.well-known/mercure", Origin: "https://other.example.com", Idle: time.Millisecond})["cors"]
	if got.Status != doctor.Fail || !strings.Contains(got.Problem, "https://other.example.com") || !strings.Contains(got.Fix, "--cors-origin") {
		t.Fatalf("cors: %v %q (%s); want FAIL naming the origin", got.Status, got.Problem, got.Finding)
	}
}

func TestTokenAboutToExpireFailsTheClockCheck(t *testing.T) {
	hs := startHerald(t, false)
	got := check(t, doctor.Config{URL: hs.URL + "/.well-known/mercure", Token: publisherToken(t, 20*time.Second), Idle: time.Millisecond})["clock"]
	if got.Status != doctor.Fail || got.Problem != "the token is about to expire" {
		t.Fatalf("clock: %v %q (%s); want FAIL: the token is about to expire", got.Status, got.Problem, got.Finding)
	}
}
