package main

import (
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/heraldhub/herald/internal/floodtest"
)

func main() {
	base := flag.String("url", "http://127.0.0.1:8080", "the hub's base URL")
	pid := flag.Int("pid", 0, "the hub's process id, to read its resident memory from /proc")
	n := flag.Int("n", 2000, "distinct selectors sent with GET, and as many with HEAD")
	size := flag.Int("bytes", 4096, "length of each selector")
	workers := flag.Int("workers", 8, "concurrent requests")
	flag.Parse()
	if err := run(*base, *pid, *n, *size, *workers); err != nil {
		fmt.Fprintln(os.Stderr, "attack-selectors:", err)
		os.Exit(1)
	}
}

func run(base string, pid, n, size, workers int) error {
	rssBefore, err := rss(pid)
	if err != nil {
		return err
	}
	stop := make(chan struct{})
	latencies := make(chan []time.Duration)
	go pollHealth(base+"/healthz", stop, latencies)

	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: workers}}
	var (
		mu       sync.Mutex
		open     []io.Closer
		statuses = map[string]int{}
	)
	count := func(method string, status int, err error) {
		key := fmt.Sprintf("%s %d", method, status)
		if err != nil {
			key = method + " error"
		}
		mu.Lock()
		statuses[key]++
		mu.Unlock()
	}
	jobs := make(chan int)
	var wg sync.WaitGroup
	start := time.Now()
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range jobs {
				resp, err := client.Get(subscribeURL(base, i, size))
				if err == nil {
					if resp.StatusCode == http.StatusOK {
						mu.Lock()
						open = append(open, resp.Body) // held open, never read
						mu.Unlock()
					} else {
						io.Copy(io.Discard, resp.Body)
						resp.Body.Close()
					}
				}
				count("GET", status(resp), err)
				resp, err = client.Head(subscribeURL(base, n+i, size))
				if err == nil {
					resp.Body.Close()
				}
				count("HEAD", status(resp), err)
			}
		}()
	}
	for i := range n {
		jobs <- i
	}
	close(jobs)
	wg.Wait()
	elapsed := time.Since(start)
	rssOpen, err := rss(pid)
	if err != nil {
		return err
	}
	for _, c := range open {
		c.Close()
	}
	close(stop)
	lat := <-latencies
	time.Sleep(2 * time.Second) // the hub notices the closed streams
	rssAfter, err := rss(pid)
	if err != nil {
		return err
	}

	fmt.Printf("%d GET + %d HEAD, distinct %d-byte templates, %d at a time, in %v\n", n, n, size, workers, elapsed.Round(time.Millisecond))
	fmt.Printf("answers: %v; streams held open: %d\n", statuses, len(open))
	fmt.Printf("hub RSS: before %s, with the streams open %s, 2 s after closing them %s\n", mib(rssBefore), mib(rssOpen), mib(rssAfter))
	if len(lat) > 0 {
		slices.Sort(lat)
		fmt.Printf("/healthz during the flood: %d answers, median %v, 90th percentile %v, slowest %v\n",
			len(lat), lat[len(lat)/2].Round(10*time.Microsecond), lat[len(lat)*9/10].Round(10*time.Microsecond), lat[len(lat)-1].Round(10*time.Microsecond))
	}
	return nil
}

// subscribeURL is a subscription to a distinct template of about size
// bytes made of one-letter expressions, the costliest kind to compile.
func subscribeURL(base string, id, size int) string {
	return base + "/.well-known/mercure?" + url.Values{"topic": {floodtest.Template(id, size)}}.Encode()
}

func status(resp *http.Response) int {
	if resp == nil {
		return 0
	}
	return resp.StatusCode
}

// pollHealth asks url every 10 ms until stop, then sends the latencies.
func pollHealth(url string, stop <-chan struct{}, out chan<- []time.Duration) {
	client := &http.Client{Transport: &http.Transport{}, Timeout: 30 * time.Second}
	var lat []time.Duration
	for {
		select {
		case <-stop:
			out <- lat
			return
		case <-time.After(10 * time.Millisecond):
		}
		start := time.Now()
		resp, err := client.Get(url)
		if err != nil {
			continue
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		lat = append(lat, time.Since(start))
	}
}

// rss returns the resident memory of process pid, in KiB.
func rss(pid int) (int, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, fmt.Errorf("read the hub's memory: %w", err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			var kib int
			fmt.Sscanf(strings.TrimSpace(rest), "%d", &kib)
			return kib, nil
		}
	}
	return 0, fmt.Errorf("no VmRSS in /proc/%d/status", pid)
}

func mib(kib int) string { return fmt.Sprintf("%.1f MiB", float64(kib)/1024) }
