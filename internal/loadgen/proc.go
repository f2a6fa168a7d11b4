package loadgen

import (
	"context"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// rssKB returns the process's resident memory, in KiB.
func rssKB(pid int) int64 {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "VmRSS:") {
			f := strings.Fields(line)
			if len(f) >= 2 {
				n, _ := strconv.ParseInt(f[1], 10, 64)
				return n
			}
		}
	}
	return 0
}

// cpuTime is a process's CPU time, in seconds.
type cpuTime struct{ user, system float64 }

// cpuSeconds returns the process's user and system CPU time.
func cpuSeconds(pid int) cpuTime {
	if pid <= 0 {
		return cpuTime{}
	}
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return cpuTime{}
	}
	return parseStat(string(b))
}

// parseStat reads the user and system time from /proc/<pid>/stat.
func parseStat(s string) cpuTime {
	// Fields after the command (which may contain spaces) start after ')'.
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return cpuTime{}
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 13 {
		return cpuTime{}
	}
	utime, _ := strconv.ParseFloat(f[11], 64)
	stime, _ := strconv.ParseFloat(f[12], 64)
	return cpuTime{utime / 100, stime / 100} // clock ticks (USER_HZ is 100 on Linux)
}

// startPeakSampler samples the process's RSS every 100 ms until ctx ends;
// the returned function gives the peak seen.
func startPeakSampler(ctx context.Context, pid int, wg *sync.WaitGroup) func() int64 {
	var peak atomic.Int64
	if pid <= 0 {
		return peak.Load
	}
	sample := func() {
		if r := rssKB(pid); r > peak.Load() {
			peak.Store(r)
		}
	}
	sample()
	wg.Add(1)
	go func() { defer wg.Done(); every(ctx, 100*time.Millisecond, sample) }()
	return func() int64 { sample(); return peak.Load() }
}

// every calls fn every d until ctx ends.
func every(ctx context.Context, d time.Duration, fn func()) {
	t := time.NewTicker(d)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			fn()
		}
	}
}

// selfCPU returns this process's user and system CPU time.
func selfCPU() cpuTime {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return cpuTime{}
	}
	sec := func(t syscall.Timeval) float64 { return float64(t.Sec) + float64(t.Usec)/1e6 }
	return cpuTime{sec(ru.Utime), sec(ru.Stime)}
}
