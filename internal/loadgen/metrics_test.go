package loadgen

import (
	"testing"
)

func TestMetricValueReadsAnUnlabelledSample(t *testing.T) {
	text := []byte(`# HELP herald_stream_writes_total Writes.
# TYPE herald_stream_writes_total counter
herald_stream_writes_total_other 9
herald_stream_writes_total{node="a"} 7
herald_stream_writes_total 1.234e+06
herald_subscribers 10 1700000000000
`)
	if v, ok := MetricValue(text, "herald_stream_writes_total"); !ok || v != 1234000 {
		t.Fatalf("got %v, %v; want 1234000, true", v, ok)
	}
	if v, ok := MetricValue(text, "herald_subscribers"); !ok || v != 10 {
		t.Fatalf("with a timestamp: got %v, %v; want 10, true", v, ok)
	}
	for _, name := range []string{"herald_missing", "herald_stream_writes"} {
		if v, ok := MetricValue(text, name); ok {
			t.Fatalf("%s: got %v, want no sample", name, v)
		}
	}
	if _, ok := MetricValue([]byte("m NaN\nm +Inf\nm x\n"), "m"); ok {
		t.Fatal("a value that is not a finite number was accepted")
	}
}

func FuzzMetricValue(f *testing.F) {
	f.Add([]byte("herald_stream_writes_total 12\n"), "herald_stream_writes_total")
	f.Add([]byte("# comment\nm{a=\"b\"} 1\nm 2 3\n"), "m")
	f.Add([]byte("m  \n"), "m")
	f.Fuzz(func(t *testing.T, text []byte, name string) {
		v, ok := MetricValue(text, name)
		if !ok && v != 0 {
			t.Fatalf("no sample but value %v", v)
		}
	})
}
