package detach

import "testing"

// BenchmarkNewClose measures an engine's whole life with no stream: what
// every hub, node and test pays at least once. Close wakes the poller
// instead of waiting out its 200 ms timeout.
func BenchmarkNewClose(b *testing.B) {
	for b.Loop() {
		e, err := New(Config{})
		if err != nil {
			b.Fatal(err)
		}
		e.Close()
	}
}
