package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/heraldhub/herald/loadgen"
)

func init() {
	register("bench", "load-test any SSE server: deliveries/s, latency, losses, server CPU and memory", runBench)
}

func runBench(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("bench", stderr)
	hub := fs.String("hub", envOr("HERALD_HUB", "http://127.0.0.1:8080"), "Herald hub to benchmark (env HERALD_HUB)")
	topic := fs.String("topic", "bench", "topic to subscribe and publish to")
	subURL := fs.String("subscribe-url", "", "stream URL for subscribers (default: the hub's Mercure URL for --topic)")
	pubURL := fs.String("publish-url", "", "URL to POST each update to (default: the hub's Mercure endpoint)")
	pubBody := fs.String("publish-body", "", "body template for --publish-url; {{data}} is replaced by the update's data, form-escaped (default: Mercure form fields)")
	pubType := fs.String("publish-content-type", "application/x-www-form-urlencoded", "Content-Type of published bodies")
	token := fs.String("token", os.Getenv("HERALD_TOKEN"), "bearer token for publishing (env HERALD_TOKEN)")
	var cfg loadgen.Config
	fs.IntVar(&cfg.Subscribers, "subscribers", 100, "subscribers to open")
	fs.IntVar(&cfg.Updates, "updates", 100, "updates to publish")
	fs.Float64Var(&cfg.Rate, "rate", 100, "updates per second")
	fs.IntVar(&cfg.Size, "size", 64, "bytes of data per update")
	fs.DurationVar(&cfg.Idle, "idle", 0, "hold the subscribers idle this long first and report the server's memory per subscriber")
	fs.IntVar(&cfg.PID, "pid", 0, "server process to measure (peak RSS, CPU seconds)")
	fs.IntVar(&cfg.PerSource, "per-source", 10000, "connections per loopback source address (127.0.0.2, 127.0.0.3, …)")
	fs.DurationVar(&cfg.Drain, "drain", 10*time.Second, "wait this long for the last deliveries")
	fs.DurationVar(&cfg.MaxDuration, "max-duration", 5*time.Minute, "stop the whole run after this long")
	fs.BoolVar(&cfg.AllowRemote, "allow-remote", false, "allow targets that are not on this machine's loopback")
	asJSON := fs.Bool("json", false, "print the report as one JSON object")
	publishOnly := fs.Bool("publish-only", false, "open no subscriber: publish the updates and print, as JSON, how long they took (herald bench publishes this way from a process of its own)")
	inProcess := fs.Bool("publish-in-process", false, "publish from the generator's own process, where its subscribers' goroutines can delay publications")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	if *publishOnly && *inProcess {
		return errors.New("--publish-only and --publish-in-process do not go together")
	}
	if cfg.Subscribers <= 0 || cfg.Updates < 0 || cfg.Rate <= 0 {
		return errors.New("--subscribers and --rate must be positive, --updates not negative")
	}
	endpoint, err := mercureURL(*hub)
	if err != nil {
		return err
	}
	cfg.SubscribeURL = *subURL
	if cfg.SubscribeURL == "" {
		cfg.SubscribeURL = endpoint + "?topic=" + url.QueryEscape(*topic)
	}
	target := *pubURL
	if target == "" {
		target = endpoint
	}
	if !cfg.AllowRemote {
		for _, u := range []string{cfg.SubscribeURL, target} {
			if err := loadgen.Loopback(u); err != nil {
				return err
			}
		}
	}
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 16}}
	cfg.Publish = func(ctx context.Context, data string) error {
		body := url.Values{"topic": {*topic}, "data": {data}}.Encode()
		if *pubBody != "" {
			body = strings.ReplaceAll(*pubBody, "{{data}}", url.QueryEscape(data))
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, target, strings.NewReader(body))
		if err != nil {
			return err
		}
		req.Header.Set("Content-Type", *pubType)
		if *token != "" {
			req.Header.Set("Authorization", "Bearer "+*token)
		}
		resp, err := client.Do(req)
		if err != nil {
			return err
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode/100 != 2 {
			return fmt.Errorf("publish: %s", resp.Status)
		}
		return nil
	}
	if *publishOnly {
		ctx, cancel := context.WithTimeout(ctx, cfg.MaxDuration)
		defer cancel()
		return json.NewEncoder(stdout).Encode(loadgen.PublishUpdates(ctx, cfg.Updates, cfg.Rate, cfg.Size, cfg.Publish))
	}
	if !*inProcess && cfg.Updates > 0 {
		cfg.PublishUpdates = func(ctx context.Context) (*loadgen.Publication, error) {
			return publishFromChild(ctx, args, stderr)
		}
	}
	if *pubURL == "" {
		// A Herald hub: count the writes its deliveries took.
		metrics := strings.TrimSuffix(endpoint, "/.well-known/mercure") + "/metrics"
		cfg.ServerWrites = loadgen.MetricsCounter(client, metrics, "herald_stream_writes_total")
	}
	if limit := loadgen.FileLimit(); uint64(cfg.Subscribers)+64 > limit {
		fmt.Fprintf(stderr, "herald bench: warning: %d subscribers may not fit in the open-file limit (%d)\n", cfg.Subscribers, limit)
	}
	rep, err := loadgen.Run(ctx, cfg)
	if err != nil {
		return err
	}
	if *asJSON {
		return json.NewEncoder(stdout).Encode(rep)
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	row := func(k string, v any) { fmt.Fprintf(tw, "%s\t%v\n", k, v) }
	row("subscribers connected", fmt.Sprintf("%d of %d (%d failed)", rep.Connected, rep.Subscribers, rep.ConnectFailed))
	if rep.ConnectError != "" {
		row("first connect error", rep.ConnectError)
	}
	row("updates published", fmt.Sprintf("%d of %d (%d failed) at %.1f/s (offered %.1f/s)", rep.Published, rep.Updates, rep.PublishFailed, rep.AchievedRate, rep.OfferedRate))
	if rep.PublishError != "" {
		row("first publish error", rep.PublishError)
	}
	if rep.Published > 0 {
		row("publish time p50 / p99 / max", fmt.Sprintf("%.2f / %.2f / %.2f ms (at worst %.2f ms behind schedule)", rep.PublishP50ms, rep.PublishP99ms, rep.PublishMaxMs, rep.MaxLagMs))
	}
	row("deliveries", fmt.Sprintf("%d of %d expected, %.0f/s", rep.Deliveries, rep.Expected, rep.PerSecond))
	row("lost / duplicated", fmt.Sprintf("%d / %d", rep.Lost, rep.Duplicated))
	row("latency p50 / p90 / p99 / max", fmt.Sprintf("%.2f / %.2f / %.2f / %.2f ms", rep.P50ms, rep.P90ms, rep.P99ms, rep.MaxMs))
	if rep.ServerWrites > 0 {
		row("server writes", fmt.Sprintf("%.0f, %.2f per delivery", rep.ServerWrites, rep.WritesPerDelivery))
	}
	if cfg.PID > 0 {
		row("server peak RSS", fmt.Sprintf("%.1f MiB", float64(rep.ServerPeakRSSKB)/1024))
		row("server CPU", fmt.Sprintf("%.2f s (user %.2f, system %.2f), %.2f µs per delivery",
			rep.ServerCPUSeconds, rep.ServerUserSeconds, rep.ServerSystemSeconds, rep.ServerCPUPerDeliver))
		if cfg.Idle > 0 {
			row("idle memory", fmt.Sprintf("%.2f KiB per subscriber (RSS %d → %d KiB)", rep.IdleKBPerSubscriber, rep.IdleRSSBeforeKB, rep.IdleRSSAfterKB))
		}
	}
	return tw.Flush()
}

// publishFromChild runs this command again with --publish-only, in a
// process of its own: there, no subscriber goroutine stands in the run
// queue before the publisher, and the operating system's scheduler wakes it
// on time. It returns what the child reports.
func publishFromChild(ctx context.Context, args []string, stderr io.Writer) (*loadgen.Publication, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("find this program to run the publisher: %w", err)
	}
	cmd := exec.CommandContext(ctx, self, append([]string{"bench", "--publish-only"}, args...)...)
	cmd.Stderr = stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("publisher process: %w (--publish-in-process publishes from this process instead)", err)
	}
	var pub loadgen.Publication
	if err := json.Unmarshal(out, &pub); err != nil {
		return nil, fmt.Errorf("publisher process answered %q: %w", out, err)
	}
	return &pub, nil
}
