package node

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/heraldhub/herald/eventlog"
	"github.com/heraldhub/herald/internal/httperr"
	"github.com/heraldhub/herald/internal/outbound"
	"github.com/heraldhub/herald/jobhook"
	"github.com/heraldhub/herald/jobs"
	"github.com/heraldhub/herald/push"
	"github.com/prometheus/client_golang/prometheus"
)

// callbacks are the node's outbound deliveries: push subscriptions and job
// completion webhooks, each nil when off.
type callbacks struct {
	push  *push.Pusher
	hooks *jobhook.Sender
}

// policy returns the outbound policy of the configuration's retry fields.
func (c *Config) policy(maxAttempts int, deadline time.Duration) outbound.Policy {
	return outbound.Policy{MinBackoff: c.CallbackBackoff, MaxBackoff: c.CallbackMaxBackoff, MaxAttempts: maxAttempts, Deadline: deadline}
}

// startCallbacks makes the pusher and the webhook sender the configuration
// asks for; they start delivering at recoverCallbacks.
func (s *Node) startCallbacks() error {
	cfg := &s.cfg
	if len(cfg.PushAllow) > 0 {
		allow, err := outbound.ParseAllowlist(cfg.PushAllow)
		if err != nil {
			return fmt.Errorf("push-allow: %w", err)
		}
		node, key, err := nodeIdentity(cfg.DataDir)
		if err != nil {
			return err
		}
		p, err := push.New(push.Config{Log: s.writes, Allow: allow, Policy: cfg.policy(cfg.PushMaxFailures, cfg.PushDeadline), Node: node, SecretKey: key, Logger: cfg.Logger})
		if err != nil {
			return err
		}
		s.callbacks.push = p
		s.closers = append(s.closers, p.Close)
	}
	if len(cfg.WebhookAllow) > 0 {
		if cfg.WebhookSecret == "" {
			return errors.New("--webhook-allow needs --webhook-secret, the secret that signs job webhooks")
		}
		allow, err := outbound.ParseAllowlist(cfg.WebhookAllow)
		if err != nil {
			return fmt.Errorf("webhook-allow: %w", err)
		}
		h, err := jobhook.New(jobhook.Config{Log: s.writes, Allow: allow, Policy: cfg.policy(0, cfg.WebhookDeadline), Secret: []byte(cfg.WebhookSecret), Logger: cfg.Logger})
		if err != nil {
			return err
		}
		s.callbacks.hooks = h
		s.closers = append(s.closers, h.Close)
	}
	s.metrics.registry.MustRegister(pushCollector{s: s, desc: prometheus.NewDesc("herald_push_subscriptions",
		"Push subscriptions this node knows, by state (paused ones wait for POST /api/push-subscriptions/{id}/resume).", []string{"state"}, nil)})
	return nil
}

// Observe passes an update the hub read from the log to the deliveries.
func (c callbacks) Observe(u eventlog.Update) {
	if c.push != nil {
		c.push.Observe(u)
	}
	if c.hooks != nil {
		c.hooks.Observe(u)
	}
}

// jobsConfig sets the webhook hooks of the jobs manager's configuration.
func (c callbacks) jobsConfig(jc *jobs.Config) {
	if c.hooks != nil {
		jc.CheckCallback, jc.Ended = c.hooks.Check, c.hooks.Ended
	}
}

// recoverCallbacks replays the log for the subscriptions and pending
// webhooks, and starts delivering them; the hub follows the log already.
func (s *Node) recoverCallbacks() {
	ctx, cancel := context.WithTimeout(context.Background(), recoverTimeout)
	defer cancel()
	if p := s.callbacks.push; p != nil {
		if err := p.Recover(ctx); err != nil {
			s.cfg.Logger.Warn("push subscriptions may be missing", "err", err)
		}
	}
	if h := s.callbacks.hooks; h != nil {
		if err := h.Recover(ctx); err != nil {
			s.cfg.Logger.Warn("job webhooks may be pending", "err", err)
		}
	}
}

// routeCallbacks registers the push subscriptions API and the job
// webhook delivery logs on mux.
func (s *Node) routeCallbacks(mux *http.ServeMux, wrap func(http.Handler) http.Handler, jobsAuth authorizer) {
	api := push.Disabled
	if p := s.callbacks.push; p != nil {
		api = p.Handler(s.keys.sub.orNil())
	}
	api = wrap(api)
	mux.Handle(push.Path, api)
	mux.Handle(push.Path+"/", api)
	mux.Handle("GET /api/jobs/{id}/deliveries", wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := r.PathValue("id")
		if err := jobsAuth.AuthorizePublish(r, jobs.TopicPrefix+id); err != nil {
			httperr.Write(w, err)
			return
		}
		var list []outbound.Attempt
		var ok bool
		if s.callbacks.hooks != nil {
			list, ok = s.callbacks.hooks.Deliveries(id)
		}
		if !ok {
			httperr.Write(w, httperr.Errorf(http.StatusNotFound, "no webhook deliveries for job %q on this node (no callback, not ended yet, or webhooks are off)", id))
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		json.NewEncoder(w).Encode(map[string]any{"job": id, "deliveries": list})
	})))
}

// nodeIdentity returns the id that names this node among those sharing a
// log, and the key that seals its push subscriptions' secrets, both kept
// in dataDir so that they survive restarts.
func nodeIdentity(dataDir string) (id string, key []byte, err error) {
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return "", nil, fmt.Errorf("node identity: %w", err)
	}
	path := filepath.Join(dataDir, "node-identity")
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		raw := make([]byte, 32)
		rand.Read(raw)
		b = []byte(strings.ToLower(rand.Text()[:16]) + " " + hex.EncodeToString(raw) + "\n")
		err = os.WriteFile(path, b, 0o600)
	}
	if err != nil {
		return "", nil, fmt.Errorf("node identity: %w", err)
	}
	id, hexKey, _ := strings.Cut(strings.TrimSpace(string(b)), " ")
	key, err = hex.DecodeString(hexKey)
	if id == "" || err != nil || len(key) != 32 {
		return "", nil, fmt.Errorf("node identity: %s is damaged: remove it (push subscriptions this node created will not be delivered)", path)
	}
	return id, key, nil
}

type pushCollector struct {
	s    *Node
	desc *prometheus.Desc
}

func (c pushCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

func (c pushCollector) Collect(ch chan<- prometheus.Metric) {
	states := map[string]int{push.Active: 0, push.Paused: 0}
	if p := c.s.callbacks.push; p != nil {
		states = p.States()
	}
	for _, st := range []string{push.Active, push.Paused} {
		ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue, float64(states[st]), st)
	}
}
