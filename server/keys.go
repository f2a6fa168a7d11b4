package server

import (
	"fmt"
	"path/filepath"

	"github.com/heraldhub/herald/auth"
	"github.com/heraldhub/herald/mercure"
)

// publisherKeyFile is where a generated publisher secret is kept.
const publisherKeyFile = "publisher.key"

// verifiers builds the publisher and subscriber verifiers. With no
// publisher key configured, a secret is loaded from (or generated into)
// the data directory. With no subscriber key, subscribers are anonymous.
// Only sub, for Mercure subscriptions, accepts a token in the query string
// (EventSource cannot send headers); jobsSub checks subscriber tokens for
// the jobs API, from the header or the cookie.
func (s *Server) verifiers() (pub, sub, jobsSub mercure.Verifier, err error) {
	cfg := &s.cfg
	pubAlg, err := auth.ParseAlgorithm(cfg.PublisherAlg)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("publisher key: %w", err)
	}
	pubValue := cfg.PublisherKey
	if pubValue == "" {
		if pubAlg != auth.HS256 {
			return nil, nil, nil, fmt.Errorf("publisher key: %s needs a PEM public key (--publisher-key)", pubAlg)
		}
		secret, _, err := auth.LoadOrCreateSecret(filepath.Join(cfg.DataDir, publisherKeyFile))
		if err != nil {
			return nil, nil, nil, fmt.Errorf("publisher key: %w", err)
		}
		pubValue, s.GeneratedKey = secret, secret
	}
	pk, err := auth.LoadKey(pubAlg, pubValue)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("publisher key: %w", err)
	}
	pub = &auth.Verifier{Key: pk, Origins: cfg.CORSOrigins}
	if cfg.SubscriberKey == "" {
		return pub, nil, nil, nil
	}
	subAlg, err := auth.ParseAlgorithm(cfg.SubscriberAlg)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("subscriber key: %w", err)
	}
	sk, err := auth.LoadKey(subAlg, cfg.SubscriberKey)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("subscriber key: %w", err)
	}
	return pub, &auth.Verifier{Key: sk, Origins: cfg.CORSOrigins, Query: true}, &auth.Verifier{Key: sk, Origins: cfg.CORSOrigins}, nil
}
