package push

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/heraldhub/herald/auth"
	"github.com/heraldhub/herald/eventlog"
	"github.com/heraldhub/herald/internal/outbound"
	"github.com/heraldhub/herald/internal/outbound/outboundtest"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestReusedIDsAreDeliveredOnceEachInLogOrder(t *testing.T) {
	const secret = "secret-of-16-bytes-at-least"
	recv := outboundtest.New(t, []byte(secret))
	lg := eventlog.NewMemory(0)
	defer lg.Close()
	allow, _ := outbound.ParseAllowlist([]string{"127.0.0.1"})
	p, err := New(Config{Log: lg, Allow: allow, Node: "here", Policy: outbound.Policy{MinBackoff: time.Millisecond}})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	def := Definition{ID: "s1", Callback: recv.URL, Topics: []string{"t"}, Secret: secret, Node: "here"}
	if _, err := p.append(context.Background(), record{Op: "create", ID: def.ID, Def: &def}); err != nil {
		t.Fatal(err)
	}
	if err := p.Recover(context.Background()); err != nil {
		t.Fatal(err)
	}
	publish := func(id, data string) {
		t.Helper()
		u, err := lg.Append(context.Background(), eventlog.Update{ID: id, ReuseID: true, Topics: []string{"t"}, Data: data})
		if err != nil {
			t.Fatal(err)
		}
		p.Observe(u)
	}
	datas := func(b [][]byte) string {
		var out []string
		for _, body := range b {
			var m Message
			json.Unmarshal(body, &m)
			out = append(out, m.Data)
		}
		return strings.Join(out, ",")
	}
	publish("x", "A")
	publish("y", "B")
	publish("x", "C") // the id of A again: a resume from x starts after A
	recv.WaitAccepted(t, "A, B and C", 10*time.Second, func(b [][]byte) bool { return len(b) >= 3 })
	publish("z", "D")
	recv.WaitAccepted(t, "D", 10*time.Second, func(b [][]byte) bool { return strings.Contains(datas(b), "D") })
	p.Close()
	if got := datas(recv.Accepted()); got != "A,B,C,D" {
		t.Fatalf("delivered %s, want A,B,C,D", got)
	}
}

// grantAll verifies every request as a 0.x token that may subscribe to
// everything.
type grantAll struct{}

func (grantAll) Verify(*http.Request) (*auth.Claims, error) {
	return &auth.Claims{Subscribe: []string{"*"}}, nil
}

func TestCreatingPastMaxSubscriptionsIsRefused(t *testing.T) {
	lg := eventlog.NewMemory(0)
	defer lg.Close()
	allow, _ := outbound.ParseAllowlist([]string{"127.0.0.1"})
	p, err := New(Config{Log: lg, Allow: allow, Node: "here", MaxSubscriptions: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if err := p.Recover(context.Background()); err != nil {
		t.Fatal(err)
	}
	api := p.Handler(grantAll{})
	create := func() *httptest.ResponseRecorder {
		rec := httptest.NewRecorder()
		api.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, Path, strings.NewReader(`{"callback": "http://127.0.0.1:9/cb", "topics": ["t"]}`)))
		return rec
	}
	for i := range 2 {
		if rec := create(); rec.Code != http.StatusCreated {
			t.Fatalf("subscription %d: %d %s", i+1, rec.Code, rec.Body)
		}
	}
	rec := create()
	if rec.Code != http.StatusTooManyRequests || !strings.Contains(rec.Body.String(), "limit is 2") {
		t.Fatalf("a third subscription: %d %s, want 429 naming the limit", rec.Code, rec.Body)
	}
}
