package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/heraldhub/herald/internal/loadgen"
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
	var pids pidList
	fs.Var(&pids, "pid", "server process to measure (peak RSS, CPU seconds); with --soak, each node's process, in the order of --hub (repeatable or comma-separated)")
	fs.IntVar(&cfg.PerSource, "per-source", 10000, "connections per loopback source address (127.0.0.2, 127.0.0.3, …)")
	fs.DurationVar(&cfg.Drain, "drain", 10*time.Second, "wait this long for the last deliveries")
	fs.DurationVar(&cfg.MaxDuration, "max-duration", 5*time.Minute, "stop the whole run after this long")
	fs.StringVar(&cfg.Reader, "reader", "", "how to read the streams: uring (a few goroutines, each an epoll set of raw sockets, reading the sockets each wait found readable with one io_uring submission; the default on Linux for http URLs, epoll where io_uring is unavailable), epoll (the same with one read(2) per readable socket), goroutines (one per connection) or http (net/http's client, with TLS and HTTP/2; the default for https URLs)")
	fs.IntVar(&cfg.ReaderWorkers, "reader-workers", 0, "goroutines of the uring or epoll reader (default half of GOMAXPROCS, at least 1)")
	caCert := fs.String("ca-cert", "", "PEM certificate to trust for https targets (the hub's own, if self-signed)")
	fs.BoolVar(&cfg.HTTP2, "http2", false, "with an https --hub: subscribe over HTTP/2 (the http reader)")
	fs.IntVar(&cfg.StreamsPerConn, "streams-per-conn", 1, "with --http2: streams sharing each connection")
	fs.DurationVar(&cfg.ReaderCoalesce, "reader-coalesce", 0, "with the uring or epoll reader: sleep this long after a wait that found few sockets readable (fewer system calls, latencies up to this much longer)")
	fs.BoolVar(&cfg.AllowRemote, "allow-remote", false, "allow targets that are not on this machine's loopback")
	asJSON := fs.Bool("json", false, "print the report as one JSON object")
	publishOnly := fs.Bool("publish-only", false, "open no subscriber: publish the updates and print, as JSON, how long they took (herald bench publishes this way from a process of its own)")
	publishers := fs.Int("publishers", 0, "publish from this many concurrent publishers, each sending its next update once the last is acknowledged (--rate is then ignored): reports publications/s and acknowledgement latency at that concurrency")
	inProcess := fs.Bool("publish-in-process", false, "publish from the generator's own process, where its subscribers' goroutines can delay publications")
	soak := soakFlags(fs)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	if *publishers < 0 {
		return errors.New("--publishers must not be negative")
	}
	tlsConfig, err := trustCA(*caCert)
	if err != nil {
		return err
	}
	cfg.TLS = tlsConfig
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: max(16, *publishers), TLSClientConfig: cfg.TLS.Clone()}}
	if soak.on {
		return runSoak(ctx, fs, soak, *hub, *topic, *token, pids, cfg, *asJSON, client, stdout, stderr)
	}
	if err := checkRun(&cfg, pids, *publishOnly, *inProcess); err != nil {
		return err
	}
	endpoint, err := mercureURL(*hub)
	if err != nil {
		return err
	}
	cfg.SubscribeURL = *subURL
	if cfg.SubscribeURL == "" {
		cfg.SubscribeURL = endpoint + "?topic=" + url.QueryEscape(*topic)
	}
	if strings.HasPrefix(cfg.SubscribeURL, "https:") && cfg.Reader == "" {
		cfg.Reader = loadgen.ReaderHTTP
	}
	if cfg.HTTP2 && cfg.Reader != loadgen.ReaderHTTP {
		return errors.New("--http2 reads with the http reader: leave --reader out or give --reader http")
	}
	target := *pubURL
	if target == "" {
		target = endpoint
	}
	if err := checkLoopback(cfg, target); err != nil {
		return err
	}
	cfg.Publish = benchPublish(client, target, *pubType, *token, *topic, *pubBody)
	if *publishOnly {
		ctx, cancel := context.WithTimeout(ctx, cfg.MaxDuration)
		defer cancel()
		return json.NewEncoder(stdout).Encode(publishAll(ctx, cfg, *publishers))
	}
	cfg.PublishUpdates = publisherOf(cfg, *inProcess, *publishers, args, stderr)
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
	return printBench(stdout, rep, cfg)
}

