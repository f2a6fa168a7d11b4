package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/heraldhub/herald/hub"
	"github.com/heraldhub/herald/internal/clientaddr"
	"github.com/heraldhub/herald/internal/ratelimit"
	"github.com/heraldhub/herald/mercure"
	"github.com/heraldhub/herald/node"
	"github.com/heraldhub/herald/presence"
)

func init() {
	register("serve", "run the hub", runServe)
}

// envDefaults reads HERALD_* defaults for flags (its methods str, dur,
// int, bool, and size in size.go); a malformed value is reported rather
// than ignored.
type envDefaults struct{ errs []error }

func (e *envDefaults) str(key, def string) string { return envOr(key, def) }

func (e *envDefaults) dur(key string, def time.Duration) time.Duration {
	v, ok := os.LookupEnv(key)
	if !ok {
		return def
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		e.errs = append(e.errs, fmt.Errorf("%s=%q is not a duration (e.g. 15s)", key, v))
		return def
	}
	return d
}

func (e *envDefaults) int(key string, def int) int {
	v, ok := os.LookupEnv(key)
	if !ok {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		e.errs = append(e.errs, fmt.Errorf("%s=%q is not an integer", key, v))
		return def
	}
	return n
}

func (e *envDefaults) bool(key string, def bool) bool {
	v, ok := os.LookupEnv(key)
	if !ok {
		return def
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		e.errs = append(e.errs, fmt.Errorf("%s=%q is not a boolean", key, v))
		return def
	}
	return b
}

