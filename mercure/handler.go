package mercure

import (
	"errors"
	"log/slog"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/heraldhub/herald/auth"
	"github.com/heraldhub/herald/eventlog"
	"github.com/heraldhub/herald/hub"
	"github.com/heraldhub/herald/internal/clientaddr"
	"github.com/heraldhub/herald/internal/cors"
	"github.com/heraldhub/herald/internal/httperr"
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
	// MaxTopics bounds the topics of one subscription or update. Default 64.
	MaxTopics int
	// MaxSelectorBytes bounds the length of one topic selector of a
	// subscription; a longer one is answered 414. Default
	// DefaultMaxSelectorBytes.
	MaxSelectorBytes int
	// MaxSubscriptionBytes bounds the total length of a subscription's
	// topic selectors. Default DefaultMaxSubscriptionBytes.
	MaxSubscriptionBytes int
	// MaxConnsPerIP bounds concurrent subscriptions from one client
	// (see TrustedProxies). Default 1024; negative means no limit.
	MaxConnsPerIP int
	// PublishLimit, if set, bounds how often publishers may publish. Nil
	// means no limit.
	PublishLimit Limiter
	// MaxTemplateBytesPerIP bounds the total length of the URI template
	// selectors of one client's open subscriptions: a compiled template
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

// ServeHTTP answers GET (subscribe), POST (publish) and OPTIONS (CORS
// preflight) requests.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h.cors(w, r)
	w.Header().Set("Link", `<`+Path+`>; rel="mercure"`)
	switch r.Method {
	case http.MethodGet, http.MethodHead:
		h.subscribe(w, r)
	case http.MethodPost:
		h.publish(w, r)
	case http.MethodOptions:
		w.WriteHeader(http.StatusNoContent)
	default:
		w.Header().Set("Allow", "GET, POST, OPTIONS")
		WriteError(w, errorf(http.StatusMethodNotAllowed, "method %s not allowed: GET subscribes, POST publishes", r.Method))
	}
}

// cors sets the CORS headers of the answer to r: the hub's one policy (see
// internal/cors), shared with the jobs API and herald.js.
func (h *Handler) cors(w http.ResponseWriter, r *http.Request) {
	cors.Policy{Origins: h.cfg.CORSOrigins}.Apply(w, r)
}

// subscribe checks the request's size, its token and the client's limits
// before compiling any selector: until then nothing it asks costs more
// than its own bytes. A HEAD request compiles nothing and answers the
// headers a stream would start with.
func (h *Handler) subscribe(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	topics := q["topic"]
	templateBytes, err := h.checkSelectors(topics)
	if err != nil {
		WriteError(w, err)
		return
	}
	lastID := r.Header.Get("Last-Event-ID")
	if lastID == "" {
		lastID = q.Get("lastEventID")
	}
	claims, err := h.subscriberClaims(r)
	if err != nil {
		WriteError(w, err)
		return
	}
	client := clientaddr.Bucket(h.clients.Addr(r))
	if err := h.acquire(client, templateBytes); err != nil {
		WriteError(w, err)
		return
	}
	release := func() { h.release(client, templateBytes) }
	if r.Method == http.MethodHead {
		release()
		w.Header().Set("Content-Type", "text/event-stream")
		return
	}
	sels, err := hub.ParseSelectors(topics)
	if err != nil {
		release()
		WriteError(w, errorf(http.StatusBadRequest, "invalid topic selector: %v", err))
		return
	}
	var allowed hub.Selectors
	if claims != nil {
		if allowed, err = hub.ParseSelectors(claims.Subscribe); err != nil {
			release()
			WriteError(w, errorf(http.StatusUnauthorized, "token's mercure.subscribe claim has an invalid selector: %v", err))
			return
		}
	}
	sub := hub.Subscription{
		Topics:      sels,
		Allowed:     allowed,
		LastEventID: lastID,
		OnEnd: func(err error) {
			release()
			if errors.Is(err, hub.ErrSlowSubscriber) {
				h.cfg.Logger.Info("slow subscriber disconnected", "addr", client, "err", err)
			}
		},
	}
	if claims != nil {
		// A stream must not outlive the token that opened it.
		sub.Until = claims.Expiry
	}
	sub.OnEnd = h.arrive(sels, claims, sub.OnEnd)
	err = h.cfg.Hub.Stream(w, r, sub)
	if err != nil && w.Header().Get("Content-Type") != "text/event-stream" {
		WriteError(w, err)
	}
}