// checkLoopback refuses a subscribe or publish target off this machine's
// loopback, unless cfg allows remote targets.
func checkLoopback(cfg loadgen.Config, publishTarget string) error {
	if cfg.AllowRemote {
		return nil
	}
	for _, u := range []string{cfg.SubscribeURL, publishTarget} {
		if err := loadgen.Loopback(u); err != nil {
			return err
		}
	}
	return nil
}

// printBench prints a bench report as a table; the server's resources
// only when cfg named its process.
func printBench(stdout io.Writer, rep *loadgen.Report, cfg loadgen.Config) error {
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
	row("generator CPU", fmt.Sprintf("%.2f s (user %.2f, system %.2f), %.2f µs per delivery (%s reader)",
		rep.GeneratorCPUSeconds, rep.GeneratorUserSeconds, rep.GeneratorSystemSeconds, rep.GeneratorCPUPerDeliver, rep.Reader))
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

// publishAll publishes the run's updates, at --rate or, with publishers,
// from that many concurrent publishers as fast as they are acknowledged.
func publishAll(ctx context.Context, cfg loadgen.Config, publishers int) *loadgen.Publication {
	if publishers > 0 {
		return loadgen.PublishConcurrently(ctx, cfg.Updates, publishers, cfg.Size, cfg.Publish)
	}
	return loadgen.PublishUpdates(ctx, cfg.Updates, cfg.Rate, cfg.Size, cfg.Publish)
}

// post sends body to target with a bearer token, if not empty, and returns
// the response, its body read and closed.
func post(ctx context.Context, client *http.Client, target, contentType, token, body string) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, target, strings.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", contentType)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, err
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp, nil
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

// pidList is a repeatable flag of process ids, each also comma-separated.
type pidList []int

func (l *pidList) String() string { return strings.Trim(fmt.Sprint([]int(*l)), "[]") }

func (l *pidList) Set(v string) error {
	for _, f := range strings.Split(v, ",") {
		pid, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || pid <= 0 {
			return fmt.Errorf("invalid process id %q", f)
		}
		*l = append(*l, pid)
	}
	return nil
}

// soakOptions are the flags of herald bench --soak.
type soakOptions struct {
	on               bool
	duration         time.Duration
	holdMin, holdMax time.Duration
	move             float64
	sampleEvery      time.Duration
	killAfter        time.Duration
}

// soakFlags defines the flags of herald bench --soak on fs.
func soakFlags(fs *flag.FlagSet) *soakOptions {
	o := &soakOptions{}
	fs.BoolVar(&o.on, "soak", false, "soak test: --subscribers (default 1000) drop and resume with Last-Event-ID at random, on the nodes of --hub (comma-separated), while updates are published at --rate (default 20/s) for --duration; checks that each subscriber receives every update from its first once, in order, and samples the nodes")
	fs.DurationVar(&o.duration, "duration", 10*time.Minute, "with --soak: how long to publish")
	fs.DurationVar(&o.holdMin, "hold-min", 3*time.Second, "with --soak: shortest time a subscriber keeps a connection before dropping it")
	fs.DurationVar(&o.holdMax, "hold-max", 20*time.Second, "with --soak: longest time a subscriber keeps a connection before dropping it")
	fs.Float64Var(&o.move, "move", 0.1, "with --soak: probability that a subscriber resumes on another node")
	fs.DurationVar(&o.sampleEvery, "sample-every", 10*time.Second, "with --soak: interval between samples of each node's subscribers, open files and memory")
	fs.DurationVar(&o.killAfter, "kill-after", 0, "with --soak: SIGKILL the process of the last --pid this long after publishing starts (give only a process you started)")
	return o
}

// runSoak runs herald bench --soak and prints its report; it fails if any
// subscriber missed an update, or received one twice or out of order.
func runSoak(ctx context.Context, fs *flag.FlagSet, o *soakOptions, hubs, topic, token string, pids pidList, bench loadgen.Config, asJSON bool, client *http.Client, stdout, stderr io.Writer) error {
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	cfg := loadgen.SoakConfig{Topic: topic, Subscribers: bench.Subscribers, Rate: bench.Rate, Size: bench.Size,
		Duration: o.duration, Drain: bench.Drain, HoldMin: o.holdMin, HoldMax: o.holdMax, Move: o.move,
		SampleEvery: o.sampleEvery, PIDs: pids, KillAfter: o.killAfter, AllowRemote: bench.AllowRemote, PerSource: bench.PerSource}
	if !set["subscribers"] {
		cfg.Subscribers = 1000
	}
	if !set["rate"] {
		cfg.Rate = 20
	}
	if !set["drain"] {
		cfg.Drain = 30 * time.Second
	}
	if err := checkSoak(&cfg, o, pids); err != nil {
		return err
	}
	for _, h := range strings.Split(hubs, ",") {
		endpoint, err := mercureURL(strings.TrimSpace(h))
		if err != nil {
			return err
		}
		cfg.Nodes = append(cfg.Nodes, strings.TrimSuffix(endpoint, "/.well-known/mercure"))
	}
	if len(pids) > len(cfg.Nodes) {
		return fmt.Errorf("%d --pid for %d nodes", len(pids), len(cfg.Nodes))
	}
	cfg.Publish = func(ctx context.Context, node, id, data string) error {
		body := url.Values{"topic": {topic}, "id": {id}, "data": {data}}.Encode()
		resp, err := post(ctx, client, node+"/.well-known/mercure", "application/x-www-form-urlencoded", token, body)
		if err != nil {
			return err
		}
		if resp.StatusCode != http.StatusOK && resp.StatusCode != http.StatusConflict { // 409: an earlier attempt was stored
			return fmt.Errorf("publish to %s: %s", node, resp.Status)
		}
		return nil
	}
	cfg.NodeSubscribers = func(ctx context.Context, node string) (float64, error) {
		return loadgen.MetricsCounter(client, node+"/metrics", "herald_subscribers")(ctx)
	}
	cfg.OnSample = func(s loadgen.NodeSample) {
		if s.Subscribers < 0 && s.OpenFiles < 0 {
			fmt.Fprintf(stderr, "herald bench: %6.0fs %s down\n", s.At, s.Node)
			return
		}
		fmt.Fprintf(stderr, "herald bench: %6.0fs %s subscribers %.0f, open files %d, RSS %.1f MiB\n", s.At, s.Node, s.Subscribers, s.OpenFiles, float64(s.RSSKB)/1024)
	}
	if limit := loadgen.FileLimit(); uint64(cfg.Subscribers)+64 > limit {
		fmt.Fprintf(stderr, "herald bench: warning: %d subscribers may not fit in the open-file limit (%d)\n", cfg.Subscribers, limit)
	}
	rep, err := loadgen.RunSoak(ctx, cfg)
	if err != nil {
		return err
	}
	if asJSON {
		if err := json.NewEncoder(stdout).Encode(rep); err != nil {
			return err
		}
	} else if err := printSoak(stdout, rep); err != nil {
		return err
	}
	if !rep.Exact() {
		return fmt.Errorf("exactly once broken: %d duplicates, %d missing, %d out of order, %d subscribers received nothing", rep.Duplicates, rep.Gaps, rep.OutOfOrder, rep.Silent)
	}
	return nil
}

// checkSoak refuses soak settings out of their range.
func checkSoak(cfg *loadgen.SoakConfig, o *soakOptions, pids pidList) error {
	if cfg.Subscribers <= 0 || cfg.Rate <= 0 || o.duration <= 0 || o.holdMin <= 0 || o.holdMax < o.holdMin || o.move < 0 || o.move > 1 {
		return errors.New("--subscribers, --rate, --duration and --hold-min must be positive, --hold-max at least --hold-min, --move between 0 and 1")
	}
	if o.killAfter > 0 && len(pids) == 0 {
		return errors.New("--kill-after needs the process to kill: the last --pid")
	}
	return nil
}

// printSoak prints a soak report as a table.
func printSoak(w io.Writer, rep *loadgen.SoakReport) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	row := func(k string, format string, v ...any) { fmt.Fprintf(tw, "%s\t%s\n", k, fmt.Sprintf(format, v...)) }
	row("nodes", "%s", strings.Join(rep.Nodes, ", "))
	row("run", "%.0f s (publishing from %.1f s)", rep.Seconds, rep.PublishedAt)
	row("updates published", "%d (%d failed) at %.1f/s; %d attempts retried on another node", rep.Published, rep.PublishFailed, rep.AchievedRate, rep.PublishRetries)
	if rep.PublishError != "" {
		row("first publish error", "%s", rep.PublishError)
	}
	row("subscribers", "%d: %d streams opened, %d resumes (%d on another node), %d drops, %d streams cut by a node, %d failed connections",
		rep.Subscribers, rep.Connects, rep.Resumes, rep.Moves, rep.Drops, rep.Cut, rep.ConnectFailures)
	if rep.ConnectError != "" {
		row("first connect error", "%s", rep.ConnectError)
	}
	if rep.Killed != "" {
		row("killed", "%s at %.1f s", rep.Killed, rep.KilledAt)
	}
	row("deliveries", "%d", rep.Deliveries)
	row("duplicates / missing / out of order", "%d / %d / %d (%d subscribers received nothing)", rep.Duplicates, rep.Gaps, rep.OutOfOrder, rep.Silent)
	for _, v := range rep.Violations {
		row("  "+v.Kind, "subscriber %d got %d, expected %d, from %s at %.1f s, %.0f ms into a stream resumed from %q",
			v.Subscriber, v.Seq, v.Expected, v.Node, v.At, v.SinceOpenMs, v.ResumedFrom)
	}
	for _, n := range rep.NodeSummaries {
		row(n.Node, "subscribers %s; open files %s; RSS MiB %s (start / max / end / after)",
			spanText(n.Subscribers, 1), spanText(n.OpenFiles, 1), spanText(n.RSSKB, 1024))
	}
	return tw.Flush()
}

