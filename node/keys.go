package node

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"path/filepath"
	"sync/atomic"

	"github.com/heraldhub/herald/auth"
	"github.com/heraldhub/herald/mercure"
)

// publisherKeyFile is where a generated publisher secret is kept.
const publisherKeyFile = "publisher.key"

// verifierSet is the token verifiers of a node: publishers, subscribers of
// the Mercure endpoint (who may send a 0.x token in the query string), and
// subscribers of the jobs API. sub and jobsSub are nil when no subscriber
// key is configured.
type verifierSet struct {
	pub, sub, jobsSub *auth.Verifier
}

// swapVerifier is a verifier Reload can replace while requests use it.
type swapVerifier struct{ v atomic.Pointer[auth.Verifier] }

// Verify verifies r with the current verifier.
func (s *swapVerifier) Verify(r *http.Request) (*auth.Claims, error) { return s.v.Load().Verify(r) }

// orNil returns s as a mercure.Verifier, a nil interface for a nil s.
func (s *swapVerifier) orNil() mercure.Verifier {
	if s == nil {
		return nil
	}
	return s
}

// swapOf wraps v, nil for a nil v.
func swapOf(v *auth.Verifier) *swapVerifier {
	if v == nil {
		return nil
	}
	s := &swapVerifier{}
	s.v.Store(v)
	return s
}

// Reload reads the configured keys again: PEM key files, the generated
// publisher secret in the data directory, and the JWK Sets (fetched
// anew). Requests under way finish with the old keys; later ones use the
// new. On error (a key file missing or malformed) the old keys stay and
// the error says why. Turning subscriber tokens on or off needs a restart.
// `herald serve` calls it on SIGHUP.
func (s *Node) Reload() error {
	set, err := s.verifiers()
	if err != nil {
		return fmt.Errorf("reload keys: %w", err)
	}
	if (set.sub == nil) != (s.keys.sub == nil) {
		return errors.New("reload keys: subscriber keys were added or removed: restart to apply that")
	}
	s.keys.pub.v.Store(set.pub)
	if set.sub != nil {
		s.keys.sub.v.Store(set.sub)
		s.keys.jobsSub.v.Store(set.jobsSub)
	}
	return nil
}

// nodeVerifiers are the swappable verifiers the handlers use.
type nodeVerifiers struct {
	pub, sub, jobsSub *swapVerifier
}

// verifiers builds the verifiers from the configuration. With no publisher
// key configured, a secret is loaded from (or generated into) the data
// directory. With no subscriber key, no subscriber JWK Set and no issuer
// with subscriber keys, subscribers are anonymous. The static keys and JWK
// Sets of --issuer, and those of Config.Issuers, verify access tokens;
// the static keys alone verify 0.x tokens.
func (s *Node) verifiers() (verifierSet, error) {
	cfg := &s.cfg
	pk, err := s.publisherKey()
	if err != nil {
		return verifierSet{}, err
	}
	var sk auth.Key
	if cfg.SubscriberKey != "" {
		if sk, err = loadKey(cfg.SubscriberAlg, cfg.SubscriberKey); err != nil {
			return verifierSet{}, fmt.Errorf("subscriber key: %w", err)
		}
	}
	pubIss, subIss, err := s.issuers(pk, sk)
	if err != nil {
		return verifierSet{}, err
	}
	base := auth.Verifier{Origins: cfg.CORSOrigins, Resource: cfg.ResourceIdentifier, AccessTokenCookie: cfg.AccessTokenCookie}
	// Each verifier remembers the tokens it accepted (a publisher reuses
	// its token for update after update); the caches go with the keys, so
	// a reload starts with empty ones.
	pub := base
	pub.Key, pub.Issuers, pub.Cache = pk, pubIss, auth.NewTokenCache(0)
	set := verifierSet{pub: &pub}
	if cfg.SubscriberKey == "" && len(subIss) == 0 {
		return set, nil
	}
	sub := base
	sub.Key, sub.Issuers = sk, subIss
	jobsSub := sub
	sub.Query = true
	sub.Cache, jobsSub.Cache = auth.NewTokenCache(0), auth.NewTokenCache(0)
	set.sub, set.jobsSub = &sub, &jobsSub
	return set, nil
}

