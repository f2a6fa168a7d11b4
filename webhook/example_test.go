package webhook_test

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"time"

	"github.com/heraldhub/herald/webhook"
)

// A receiver checks each delivery's signature over the body exactly as it
// came, before it trusts the body.
func ExampleVerify() {
	secret := []byte("the secret given or returned at registration")
	receiver := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		if err != nil {
			http.Error(w, "cannot read the body", http.StatusBadRequest)
			return
		}
		if err := webhook.Verify(secret, r.Header.Get(webhook.Header), body, time.Now(), 5*time.Minute); err != nil {
			http.Error(w, err.Error(), http.StatusUnauthorized)
			return
		}
		w.WriteHeader(http.StatusNoContent) // acknowledged: Herald stops retrying
	})

	body := `{"id":"urn:uuid:1","topics":["orders/1"],"data":"paid"}`
	for _, key := range [][]byte{secret, []byte("a forger's guess")} {
		req := httptest.NewRequest(http.MethodPost, "/herald", strings.NewReader(body))
		req.Header.Set(webhook.Header, webhook.Sign(key, time.Now(), []byte(body)))
		rec := httptest.NewRecorder()
		receiver.ServeHTTP(rec, req)
		fmt.Println(rec.Code)
	}
	// Output:
	// 204
	// 401
}