// checkSelectors checks a subscription's selectors against the count and
// length limits, without parsing them, and returns the total length of
// its URI templates.
func (h *Handler) checkSelectors(topics []string) (templateBytes int, err error) {
	if len(topics) == 0 {
		return 0, errorf(http.StatusBadRequest, "missing topic: add at least one ?topic=<selector> (an exact topic, a URI template, or *)")
	}
	if len(topics) > h.cfg.MaxTopics {
		return 0, errorf(http.StatusBadRequest, "too many topics: %d, the limit is %d", len(topics), h.cfg.MaxTopics)
	}
	total := 0
	for _, t := range topics {
		if len(t) > h.cfg.MaxSelectorBytes {
			return 0, errorf(http.StatusRequestURITooLong, "topic selector too long: %d bytes, the limit is %d (--max-selector-bytes)", len(t), h.cfg.MaxSelectorBytes)
		}
		total += len(t)
		if strings.Contains(t, "{") {
			templateBytes += len(t)
		}
	}
	if total > h.cfg.MaxSubscriptionBytes {
		return 0, errorf(http.StatusBadRequest, "topic selectors too long: %d bytes in all, the limit is %d (--max-subscription-bytes)", total, h.cfg.MaxSubscriptionBytes)
	}
	return templateBytes, nil
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

func (h *Handler) publish(w http.ResponseWriter, r *http.Request) {
	if h.cfg.Publishers == nil {
		h.refuse(w, r, errorf(http.StatusUnauthorized, "publishing is disabled: no publisher key is configured"))
		return
	}
	claims, err := h.cfg.Publishers.Verify(r)
	if err != nil {
		h.refuse(w, r, err)
		return
	}
	if l := h.cfg.PublishLimit; l != nil {
		if err := l.AllowPublish(r, claims.Subject); err != nil {
			h.refuse(w, r, err)
			return
		}
	}
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/x-www-form-urlencoded") {
		WriteError(w, errorf(http.StatusUnsupportedMediaType, "unsupported Content-Type %q: send the update form-encoded (application/x-www-form-urlencoded)", ct))
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, int64(h.cfg.MaxUpdateBytes))
	if err := r.ParseForm(); err != nil {
		var mb *http.MaxBytesError
		if errors.As(err, &mb) {
			WriteError(w, errorf(http.StatusRequestEntityTooLarge, "update too large: the body limit is %d bytes", h.cfg.MaxUpdateBytes))
			return
		}
		WriteError(w, errorf(http.StatusBadRequest, "malformed form body: %v", err))
		return
	}
	u, err := h.parseUpdate(r)
	if err != nil {
		WriteError(w, err)
		return
	}
	pub, err := hub.ParseSelectors(claims.Publish)
	if err != nil {
		WriteError(w, errorf(http.StatusUnauthorized, "token's mercure.publish claim has an invalid selector: %v", err))
		return
	}
	for _, t := range u.Topics {
		if !pub.Match(t) {
			WriteError(w, errorf(http.StatusForbidden, "not allowed to publish to topic %q: the token's mercure.publish selectors do not match it", t))
			return
		}
	}
	if u.Private && h.cfg.Subscribers == nil {
		h.cfg.Logger.Warn("private update published but no subscriber key is configured: nobody can receive it", "topic", u.Topics[0])
	}
	stored, err := h.cfg.Hub.Publish(r.Context(), u)
	if err != nil {
		if errors.Is(err, eventlog.ErrDuplicateID) {
			err = errorf(http.StatusConflict, "id %q is already used by a retained update: choose a unique id", u.ID)
		}
		WriteError(w, err)
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Write([]byte(stored.ID))
}

// refuse answers a publication refused before its body is read.
func (h *Handler) refuse(w http.ResponseWriter, r *http.Request, err error) {
	httperr.LeaveBody(w, r)
	WriteError(w, err)
}

// parseUpdate reads an update from a parsed form body.
func (h *Handler) parseUpdate(r *http.Request) (eventlog.Update, error) {
	f := r.PostForm
	u := eventlog.Update{
		Topics: f["topic"],
		Data:   f.Get("data"),
		ID:     f.Get("id"),
		Type:   f.Get("type"),
	}
	_, u.Private = f["private"]
	if len(u.Topics) == 0 {
		return u, errorf(http.StatusBadRequest, "missing topic: add at least one topic field")
	}
	if len(u.Topics) > h.cfg.MaxTopics {
		return u, errorf(http.StatusBadRequest, "too many topics: %d, the limit is %d", len(u.Topics), h.cfg.MaxTopics)
	}
	if s := f.Get("retry"); s != "" {
		ms, err := strconv.ParseUint(s, 10, 32)
		if err != nil || strings.ContainsFunc(s, func(c rune) bool { return c < '0' || c > '9' }) {
			return u, errorf(http.StatusBadRequest, "invalid retry %q: give the reconnection delay in milliseconds (digits only)", s)
		}
		u.Retry = time.Duration(ms) * time.Millisecond
	}
	return u, h.cfg.Hub.Validate(u)
}
