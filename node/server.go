package node

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"sync/atomic"
	"time"

	"github.com/heraldhub/herald/eventlog"
	"github.com/heraldhub/herald/hub"
	"github.com/heraldhub/herald/internal/clientaddr"
	"github.com/heraldhub/herald/internal/cors"
	"github.com/heraldhub/herald/internal/dashboard"
	"github.com/heraldhub/herald/internal/demo"
	"github.com/heraldhub/herald/internal/httperr"
	"github.com/heraldhub/herald/internal/ratelimit"
	"github.com/heraldhub/herald/jobs"
	"github.com/heraldhub/herald/mercure"
	"github.com/heraldhub/herald/presence"
	"github.com/heraldhub/herald/web"
)

// Config configures a node. Defaults (applied by New) are in the comments;
// `herald serve` fills it from flags and HERALD_* environment variables.
type Config struct {
	// Log names the event log: "memory", "bolt:PATH", "redis://…" or
	// "nats://…". Default "bolt:<DataDir>/herald.db".
	Log string
	// DataDir holds the embedded log and the generated publisher key.
	// Default "./herald-data"; created if missing.
	DataDir string
	// RetainCount and RetainAge bound the retained history (0: the log's
	// default count, no age limit).
	RetainCount int
	RetainAge   time.Duration
	// NoSync acknowledges bolt appends before they reach the disk: faster,
	// but a crash may lose the last acknowledged updates.
	NoSync bool

	// PublisherKey and SubscriberKey are HS256 secrets, or paths to PEM
	// public keys when the matching Alg is RS256 or ES256. An empty
	// PublisherKey loads (or generates on first start) a secret kept in
	// DataDir. An empty SubscriberKey means subscribers cannot present
	// tokens: everyone is anonymous and sees public updates only.
	PublisherKey  string
	SubscriberKey string
	// PublisherAlg and SubscriberAlg are the accepted JWT algorithms.
	// Default "HS256".
	PublisherAlg  string
	SubscriberAlg string
	// NoAnonymous refuses subscribers without a valid token.
	NoAnonymous bool
	// Issuer is the "iss" of Mercure 1.0 access tokens (typ at+jwt) that
	// PublisherKey, SubscriberKey and the JWKS URLs below verify. Tokens
	// are verified only with the keys of the issuer they name.
	Issuer string
	// PublisherJWKSURL and SubscriberJWKSURL are JWK Set URLs whose keys
	// verify the tokens of Issuer, besides the static keys.
	PublisherJWKSURL  string
	SubscriberJWKSURL string
	// Issuers are further token issuers, each with its own keys (set from
	// the configuration file).
	Issuers []Issuer
	// ResourceIdentifier is the audience ("aud") an access token must
	// carry; "" derives it from the URL the request came to.
	ResourceIdentifier string
	// PublicURLs, if set, are the only origins (scheme://host[:port]) the
	// hub answers on; a request for another gets 421.
	PublicURLs []string
	// AccessTokenCookie is the cookie a Mercure 1.0 access token may come
	// in. Default "__Secure-mercure_access_token".
	AccessTokenCookie string
	// Subscriptions turns on the subscriptions API (presence): subscription
	// events and GET /.well-known/mercure/subscriptions (see package
	// presence).
	Subscriptions bool
	// SubscriptionsHeartbeat is the interval of the node's presence
	// heartbeats with Subscriptions: a node silent for three is reported
	// gone within four. Default presence.DefaultHeartbeat (5s).
	SubscriptionsHeartbeat time.Duration

	// Heartbeat is the idle interval between keep-alive comments; zero
	// sends none (usually hub.DefaultHeartbeat). Zero means off for
	// Heartbeat, ShutdownRetryJitter and BatchWindow, as in hub.Config and
	// on the command line.
	Heartbeat time.Duration
	// ShutdownRetry and ShutdownRetryJitter are the reconnection delays
	// streams are told when the node shuts down: each one drawn uniformly
	// from [ShutdownRetry, ShutdownRetry + ShutdownRetryJitter] (see
	// hub.Config). ShutdownRetry defaults to 2s; a zero jitter tells every
	// stream ShutdownRetry (usually hub.DefaultShutdownRetryJitter).
	ShutdownRetry       time.Duration
	ShutdownRetryJitter time.Duration
	// BatchWindow is the longest an update may wait to share a write with
	// the next ones while updates keep coming (see hub.Config). Zero
	// writes every update at once (usually hub.DefaultBatchWindow).
	BatchWindow time.Duration
	// Writer is how detached streams are written, "io_uring" (default) or
	// "epoll" (see hub.Config).
	Writer string
	// CORSOrigins lists origins allowed to call the hub from a browser.
	CORSOrigins []string
	// MaxUpdateBytes bounds a publication's size. Default 1 MiB.
	MaxUpdateBytes int
	// MaxRetry bounds the reconnection delay (retry) an update may ask
	// browsers for; longer is refused with 400. Default 1m.
	MaxRetry time.Duration
	// MaxRequestConnsPerIP bounds the concurrent connections from one
	// address that are not subscriptions (idle keep-alive ones included);
	// one over it is closed as it is accepted. Serve applies it; an
	// http.Server of one's own needs Node.ConnState as its ConnState.
	// 0, the default, means no limit: behind a reverse proxy every
	// connection comes from the proxy.
	MaxRequestConnsPerIP int
	// PublishRate bounds publications (Mercure and jobs API writes) per
	// second, for each token subject and each client address; 0 means no
	// limit, the default. PublishBurst is how many may come at once;
	// default one second's worth, at least 1.
	PublishRate  float64
	PublishBurst int
	// MaxConnsPerIP bounds concurrent subscriptions from one client.
	// Default 1024.
	MaxConnsPerIP int
	// MaxSelectorBytes, MaxSubscriptionBytes and MaxTemplateBytesPerIP
	// bound the topic selectors of subscriptions: one selector's length,
	// one subscription's total, and the URI templates of one client's open
	// subscriptions. Defaults in mercure.Config.
	MaxSelectorBytes      int
	MaxSubscriptionBytes  int
	MaxTemplateBytesPerIP int
	// TrustedProxies lists the proxies whose X-Forwarded-For or Forwarded
	// headers tell the client's address for per-client limits; none by
	// default.
	TrustedProxies []netip.Prefix
	// NoDemo turns off the landing-page demo and its data query.
	NoDemo bool
	// DemoPace is the demo query's unit of delay (a query takes about 150
	// of them). Default 40ms.
	DemoPace time.Duration
	// JobStallAfter marks a job stalled after this long without progress.
	// Default 30s.
	JobStallAfter time.Duration
	// JobKeep is how long finished jobs are remembered. Default 1h.
	JobKeep time.Duration
	// Dashboard serves the live dashboard at /dashboard; its data needs a
	// token the publisher key verifies. Off by default (404).
	Dashboard bool
	// DashboardReport is the interval of the node's reports to the
	// dashboards of its cluster. Default 5s.
	DashboardReport time.Duration

	// PushAllow lists the hosts push subscriptions may call back (a host,
	// an address, or *.domain; loopback and private addresses only when
	// named exactly). Empty turns push subscriptions off.
	PushAllow []string
	// WebhookAllow lists the hosts job completion webhooks may go to, as
	// PushAllow; WebhookSecret signs them. Empty turns webhooks off.
	WebhookAllow  []string
	WebhookSecret string
	// CallbackBackoff and CallbackMaxBackoff bound the waits between the
	// attempts of a push delivery or a webhook. Defaults 1s and 5m.
	CallbackBackoff    time.Duration
	CallbackMaxBackoff time.Duration
	// PushMaxFailures pauses a push subscription after this many failed
	// attempts in a row (default 10), or when one delivery has failed for
	// PushDeadline (default 1h).
	PushMaxFailures int
	PushDeadline    time.Duration
	// WebhookDeadline is how long a job's webhook is retried. Default 24h.
	WebhookDeadline time.Duration

	// Logger receives structured logs. Default slog.Default().
	Logger *slog.Logger
}

