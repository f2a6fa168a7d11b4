package main

import (
	"fmt"
	"math"
	"os"
	"strconv"
	"strings"
)

// sizeUnits are the units a size may end with, longest first.
var sizeUnits = []struct {
	suffix string
	bytes  int64
}{
	{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30},
	{"KB", 1e3}, {"MB", 1e6}, {"GB", 1e9},
	{"B", 1},
}

// parseSize reads a size in bytes: a whole number, optionally followed by
// a unit (B, KiB, MiB, GiB, or KB, MB, GB in powers of ten), such as
// 8388608, 8MiB or 512KB.
func parseSize(s string) (int, error) {
	num, unit := strings.TrimSpace(s), int64(1)
	for _, u := range sizeUnits {
		if rest, ok := strings.CutSuffix(num, u.suffix); ok {
			num, unit = strings.TrimSpace(rest), u.bytes
			break
		}
	}
	n, err := strconv.ParseInt(num, 10, 64)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("%q is not a size in bytes (e.g. 1048576, 8MiB or 512KB)", s)
	}
	if n > math.MaxInt32/unit {
		return 0, fmt.Errorf("%q is too large: at most 2GiB", s)
	}
	return int(n * unit), nil
}

// sizeFlag is a flag.Value for a size in bytes, read by parseSize.
type sizeFlag struct{ n *int }

func (f sizeFlag) String() string {
	if f.n == nil {
		return ""
	}
	return strconv.Itoa(*f.n)
}

func (f sizeFlag) Set(s string) error {
	n, err := parseSize(s)
	if err != nil {
		return err
	}
	*f.n = n
	return nil
}

// size returns the size in the environment variable key, or def if it is
// unset; a malformed value is reported.
func (e *envDefaults) size(key string, def int) int {
	v, ok := os.LookupEnv(key)
	if !ok {
		return def
	}
	n, err := parseSize(v)
	if err != nil {
		e.errs = append(e.errs, fmt.Errorf("%s=%w", key, err))
		return def
	}
	return n
}