// publisherKey loads the publisher key, or the generated secret.
func (s *Node) publisherKey() (auth.Key, error) {
	cfg := &s.cfg
	value := cfg.PublisherKey
	if value == "" {
		alg, err := auth.ParseAlgorithm(cfg.PublisherAlg)
		if err != nil {
			return auth.Key{}, fmt.Errorf("publisher key: %w", err)
		}
		if alg != auth.HS256 {
			return auth.Key{}, fmt.Errorf("publisher key: %s needs a PEM public key (--publisher-key)", alg)
		}
		secret, _, err := auth.LoadOrCreateSecret(filepath.Join(cfg.DataDir, publisherKeyFile))
		if err != nil {
			return auth.Key{}, fmt.Errorf("publisher key: %w", err)
		}
		value, s.GeneratedKey = secret, secret
	}
	k, err := loadKey(cfg.PublisherAlg, value)
	if err != nil {
		return auth.Key{}, fmt.Errorf("publisher key: %w", err)
	}
	return k, nil
}

// loadKey loads a key given as the flags take it.
func loadKey(algName, value string) (auth.Key, error) {
	alg, err := auth.ParseAlgorithm(algName)
	if err != nil {
		return auth.Key{}, err
	}
	return auth.LoadKey(alg, value)
}

// issuers returns the trusted issuers of publisher and subscriber access
// tokens: Config.Issuer with the static keys pk and sk (if set) and the
// JWK Set URLs, then Config.Issuers. Issuers of the same ID are merged.
func (s *Node) issuers(pk, sk auth.Key) (pub, sub []auth.Issuer, err error) {
	cfg := &s.cfg
	if cfg.Issuer == "" && (cfg.PublisherJWKSURL != "" || cfg.SubscriberJWKSURL != "") {
		return nil, nil, errors.New("a JWK Set URL needs --issuer: the issuer (iss) whose keys it holds")
	}
	if cfg.Issuer != "" {
		pub = addIssuer(pub, auth.Issuer{ID: cfg.Issuer, Keys: []auth.Key{pk}, JWKS: s.jwks(cfg.PublisherJWKSURL)})
		is := auth.Issuer{ID: cfg.Issuer, JWKS: s.jwks(cfg.SubscriberJWKSURL)}
		if sk.Algorithm() != "" {
			is.Keys = []auth.Key{sk}
		}
		if len(is.Keys) > 0 || is.JWKS != nil {
			sub = addIssuer(sub, is)
		}
	}
	for _, c := range cfg.Issuers {
		if c.ID == "" {
			return nil, nil, errors.New("an issuer of the configuration has no id (iss)")
		}
		p, err := staticKeys(c.PublisherAlg, c.PublisherKeys)
		if err != nil {
			return nil, nil, fmt.Errorf("issuer %q: publisher key: %w", c.ID, err)
		}
		if len(p) > 0 || c.PublisherJWKSURL != "" {
			pub = addIssuer(pub, auth.Issuer{ID: c.ID, Keys: p, JWKS: s.jwks(c.PublisherJWKSURL)})
		}
		sk, err := staticKeys(c.SubscriberAlg, c.SubscriberKeys)
		if err != nil {
			return nil, nil, fmt.Errorf("issuer %q: subscriber key: %w", c.ID, err)
		}
		if len(sk) > 0 || c.SubscriberJWKSURL != "" {
			sub = addIssuer(sub, auth.Issuer{ID: c.ID, Keys: sk, JWKS: s.jwks(c.SubscriberJWKSURL)})
		}
	}
	return pub, sub, nil
}

// staticKeys loads several keys of one algorithm.
func staticKeys(alg string, values []string) ([]auth.Key, error) {
	keys := make([]auth.Key, 0, len(values))
	for _, v := range values {
		k, err := loadKey(alg, v)
		if err != nil {
			return nil, err
		}
		keys = append(keys, k)
	}
	return keys, nil
}

// addIssuer appends is to list, or merges it into the issuer of the same
// ID (keeping that one's JWK Set if is has none).
func addIssuer(list []auth.Issuer, is auth.Issuer) []auth.Issuer {
	for i := range list {
		if list[i].ID == is.ID {
			list[i].Keys = append(list[i].Keys, is.Keys...)
			if list[i].JWKS == nil {
				list[i].JWKS = is.JWKS
			}
			return list
		}
	}
	return append(list, is)
}

// jwks returns the JWK Set at url, fetched once now so that a wrong URL
// shows in the log at start; nil for an empty url. An unreachable set does
// not stop the node: its issuer's tokens are refused, with the reason
// logged, until a later fetch succeeds.
func (s *Node) jwks(url string) *auth.JWKS {
	if url == "" {
		return nil
	}
	log := s.cfg.Logger
	j := &auth.JWKS{URL: url, OnError: func(err error) { log.Warn("JWK Set", "url", url, "err", err) }}
	ctx, cancel := context.WithTimeout(context.Background(), auth.DefaultJWKSTimeout)
	defer cancel()
	_ = j.Refresh(ctx) // failures are logged by OnError
	return j
}
