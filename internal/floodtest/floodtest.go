package floodtest

import (
	"fmt"
	"runtime"
)

// Template returns a URI template of at most n bytes, distinct for each id,
// made of one-letter expressions ("t7/{a}{b}{c}…"): per byte, the costliest
// selector to compile and to hold.
func Template(id, n int) string {
	b := fmt.Appendf(nil, "t%d/", id)
	for i := 0; len(b)+3 <= n; i++ {
		b = append(b, '{', byte('a'+i%26), '}')
	}
	return string(b)
}

// LiveHeap returns the bytes of heap objects still reachable: HeapAlloc
// after two collections (the second empties sync.Pools, which hold no
// live data).
func LiveHeap() uint64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}
