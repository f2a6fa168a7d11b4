package hub

import (
	"context"
	"net/http"
	"testing"
)

// Proxies that know RFC 10036 forward a response marked Incremental chunk by
// chunk, without configuration: every stream says so, whichever way the hub
// serves it.
func TestStreamResponseIsMarkedIncremental(t *testing.T) {
	for _, tt := range []struct {
		name     string
		noDetach bool
	}{{"detached", false}, {"request goroutine", true}} {
		t.Run(tt.name, func(t *testing.T) {
			th := startHub(t, Config{NoDetach: tt.noDetach})
			ctx, cancel := context.WithTimeout(context.Background(), wait)
			defer cancel()
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet, th.srv.URL+"?topic=a", nil)
			resp, err := th.srv.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			want := map[string]string{
				"Incremental":  "?1",
				"Content-Type": "text/event-stream",
			}
			for k, v := range want {
				if got := resp.Header.Get(k); got != v {
					t.Errorf("%s: %q, want %q (headers %v)", k, got, v, resp.Header)
				}
			}
		})
	}
}
