package push

import (
	"fmt"
	"testing"

	"github.com/heraldhub/herald/eventlog"
	"github.com/heraldhub/herald/internal/outbound"
)

// BenchmarkObserve measures what every update costs the node's tail with
// 100 push subscriptions, half of them delivered here: the wake-ups. It
// allocates nothing.
func BenchmarkObserve(b *testing.B) {
	allow, _ := outbound.ParseAllowlist([]string{"127.0.0.1"})
	p, err := New(Config{Log: eventlog.NewMemory(0), Allow: allow, Node: "here"})
	if err != nil {
		b.Fatal(err)
	}
	defer p.Close()
	for i := range 100 {
		node := "here"
		if i%2 == 1 {
			node = "elsewhere"
		}
		def := Definition{ID: fmt.Sprint("s", i), Callback: "http://127.0.0.1:9/", Topics: []string{"orders/{id}"}, Node: node}
		p.apply(record{Op: "create", ID: def.ID, Def: &def}, eventlog.Update{ID: fmt.Sprint("u", i), Seq: uint64(i + 1)})
		s := p.subs[def.ID]
		if node == "here" {
			s.stop = func() {} // as if its worker ran, without one
		}
	}
	u := eventlog.Update{ID: "x", Topics: []string{"orders/1"}, Data: "{}"}
	b.ReportAllocs()
	for b.Loop() {
		p.Observe(u)
	}
}