func runServe(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("serve", stderr)
	var env envDefaults
	var cfg node.Config
	addr := fs.String("addr", env.str("HERALD_ADDR", ":8080"), "listen address (env HERALD_ADDR)")
	fs.StringVar(&cfg.DataDir, "data-dir", env.str("HERALD_DATA_DIR", "./herald-data"), "directory for the embedded log and the generated publisher key (env HERALD_DATA_DIR)")
	fs.StringVar(&cfg.Log, "log", env.str("HERALD_LOG", ""), "event log: memory, bolt:PATH, redis://HOST:PORT/DB?stream=NAME or nats://HOST:PORT?stream=NAME (default bolt:<data-dir>/herald.db; env HERALD_LOG)")
	fs.IntVar(&cfg.RetainCount, "retain-count", env.int("HERALD_RETAIN_COUNT", 0), "updates kept for replay (0: the log's default; env HERALD_RETAIN_COUNT)")
	fs.DurationVar(&cfg.RetainAge, "retain-age", env.dur("HERALD_RETAIN_AGE", 0), "drop updates older than this, with bolt: and nats:// logs (0: no age limit; env HERALD_RETAIN_AGE)")
	sync := fs.Bool("sync", env.bool("HERALD_SYNC", true), "acknowledge bolt appends only once on disk; --sync=false is faster but a crash may lose acknowledged updates (env HERALD_SYNC)")
	fs.StringVar(&cfg.PublisherKey, "publisher-key", env.str("HERALD_PUBLISHER_KEY", ""), "HS256 secret (or PEM public key file with --publisher-alg RS256/ES256) for publisher tokens; generated in the data dir if empty (env HERALD_PUBLISHER_KEY)")
	fs.StringVar(&cfg.PublisherAlg, "publisher-alg", env.str("HERALD_PUBLISHER_ALG", "HS256"), "publisher token algorithm: HS256, RS256 or ES256 (env HERALD_PUBLISHER_ALG)")
	fs.StringVar(&cfg.SubscriberKey, "subscriber-key", env.str("HERALD_SUBSCRIBER_KEY", ""), "HS256 secret (or PEM public key file) for subscriber tokens; empty: subscribers are anonymous (env HERALD_SUBSCRIBER_KEY)")
	fs.StringVar(&cfg.SubscriberAlg, "subscriber-alg", env.str("HERALD_SUBSCRIBER_ALG", "HS256"), "subscriber token algorithm: HS256, RS256 or ES256 (env HERALD_SUBSCRIBER_ALG)")
	fs.BoolVar(&cfg.NoAnonymous, "no-anonymous", env.bool("HERALD_NO_ANONYMOUS", false), "refuse subscribers without a valid token (env HERALD_NO_ANONYMOUS)")
	fs.StringVar(&cfg.Issuer, "issuer", env.str("HERALD_ISSUER", ""), "issuer (iss) of Mercure 1.0 access tokens (typ at+jwt) that --publisher-key, --subscriber-key and the JWKS URLs verify (env HERALD_ISSUER)")
	fs.StringVar(&cfg.PublisherJWKSURL, "publisher-jwks-url", env.str("HERALD_PUBLISHER_JWKS_URL", ""), "JWK Set URL with keys of --issuer for publisher tokens (env HERALD_PUBLISHER_JWKS_URL)")
	fs.StringVar(&cfg.SubscriberJWKSURL, "subscriber-jwks-url", env.str("HERALD_SUBSCRIBER_JWKS_URL", ""), "JWK Set URL with keys of --issuer for subscriber tokens (env HERALD_SUBSCRIBER_JWKS_URL)")
	fs.StringVar(&cfg.ResourceIdentifier, "resource-identifier", env.str("HERALD_RESOURCE_IDENTIFIER", ""), "audience (aud) access tokens must carry, e.g. https://example.com/.well-known/mercure; empty: derived from the URL each request came to (env HERALD_RESOURCE_IDENTIFIER)")
	var publicURLs listFlag
	if v := os.Getenv("HERALD_PUBLIC_URL"); v != "" {
		publicURLs = strings.Split(v, ",")
	}
	fs.Var(&publicURLs, "public-url", "origin the hub is reached at, e.g. https://example.com; requests for other hosts get 421 (repeatable; env HERALD_PUBLIC_URL, comma-separated)")
	fs.StringVar(&cfg.AccessTokenCookie, "cookie-name", env.str("HERALD_COOKIE_NAME", node.DefaultAccessTokenCookie), "cookie a Mercure 1.0 access token may come in; mercureAuthorization is still read for 0.x tokens (env HERALD_COOKIE_NAME)")
	fs.BoolVar(&cfg.Subscriptions, "subscriptions", env.bool("HERALD_SUBSCRIPTIONS", false), "publish subscription events and serve the subscriptions API (presence) (env HERALD_SUBSCRIPTIONS)")
	fs.DurationVar(&cfg.SubscriptionsHeartbeat, "subscriptions-heartbeat", env.dur("HERALD_SUBSCRIPTIONS_HEARTBEAT", presence.DefaultHeartbeat), "with --subscriptions, interval of the node's presence heartbeat; a node silent for 3 is reported gone within 4 (env HERALD_SUBSCRIPTIONS_HEARTBEAT)")
	fs.DurationVar(&cfg.Heartbeat, "heartbeat", env.dur("HERALD_HEARTBEAT", hub.DefaultHeartbeat), "keep-alive comment interval on idle streams; 0 sends none (env HERALD_HEARTBEAT)")
	fs.DurationVar(&cfg.BatchWindow, "batch-window", env.dur("HERALD_BATCH_WINDOW", hub.DefaultBatchWindow), "under a steady flow of updates, write each stream at most this often, every queued update in one write; 0 writes each update at once (env HERALD_BATCH_WINDOW)")
	fs.StringVar(&cfg.Writer, "writer", env.str("HERALD_WRITER", "io_uring"), "how detached HTTP/1.1 streams are written: io_uring (each round's writes submitted in batches, one system call per batch; epoll where io_uring is unavailable) or epoll (one writev per stream) (env HERALD_WRITER)")
	var origins listFlag
	if v := os.Getenv("HERALD_CORS_ORIGIN"); v != "" {
		origins = strings.Split(v, ",")
	}
	fs.Var(&origins, "cors-origin", "origin allowed to use the hub from a browser with its cookies, or * for any origin without cookies (repeatable; env HERALD_CORS_ORIGIN, comma-separated)")
	cfg.MaxUpdateBytes = env.size("HERALD_MAX_UPDATE_BYTES", mercure.DefaultMaxUpdateBytes)
	fs.Var(sizeFlag{&cfg.MaxUpdateBytes}, "max-update-bytes", "largest accepted publication, in bytes or with a unit such as 8MiB (env HERALD_MAX_UPDATE_BYTES)")
	fs.DurationVar(&cfg.MaxRetry, "max-retry", env.dur("HERALD_MAX_RETRY", hub.DefaultMaxRetry), "longest reconnection delay (retry) a publication may ask browsers for; longer is refused with 400 (env HERALD_MAX_RETRY)")
	fs.IntVar(&cfg.MaxConnsPerIP, "max-conns-per-ip", env.int("HERALD_MAX_CONNS_PER_IP", 1024), "concurrent subscriptions allowed from one address; -1 for no limit (env HERALD_MAX_CONNS_PER_IP)")
	fs.IntVar(&cfg.MaxRequestConnsPerIP, "max-request-conns-per-ip", env.int("HERALD_MAX_REQUEST_CONNS_PER_IP", 0), "concurrent connections from one address that are not subscriptions, idle ones included; more are closed at once (0: no limit, right behind a reverse proxy; env HERALD_MAX_REQUEST_CONNS_PER_IP)")
	publishRate := fs.String("publish-rate", env.str("HERALD_PUBLISH_RATE", "0"), "publications allowed per token subject and per client address, e.g. 50/s or 600/m; beyond it 429 with Retry-After (0: no limit; env HERALD_PUBLISH_RATE)")
	fs.IntVar(&cfg.PublishBurst, "publish-burst", env.int("HERALD_PUBLISH_BURST", 0), "publications allowed at once under --publish-rate (0: one second's worth, at least 1; env HERALD_PUBLISH_BURST)")
	cfg.MaxSelectorBytes = env.size("HERALD_MAX_SELECTOR_BYTES", mercure.DefaultMaxSelectorBytes)
	fs.Var(sizeFlag{&cfg.MaxSelectorBytes}, "max-selector-bytes", "longest topic selector of a subscription, in bytes or with a unit such as 4KiB (env HERALD_MAX_SELECTOR_BYTES)")
	cfg.MaxSubscriptionBytes = env.size("HERALD_MAX_SUBSCRIPTION_BYTES", mercure.DefaultMaxSubscriptionBytes)
	fs.Var(sizeFlag{&cfg.MaxSubscriptionBytes}, "max-subscription-bytes", "total length of one subscription's topic selectors, in bytes or with a unit such as 16KiB (env HERALD_MAX_SUBSCRIPTION_BYTES)")
	fs.IntVar(&cfg.MaxTemplateBytesPerIP, "max-template-bytes-per-ip", env.int("HERALD_MAX_TEMPLATE_BYTES_PER_IP", mercure.DefaultMaxTemplateBytesPerIP), "total length of the URI template selectors of one client's open subscriptions; -1 for no limit (env HERALD_MAX_TEMPLATE_BYTES_PER_IP)")
	var proxies listFlag
	if v := os.Getenv("HERALD_TRUSTED_PROXY"); v != "" {
		proxies = strings.Split(v, ",")
	}
	fs.Var(&proxies, "trusted-proxy", "CIDR (or address) of a reverse proxy whose X-Forwarded-For or Forwarded header tells the client's address (repeatable; env HERALD_TRUSTED_PROXY, comma-separated)")
	fs.DurationVar(&cfg.JobStallAfter, "job-stall-after", env.dur("HERALD_JOB_STALL_AFTER", 30*time.Second), "mark a job stalled after this long without progress (env HERALD_JOB_STALL_AFTER)")
	fs.DurationVar(&cfg.JobKeep, "job-keep", env.dur("HERALD_JOB_KEEP", time.Hour), "remember finished jobs this long (env HERALD_JOB_KEEP)")
	pushAllow, webhookAllow := envList("HERALD_PUSH_ALLOW"), envList("HERALD_WEBHOOK_ALLOW")
	fs.Var(&pushAllow, "push-allow", "host push subscriptions may call back: a name, an address (loopback and private ones only this way) or *.domain; none: push subscriptions are off (repeatable; env HERALD_PUSH_ALLOW, comma-separated)")
	fs.Var(&webhookAllow, "webhook-allow", "host job completion webhooks may go to, as --push-allow; none: webhooks are off (repeatable; env HERALD_WEBHOOK_ALLOW, comma-separated)")
	fs.StringVar(&cfg.WebhookSecret, "webhook-secret", env.str("HERALD_WEBHOOK_SECRET", ""), "secret that signs job completion webhooks (HMAC-SHA256), required with --webhook-allow (env HERALD_WEBHOOK_SECRET)")
	fs.DurationVar(&cfg.CallbackBackoff, "callback-backoff", env.dur("HERALD_CALLBACK_BACKOFF", time.Second), "wait after a failed push delivery or webhook, doubled after each further failure up to 5m (env HERALD_CALLBACK_BACKOFF)")
	fs.BoolVar(&cfg.NoDemo, "no-demo", env.bool("HERALD_NO_DEMO", false), "turn off the demo landing page (env HERALD_NO_DEMO)")
	fs.BoolVar(&cfg.Dashboard, "dashboard", env.bool("HERALD_DASHBOARD", false), "serve the live dashboard at /dashboard; its data needs a publisher token (env HERALD_DASHBOARD)")
	tlsCert := fs.String("tls-cert", env.str("HERALD_TLS_CERT", ""), "PEM certificate file: serve HTTPS (and HTTP/2) (env HERALD_TLS_CERT)")
	tlsKey := fs.String("tls-key", env.str("HERALD_TLS_KEY", ""), "PEM private key file for --tls-cert (env HERALD_TLS_KEY)")
	shutdownTimeout := fs.Duration("shutdown-timeout", env.dur("HERALD_SHUTDOWN_TIMEOUT", 10*time.Second), "on SIGTERM or SIGINT, the longest the drain may take (streams told when to reconnect, requests finished) before the remaining connections are closed (env HERALD_SHUTDOWN_TIMEOUT)")
	shutdownRetry := fs.Duration("shutdown-retry", env.dur("HERALD_SHUTDOWN_RETRY", 2*time.Second), "on SIGTERM or SIGINT, the least reconnection delay (retry) each stream is told before it ends, so that its client comes back to another node (env HERALD_SHUTDOWN_RETRY)")
	fs.DurationVar(&cfg.ShutdownRetryJitter, "shutdown-retry-jitter", env.dur("HERALD_SHUTDOWN_RETRY_JITTER", hub.DefaultShutdownRetryJitter), "spread of those delays: each stream is told one drawn uniformly from [--shutdown-retry, --shutdown-retry + this], so the clients of a stopping node do not reconnect all at once; 0 tells every stream --shutdown-retry (env HERALD_SHUTDOWN_RETRY_JITTER)")
	logLevel := fs.String("log-level", env.str("HERALD_LOG_LEVEL", "info"), "debug, info, warn or error (env HERALD_LOG_LEVEL)")
	configFile := fs.String("config", env.str("HERALD_CONFIG", ""), "TOML (or .yaml/.yml YAML) file setting any of these flags by name, and [[issuers]] tables; flags and HERALD_* variables override it (env HERALD_CONFIG)")
	printCfg := fs.Bool("print-config", false, "print the effective configuration as TOML for --config, secrets masked, and exit")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *configFile != "" {
		issuers, err := applyConfigFile(fs, *configFile)
		if err != nil {
			return err
		}
		cfg.Issuers = issuers
	}
	if len(env.errs) > 0 {
		return errors.Join(env.errs...)
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	if (*tlsCert == "") != (*tlsKey == "") {
		return errors.New("--tls-cert and --tls-key go together: give both or neither")
	}
	cfg.ShutdownRetry = *shutdownRetry
	if err := checkDurations(&cfg, *shutdownTimeout); err != nil {
		return err
	}
	if cfg.Writer != "epoll" && cfg.Writer != "io_uring" {
		return fmt.Errorf("--writer must be epoll or io_uring, got %q", cfg.Writer)
	}
	cfg.NoSync = !*sync
	cfg.CORSOrigins = origins
	cfg.PushAllow, cfg.WebhookAllow = pushAllow, webhookAllow
	cfg.PublicURLs = publicURLs
	rate, err := ratelimit.ParseRate(*publishRate)
	if err != nil {
		return fmt.Errorf("--publish-rate: %w", err)
	}
	cfg.PublishRate = rate
	trusted, err := clientaddr.ParsePrefixes(proxies)
	if err != nil {
		return fmt.Errorf("--trusted-proxy: %w", err)
	}
	cfg.TrustedProxies = trusted
	var level slog.Level
	if err := level.UnmarshalText([]byte(*logLevel)); err != nil {
		return fmt.Errorf("invalid --log-level %q: use debug, info, warn or error", *logLevel)
	}
	if err := checkIssuers(cfg.Issuer, cfg.Issuers); err != nil {
		return err
	}
	if *printCfg {
		return printConfig(stdout, fs, cfg.Issuers)
	}
	if err := checkUnmasked(&cfg); err != nil {
		return err
	}
	logger := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
	cfg.Logger = logger

	srv, err := node.New(ctx, cfg)
	if err != nil {
		return err
	}
	defer srv.Close()
	stopReload := reloadOnHangup(srv, logger)
	defer stopReload()
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", *addr, err)
	}
	scheme := "http"
	if *tlsCert != "" {
		scheme = "https"
	}
	logStart(logger, scheme, ln.Addr().String(), srv)

	errc := make(chan error, 1)
	go func() {
		if *tlsCert != "" {
			errc <- srv.ServeTLS(ln, *tlsCert, *tlsKey)
			return
		}
		errc <- srv.Serve(ln)
	}()
	select {
	case err := <-errc:
		return fmt.Errorf("serving HTTP: %w", err)
	case <-ctx.Done():
	}
	logger.Info("shutting down")
	sctx, cancel := context.WithTimeout(context.Background(), *shutdownTimeout)
	defer cancel()
	srv.Shutdown(sctx) // past the timeout, the remaining connections are closed
	<-errc
	return nil
}

