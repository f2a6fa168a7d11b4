package main

import "testing"

func TestSizesAreReadInBytesOrWithAUnit(t *testing.T) {
	good := map[string]int{
		"0": 0, "1048576": 1 << 20, "8MiB": 8 << 20, "8 MiB": 8 << 20, "512KiB": 512 << 10,
		"1GiB": 1 << 30, "512KB": 512000, "5MB": 5000000, "100B": 100,
	}
	for in, want := range good {
		if got, err := parseSize(in); err != nil || got != want {
			t.Errorf("parseSize(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "MiB", "-1", "8XB", "1.5MiB", "8mib", "3GiB", "99999999999"} {
		if got, err := parseSize(in); err == nil {
			t.Errorf("parseSize(%q) = %d, want an error", in, got)
		}
	}
}
