package mercure

import (
	"errors"
	"log/slog"
	"net/http"
	"net/netip"
	"sync"

	"github.com/heraldhub/herald/auth"
	"github.com/heraldhub/herald/hub"
	"github.com/heraldhub/herald/internal/clientaddr"
	"github.com/heraldhub/herald/internal/cors"
)

// Path is where the protocol is served.
const Path = "/.well-known/mercure"

// Defaults of the limits in Config, also shown by the flags
// of `herald serve`.
const (
	DefaultMaxUpdateBytes        = 1 << 20
	DefaultMaxSelectorBytes      = 4096
	DefaultMaxSubscriptionBytes  = 16 << 10
	DefaultMaxTemplateBytesPerIP = 128 << 10
)

// Verifier authenticates a request's token (Authorization header,
// mercureAuthorization cookie or authorization query parameter) and returns
// its claims. *auth.Verifier implements it.
type Verifier interface {
	Verify(r *http.Request) (*auth.Claims, error)
}

// Config configures the protocol handler. Zero values mean the defaults
// given in the comments.
type Config struct {
	// Hub delivers and publishes updates. Required.
	Hub *hub.Hub
	// Publishers verifies publisher tokens; nil refuses every publication.
	Publishers Verifier
	// Subscribers verifies subscriber tokens; nil treats every subscriber
	// as anonymous.
	Subscribers Verifier
	// NoAnonymous refuses subscribers without a valid token.
	NoAnonymous bool
	// CORSOrigins lists the origins browsers may call the hub from; "*"
	// allows any origin.
	CORSOrigins []string
	// MaxUpdateBytes bounds a publication's request body. Default 1 MiB.
	MaxUpdateBytes int
	// MaxTopics bounds the topics of one subscription (more: 400) or update
	// (more: 413, as Mercure 1.0 asks). Default 64.
	MaxTopics int
	// MaxSelectorBytes bounds the length of one topic selector of a
	// subscription; a longer one is answered 414 (0.x topic=) or 400 (1.0
	// match parameters, as Mercure 1.0 asks). Default
	// DefaultMaxSelectorBytes.
	MaxSelectorBytes int
	// MaxSubscriptionBytes bounds the total length of a subscription's
	// topic selectors (and, three times over, a QUERY subscription's body).
	// Default DefaultMaxSubscriptionBytes.
	MaxSubscriptionBytes int
	// MaxConnsPerIP bounds concurrent subscriptions from one client
	// (see TrustedProxies). Default 1024; negative means no limit.
	MaxConnsPerIP int
	// PublishLimit, if set, bounds how often publishers may publish. Nil
	// means no limit.
	PublishLimit Limiter
	// MaxTemplateBytesPerIP bounds the total length of the URI template
	// selectors and URL pattern matchers of one client's open
	// subscriptions: a compiled template
	// holds 100 to 250 bytes of memory per byte. Default
	// DefaultMaxTemplateBytesPerIP (at most about 32 MiB per client);
	// negative means no limit.
	MaxTemplateBytesPerIP int
	// TrustedProxies lists the proxies whose X-Forwarded-For or Forwarded
	// headers tell the client's address (see package clientaddr). Clients
	// are counted by address for IPv4 and by /64 for IPv6.
	TrustedProxies []netip.Prefix
	// Presence, if set, is told of every subscription (the subscriptions
	// API); nil tells nobody.
	Presence Presence
	// Logger receives structured logs. Default slog.Default().
	Logger *slog.Logger
}

// Limiter decides whether a publication may proceed now.
type Limiter interface {
	// AllowPublish returns nil if r, from a publisher whose token has
	// subject ("" if none), may publish now; otherwise an error answered
	// as is (429, with the time to wait).
	AllowPublish(r *http.Request, subject string) error
}

// Handler serves the Mercure protocol at Path.
type Handler struct {
	cfg     Config
	clients *clientaddr.Resolver

	mu    sync.Mutex
	perIP map[string]usage
}

// usage is what one client's open subscriptions hold.
type usage struct {
	conns         int
	templateBytes int
}