// checkDurations refuses the durations `herald serve` cannot run with:
// a shutdown that cannot wait or tells no delay, and negative settings
// (zero is how each is turned off).
func checkDurations(cfg *node.Config, shutdownTimeout time.Duration) error {
	switch {
	case shutdownTimeout <= 0:
		return fmt.Errorf("--shutdown-timeout must be positive, got %v", shutdownTimeout)
	case cfg.ShutdownRetry <= 0:
		return fmt.Errorf("--shutdown-retry must be positive, got %v", cfg.ShutdownRetry)
	case cfg.ShutdownRetryJitter < 0:
		return fmt.Errorf("--shutdown-retry-jitter must not be negative, got %v", cfg.ShutdownRetryJitter)
	case cfg.BatchWindow < 0:
		return fmt.Errorf("--batch-window must not be negative, got %v", cfg.BatchWindow)
	case cfg.Heartbeat < 0:
		return fmt.Errorf("--heartbeat must not be negative, got %v", cfg.Heartbeat)
	}
	return nil
}

func logStart(logger *slog.Logger, scheme, addr string, srv *node.Node) {
	host, port, _ := net.SplitHostPort(addr)
	if host == "" || host == "::" || host == "0.0.0.0" {
		host = "localhost"
	}
	base := scheme + "://" + net.JoinHostPort(host, port)
	logger.Info("herald is serving", "url", base, "log", srv.LogSpec(), "subscribe", base+"/.well-known/mercure?topic=*")
	if srv.GeneratedKey != "" {
		logger.Info("publisher key kept in the data directory; mint a publisher token with:",
			"command", fmt.Sprintf("herald token --key '%s' --publish '*'", srv.GeneratedKey))
	}
}

// reloadOnHangup reloads the node's keys (node.Node.Reload) on each
// SIGHUP, logging the outcome, until the returned stop is called; stop
// waits for a reload under way.
func reloadOnHangup(srv *node.Node, logger *slog.Logger) (stop func()) {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	done, ended := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(ended)
		for {
			select {
			case <-hup:
				if err := srv.Reload(); err != nil {
					logger.Error("keys not reloaded, the previous ones stay", "err", err)
					continue
				}
				logger.Info("keys reloaded")
			case <-done:
				return
			}
		}
	}()
	return func() {
		signal.Stop(hup)
		close(done)
		<-ended
	}
}

// envList returns the comma-separated values of the environment variable
// key, the default of a repeatable flag.
func envList(key string) listFlag {
	if v := os.Getenv(key); v != "" {
		return strings.Split(v, ",")
	}
	return nil
}