// spanText formats a span's values divided by unit, "?" where unknown.
func spanText(s loadgen.Span, unit float64) string {
	parts := make([]string, 0, 4)
	for _, v := range []float64{s.Start, s.Max, s.End, s.After} {
		if v < 0 {
			parts = append(parts, "?")
		} else if unit == 1 {
			parts = append(parts, strconv.FormatFloat(v, 'f', 0, 64))
		} else {
			parts = append(parts, strconv.FormatFloat(v/unit, 'f', 1, 64))
		}
	}
	return strings.Join(parts, " / ")
}

// trustCA returns the TLS configuration trusting the PEM certificate at
// path, nil if path is empty.
func trustCA(path string) (*tls.Config, error) {
	if path == "" {
		return nil, nil
	}
	pem, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("--ca-cert: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("--ca-cert: %s holds no PEM certificate", path)
	}
	return &tls.Config{RootCAs: pool}, nil
}

// checkRun refuses the flags a run without --soak cannot take, and takes
// the server's process from pids.
func checkRun(cfg *loadgen.Config, pids pidList, publishOnly, inProcess bool) error {
	switch {
	case len(pids) > 1:
		return errors.New("--pid takes one process without --soak")
	case publishOnly && inProcess:
		return errors.New("--publish-only and --publish-in-process do not go together")
	case cfg.Subscribers <= 0 || cfg.Updates < 0 || cfg.Rate <= 0:
		return errors.New("--subscribers and --rate must be positive, --updates not negative")
	}
	if len(pids) == 1 {
		cfg.PID = pids[0]
	}
	return nil
}