// New returns a protocol handler for cfg.
func New(cfg Config) (*Handler, error) {
	if cfg.Hub == nil {
		return nil, errors.New("mercure: Config.Hub is required")
	}
	if cfg.MaxUpdateBytes <= 0 {
		cfg.MaxUpdateBytes = DefaultMaxUpdateBytes
	}
	if cfg.MaxTopics <= 0 {
		cfg.MaxTopics = 64
	}
	if cfg.MaxSelectorBytes <= 0 {
		cfg.MaxSelectorBytes = DefaultMaxSelectorBytes
	}
	if cfg.MaxSubscriptionBytes <= 0 {
		cfg.MaxSubscriptionBytes = DefaultMaxSubscriptionBytes
	}
	if cfg.MaxConnsPerIP == 0 {
		cfg.MaxConnsPerIP = 1024
	}
	if cfg.MaxTemplateBytesPerIP == 0 {
		cfg.MaxTemplateBytesPerIP = DefaultMaxTemplateBytesPerIP
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return &Handler{cfg: cfg, clients: clientaddr.New(cfg.TrustedProxies), perIP: make(map[string]usage)}, nil
}

// ServeHTTP answers GET and QUERY (subscribe), POST (publish) and OPTIONS
// (CORS preflight) requests.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h.cors(w, r)
	w.Header().Set("Link", `<`+Path+`>; rel="mercure"`)
	switch r.Method {
	case http.MethodGet, http.MethodHead, MethodQuery:
		h.subscribe(w, r)
	case http.MethodPost:
		h.publish(w, r)
	case http.MethodOptions:
		w.WriteHeader(http.StatusNoContent)
	default:
		w.Header().Set("Allow", "GET, QUERY, POST, OPTIONS")
		WriteError(w, errorf(http.StatusMethodNotAllowed, "method %s not allowed: GET (or QUERY) subscribes, POST publishes", r.Method))
	}
}

// cors sets the CORS headers of the answer to r: the hub's one policy (see
// internal/cors), shared with the jobs API and herald.js.
func (h *Handler) cors(w http.ResponseWriter, r *http.Request) {
	cors.Policy{Origins: h.cfg.CORSOrigins}.Apply(w, r)
}

// subscriberClaims returns the subscriber's verified claims, nil for an
// anonymous subscriber, or the reason the request is refused.
func (h *Handler) subscriberClaims(r *http.Request) (*auth.Claims, error) {
	if h.cfg.Subscribers == nil {
		if h.cfg.NoAnonymous {
			return nil, errorf(http.StatusUnauthorized, "subscriptions need a token but no subscriber key is configured")
		}
		return nil, nil
	}
	claims, err := h.cfg.Subscribers.Verify(r)
	if errors.Is(err, auth.ErrNoToken) && !h.cfg.NoAnonymous {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return claims, nil
}

// acquire counts one more subscription, holding templateBytes of URI
// templates, for client, or says which of its limits that would pass.
func (h *Handler) acquire(client string, templateBytes int) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	u := h.perIP[client]
	if h.cfg.MaxConnsPerIP > 0 && u.conns >= h.cfg.MaxConnsPerIP {
		return limitError("conns_per_ip", "too many connections from %s: the limit is %d (--max-conns-per-ip)", client, h.cfg.MaxConnsPerIP)
	}
	if h.cfg.MaxTemplateBytesPerIP > 0 && templateBytes > 0 && u.templateBytes+templateBytes > h.cfg.MaxTemplateBytesPerIP {
		return limitError("template_bytes", "too many URI template bytes in the open subscriptions from %s: the limit is %d (--max-template-bytes-per-ip)", client, h.cfg.MaxTemplateBytesPerIP)
	}
	u.conns++
	u.templateBytes += templateBytes
	h.perIP[client] = u
	return nil
}

// release undoes acquire.
func (h *Handler) release(client string, templateBytes int) {
	h.mu.Lock()
	u := h.perIP[client]
	u.conns--
	u.templateBytes -= templateBytes
	if u.conns <= 0 {
		delete(h.perIP, client)
	} else {
		h.perIP[client] = u
	}
	h.mu.Unlock()
}
