package mercure

import (
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/heraldhub/herald/eventlog"
	"github.com/heraldhub/herald/hub"
)

// BenchmarkPublish measures the handler's own work for one publication
// (form, checks, the log's Append on the memory log), without a network.
func BenchmarkPublish(b *testing.B) {
	mem := eventlog.NewMemory(1024)
	defer mem.Close()
	h, err := hub.New(hub.Config{Log: mem})
	if err != nil {
		b.Fatal(err)
	}
	defer h.Close()
	m, err := New(Config{Hub: h, Publishers: testTokens, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		b.Fatal(err)
	}
	const body = "topic=https%3A%2F%2Fexample.com%2Fbooks%2F1&data=" + "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	b.ReportAllocs()
	for b.Loop() {
		r := httptest.NewRequest(http.MethodPost, "http://hub.example.com"+Path, strings.NewReader(body))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		r.Header.Set("Authorization", "Bearer legacy-pub")
		w := httptest.NewRecorder()
		m.ServeHTTP(w, r)
		if w.Code != http.StatusOK {
			b.Fatalf("%d %s", w.Code, w.Body)
		}
	}
}