// benchPublish returns the function that publishes one update's data to
// target: Mercure form fields on topic, or bodyTemplate with {{data}}
// replaced.
func benchPublish(client *http.Client, target, contentType, token, topic, bodyTemplate string) func(context.Context, string) error {
	return func(ctx context.Context, data string) error {
		body := url.Values{"topic": {topic}, "data": {data}}.Encode()
		if bodyTemplate != "" {
			body = strings.ReplaceAll(bodyTemplate, "{{data}}", url.QueryEscape(data))
		}
		resp, err := post(ctx, client, target, contentType, token, body)
		if err != nil {
			return err
		}
		if resp.StatusCode/100 != 2 {
			return fmt.Errorf("publish: %s", resp.Status)
		}
		return nil
	}
}

// publisherOf says who publishes a run's updates: concurrent publishers
// in this process, a child process of its own (the default, so the
// subscribers' goroutines cannot delay publications), or nil for
// loadgen.Run itself.
func publisherOf(cfg loadgen.Config, inProcess bool, publishers int, args []string, stderr io.Writer) func(context.Context) (*loadgen.Publication, error) {
	switch {
	case inProcess && publishers > 0:
		return func(ctx context.Context) (*loadgen.Publication, error) {
			return publishAll(ctx, cfg, publishers), nil
		}
	case !inProcess && cfg.Updates > 0:
		return func(ctx context.Context) (*loadgen.Publication, error) {
			return publishFromChild(ctx, args, stderr)
		}
	}
	return nil
}