// Issuer is one token issuer and the keys that verify its tokens. Keys
// are given as the flags take them: an HS256 secret, or a PEM file path
// for RS256 and ES256.
type Issuer struct {
	// ID is the "iss" value, compared exactly.
	ID string
	// PublisherKeys and SubscriberKeys are static keys, several so that
	// one can be rotated; PublisherAlg and SubscriberAlg their algorithm
	// (default HS256).
	PublisherKeys  []string
	PublisherAlg   string
	SubscriberKeys []string
	SubscriberAlg  string
	// PublisherJWKSURL and SubscriberJWKSURL are JWK Set URLs with more
	// keys of this issuer.
	PublisherJWKSURL  string
	SubscriberJWKSURL string
}

// DefaultAccessTokenCookie is the cookie a Mercure 1.0 access token comes
// in unless Config.AccessTokenCookie names another.
const DefaultAccessTokenCookie = "__Secure-mercure_access_token"

func (c *Config) setDefaults() {
	if c.DataDir == "" {
		c.DataDir = "./herald-data"
	}
	if c.Log == "" {
		c.Log = "bolt:" + c.DataDir + "/herald.db"
	}
	if c.PublisherAlg == "" {
		c.PublisherAlg = "HS256"
	}
	if c.SubscriberAlg == "" {
		c.SubscriberAlg = "HS256"
	}
	if c.AccessTokenCookie == "" {
		c.AccessTokenCookie = DefaultAccessTokenCookie
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.PushDeadline <= 0 {
		c.PushDeadline = time.Hour
	}
}

// Node is one running Herald node.
type Node struct {
	cfg     Config
	log     eventlog.Log
	writes  *writeWatch // log as the hub appends to it
	conns   *connLimit  // nil without Config.MaxRequestConnsPerIP
	metrics *metrics
	hub     *hub.Hub
	jobs    *jobs.Manager
	site    *demo.Site
	origins *origins // the origin of requests; the public URLs
	handler http.Handler
	keys    nodeVerifiers // replaced by Reload
	// draining is set by Drain: readiness fails from then on.
	draining atomic.Bool
	// dashboard is nil without Config.Dashboard.
	dashboard *dashboard.Dashboard
	// http serves the handler (Serve, Shutdown); fresh are its
	// connections that have not sent a request yet.
	http  *http.Server
	fresh freshConns
	// callbacks are the push subscriptions and job webhooks.
	callbacks callbacks
	// GeneratedKey is the publisher secret New generated or loaded from
	// DataDir because Config.PublisherKey was empty; "" otherwise.
	GeneratedKey string
	closers      []func() error
}

// New opens the log, starts the hub and builds the HTTP handler. Close
// releases everything.
func New(ctx context.Context, cfg Config) (*Node, error) {
	cfg.setDefaults()
	lg, err := openLog(ctx, cfg.Log, &cfg)
	if err != nil {
		return nil, err
	}
	return start(cfg, lg)
}

// start builds a node on lg, which the node's Close closes.
func start(cfg Config, lg eventlog.Log) (*Node, error) {
	s := &Node{cfg: cfg, log: lg}
	s.metrics = newMetrics(s)
	s.writes = &writeWatch{Log: lg, now: time.Now, observe: s.metrics.appended}
	if cfg.MaxRequestConnsPerIP > 0 {
		refused := s.metrics.refusals.WithLabelValues("request_conns").Inc
		s.conns = &connLimit{max: cfg.MaxRequestConnsPerIP, proxies: clientaddr.New(cfg.TrustedProxies), refused: refused, perAddr: map[string]int{}, conns: map[net.Conn]string{}}
	}
	s.closers = append(s.closers, lg.Close)
	if err := s.build(); err != nil {
		s.Close()
		return nil, err
	}
	s.http = s.newHTTPServer()
	return s, nil
}

// Hub returns the node's hub, for publishing from Go.
func (s *Node) Hub() *hub.Hub { return s.hub }

// Jobs returns the node's jobs manager, for reporting progress from Go.
func (s *Node) Jobs() *jobs.Manager { return s.jobs }

// Handler returns the node's HTTP handler, for serving it from an
// http.Server of one's own (Serve runs the node's).
func (s *Node) Handler() http.Handler { return s.handler }

// Drain ends every stream with a reconnection hint (the queued updates
// first), and has /readyz answer 503 from then on so that load balancers
// send no more requests. Shutdown calls it; with an http.Server of one's
// own, call it before, or from (RegisterOnShutdown), its Shutdown, whose
// wait for idle connections an SSE stream never satisfies otherwise.
func (s *Node) Drain() {
	s.draining.Store(true)
	if s.site != nil {
		s.site.Close() // a running demo query ends first
	}
	if s.jobs != nil {
		s.jobs.Close() // coalesced job reports are published before streams end
	}
	s.closeDashboard()
	if s.hub != nil {
		s.hub.Close()
	}
}

// Close stops the node and releases the log, in reverse order of
// acquisition.
func (s *Node) Close() error {
	var errs []error
	for i := len(s.closers) - 1; i >= 0; i-- {
		if err := s.closers[i](); err != nil {
			errs = append(errs, err)
		}
	}
	s.closers = nil
	return errors.Join(errs...)
}

func (s *Node) build() error {
	cfg := &s.cfg
	origins, err := newOrigins(cfg.PublicURLs, cfg.TrustedProxies)
	if err != nil {
		return err
	}
	s.origins = origins
	set, err := s.verifiers()
	if err != nil {
		return err
	}
	s.keys = nodeVerifiers{pub: swapOf(set.pub), sub: swapOf(set.sub), jobsSub: swapOf(set.jobsSub)}
	pub, sub, jobsSub := s.keys.pub.orNil(), s.keys.sub.orNil(), s.keys.jobsSub.orNil()
	m := s.metrics
	// The tracker is closed after the hub, whose streams' departures it
	// then still appends.
	var tracker *presence.Tracker
	if cfg.Subscriptions {
		if tracker, err = presence.New(presence.Config{Log: s.writes, Heartbeat: cfg.SubscriptionsHeartbeat, Logger: cfg.Logger}); err != nil {
			return err
		}
		s.closers = append(s.closers, tracker.Close)
	}
	if err := s.startCallbacks(); err != nil {
		return err
	}
	// The jobs manager and the dashboard publish through the hub, and the
	// hub feeds them what it reads: it is built first, on a tail that
	// starts feeding them once they exist.
	tail := newTail()
	h, err := hub.New(hub.Config{
		Log:         s.writes,
		Heartbeat:   cfg.Heartbeat,
		BatchWindow: cfg.BatchWindow,
		Writer:      cfg.Writer,
		// A node that shuts down spreads its subscribers' reconnections.
		ShutdownRetry:       cfg.ShutdownRetry,
		ShutdownRetryJitter: cfg.ShutdownRetryJitter,
		MaxRetry:            cfg.MaxRetry,
		// The data is part of the publication: the one limit bounds both.
		MaxDataBytes: cfg.MaxUpdateBytes,
		Logger:       cfg.Logger,
		// Delivery lag is sampled once per update, by the first stream
		// that writes it (see hub.Config.OnDeliveryLag): never per
		// delivery, which is the hot path.
		OnDeliveryLag: m.observeLag,
		OnStreamEnd:   m.streamEnded,
		OnReplay:      m.replayed,
		Observe:       tail.Observe,
		Snapshots:     tail.Snapshots,
	})
	if err != nil {
		return err
	}
	s.hub = h
	// On a failed start the hub may wait in the tail: release it first.
	s.closers = append(s.closers, h.Close, tail.release)
	limit := ratelimit.NewPublish(cfg.PublishRate, cfg.PublishBurst)
	var mlimit mercure.Limiter
	if limit != nil {
		clients := clientaddr.New(cfg.TrustedProxies)
		limit.ClientAddr = func(r *http.Request) string { return clientaddr.Bucket(clients.Addr(r)) }
		mlimit = limit
	}
	mh, err := mercure.New(mercure.Config{
		Hub:            h,
		Publishers:     pub,
		Subscribers:    sub,
		NoAnonymous:    cfg.NoAnonymous,
		CORSOrigins:    cfg.CORSOrigins,
		MaxUpdateBytes: cfg.MaxUpdateBytes,
		MaxConnsPerIP:  cfg.MaxConnsPerIP,
		PublishLimit:   mlimit,
		Logger:         cfg.Logger,

		MaxSelectorBytes:      cfg.MaxSelectorBytes,
		MaxSubscriptionBytes:  cfg.MaxSubscriptionBytes,
		MaxTemplateBytesPerIP: cfg.MaxTemplateBytesPerIP,
		TrustedProxies:        cfg.TrustedProxies,
		Presence:              arrivals(tracker),
	})
	if err != nil {
		return err
	}
	jobsCfg := jobs.Config{
		Publisher:    h,
		StallAfter:   cfg.JobStallAfter,
		KeepFinished: cfg.JobKeep,
		Logger:       cfg.Logger,
	}
	s.callbacks.jobsConfig(&jobsCfg)
	manager, err := jobs.NewManager(jobsCfg)
	if err != nil {
		return err
	}
	s.closers = append(s.closers, manager.Close)
	s.jobs = manager
	if err := s.newDashboard(pub, tracker); err != nil {
		return err
	}
	followers := []follower{m, manager, s.callbacks}
	if s.dashboard != nil {
		followers = []follower{m, s.dashboard, manager, s.callbacks}
	}
	tail.start(manager, followers...)
	s.recoverJobs(manager)
	s.recoverCallbacks()
	mux := http.NewServeMux()
	mux.Handle(mercure.Path, m.watch(mh, true))
	// One cross-origin policy for everything a page of another origin
	// uses: the Mercure handler applies it itself, the rest through it.
	crossOrigin := cors.Policy{Origins: cfg.CORSOrigins}
	jobsAuth := authorizer{pub: pub, sub: jobsSub, noAnonymous: cfg.NoAnonymous, resource: cfg.ResourceIdentifier}
	jobsAPI := m.watch(crossOrigin.Handler(limitWrites(limit, pub, manager.Handler(jobsAuth))), false)
	mux.Handle("/api/jobs", jobsAPI)
	mux.Handle("/api/jobs/", jobsAPI)
	s.routeCallbacks(mux, func(h http.Handler) http.Handler { return m.watch(crossOrigin.Handler(h), false) }, jobsAuth)
	if tracker != nil {
		api := m.watch(crossOrigin.Handler(tracker.Handler(sub)), false)
		mux.Handle(presence.Prefix, api)
		mux.Handle(presence.Prefix+"/", api)
	}
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("GET /readyz", s.ready)
	s.mountDashboard(mux)
	mux.Handle("GET /herald.js", crossOrigin.Handler(web.Handler()))
	if !cfg.NoDemo {
		site, err := demo.New(demo.Config{Jobs: manager, Pace: cfg.DemoPace, Logger: cfg.Logger})
		if err != nil {
			return err
		}
		s.closers = append(s.closers, site.Close)
		s.site = site
		mux.Handle("/", crossOrigin.Handler(site.Handler()))
	}
	mux.Handle("GET /metrics", m.handler())
	metadata := crossOrigin.Handler(http.HandlerFunc(s.metadata))
	mux.Handle(metadataPrefix, metadata)
	mux.Handle(metadataPath, metadata)
	s.handler = origins.Handler(mux)
	return nil
}

// recoverJobs rebuilds the jobs under way from the log, so that a node
// restarted on a persistent or shared log still knows them. The hub follows
// the log already, so nothing falls between the replay and the live tail.
// A log that cannot be replayed leaves the node serving, with the jobs it
// hears of from now on.
func (s *Node) recoverJobs(m *jobs.Manager) {
	ctx, cancel := context.WithTimeout(context.Background(), recoverTimeout)
	defer cancel()
	if err := m.Recover(ctx, s.log); err != nil {
		s.cfg.Logger.Warn("jobs started before this node may be missing", "err", err)
	}
}

// recoverTimeout bounds the replay of the log for jobs at start.
const recoverTimeout = 30 * time.Second

// LogSpec returns the log the node runs on, as configured.
func (s *Node) LogSpec() string { return s.cfg.Log }

// limitWrites applies the publish rate limit to next's POST requests (the
// jobs API's writes), counted under the publisher token's subject if the
// request carries a valid one, and its address.
func limitWrites(limit *ratelimit.Publish, pub mercure.Verifier, next http.Handler) http.Handler {
	if limit == nil {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost {
			var subject string
			if pub != nil {
				if c, err := pub.Verify(r); err == nil {
					subject = c.Subject
				}
			}
			if err := limit.AllowPublish(r, subject); err != nil {
				httperr.LeaveBody(w, r)
				httperr.Write(w, err)
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}
