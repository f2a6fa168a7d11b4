package auth

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/MicahParks/jwkset"
)

// Bounds of a JWK Set's fetching and caching.
const (
	// MaxJWKSBytes bounds a JWK Set document; a larger one is refused.
	MaxJWKSBytes = 1 << 20
	// DefaultJWKSMaxAge is how long a JWK Set is kept when its answer has
	// no Cache-Control max-age.
	DefaultJWKSMaxAge = 5 * time.Minute
	// MinJWKSMaxAge and MaxJWKSMaxAge bound the max-age a JWK Set's answer
	// may ask for.
	MinJWKSMaxAge = time.Minute
	MaxJWKSMaxAge = 24 * time.Hour
	// DefaultJWKSRefreshInterval is the shortest time between two fetches
	// of one JWK Set, whatever the tokens ask (an unknown kid, an expired
	// cache, a failed fetch).
	DefaultJWKSRefreshInterval = 10 * time.Second
	// DefaultJWKSTimeout bounds one fetch.
	DefaultJWKSTimeout = 10 * time.Second
)

// JWKS is a JSON Web Key Set (RFC 7517) fetched from a URL, cached for its
// Cache-Control max-age (within MinJWKSMaxAge and MaxJWKSMaxAge), and
// fetched again when it is stale or a token names a kid it lacks, never
// more often than RefreshInterval. While a fetch fails the keys of the last
// good one stay in use. Only asymmetric signing keys are taken (RSA of 2048
// bits or more, EC P-256/P-384/P-521, Ed25519); symmetric ("oct") keys,
// encryption keys and keys of other types are skipped, and a set with no
// usable key is an error. Set the fields before first use; a JWKS is then
// safe for concurrent use.
type JWKS struct {
	// URL is the JWK Set's address (http or https).
	URL string
	// Client fetches the set. Default: an http.Client with Timeout
	// DefaultJWKSTimeout.
	Client *http.Client
	// RefreshInterval is the shortest time between two fetches. Default
	// DefaultJWKSRefreshInterval.
	RefreshInterval time.Duration
	// OnError, if set, is told of each failed fetch (and of each skipped
	// key), for logging.
	OnError func(error)
	// Now returns the current time. Default time.Now.
	Now func() time.Time

	mu        sync.Mutex
	keys      []Key
	expires   time.Time     // when keys become stale
	lastFetch time.Time     // when the last fetch started
	fetching  chan struct{} // closed when the fetch under way ends; nil if none
	lastErr   error
	gen       uint64 // grows each time a fetch changes keys
}

// Keys returns the set's keys for a token with key id kid: those with that
// kid, or all of them if kid is "". It fetches the set first if it has
// never been fetched, is stale, or has no key of id kid, unless the last
// fetch is more recent than RefreshInterval. The returned slice is the
// caller's.
func (j *JWKS) Keys(ctx context.Context, kid string) []Key {
	keys := j.cached(kid)
	if j.needsFetch(kid, keys) {
		_ = j.Refresh(ctx)
		keys = j.cached(kid)
	}
	return keys
}

// cached returns the cached keys for kid.
func (j *JWKS) cached(kid string) []Key {
	j.mu.Lock()
	defer j.mu.Unlock()
	var out []Key
	for _, k := range j.keys {
		if kid == "" || k.id == kid {
			out = append(out, k)
		}
	}
	return out
}

// needsFetch reports whether the set should be fetched for a token with kid
// that found keys in the cache: it is stale, or kid is unknown, and the
// rate limit allows a fetch.
func (j *JWKS) needsFetch(kid string, keys []Key) bool {
	j.mu.Lock()
	defer j.mu.Unlock()
	now := j.now()
	stale := j.lastFetch.IsZero() || !now.Before(j.expires)
	unknown := kid != "" && len(keys) == 0
	return (stale || unknown) && (j.lastFetch.IsZero() || now.Sub(j.lastFetch) >= j.interval())
}

// Refresh fetches the set now, unless a fetch is under way, in which case it
// waits for that one. It returns the fetch's error; on error the previous
// keys stay in use.
func (j *JWKS) Refresh(ctx context.Context) error {
	j.mu.Lock()
	if wait := j.fetching; wait != nil {
		j.mu.Unlock()
		select {
		case <-wait:
		case <-ctx.Done():
			return ctx.Err()
		}
		j.mu.Lock()
		defer j.mu.Unlock()
		return j.lastErr
	}
	done := make(chan struct{})
	j.fetching = done
	j.lastFetch = j.now()
	j.mu.Unlock()

	keys, maxAge, err := j.fetch(ctx)

	j.mu.Lock()
	defer j.mu.Unlock()
	j.fetching = nil
	close(done)
	j.lastErr = err
	if err != nil {
		if j.OnError != nil {
			j.OnError(err)
		}
		return err
	}
	if !sameKeys(j.keys, keys) {
		j.gen++
	}
	j.keys, j.expires = keys, j.now().Add(maxAge)
	return nil
}

// generation returns a number that grows each time a fetch changes the
// set's keys, and whether the keys are fresh: fetched, and not yet past
// their max-age.
func (j *JWKS) generation() (gen uint64, fresh bool) {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.gen, !j.lastFetch.IsZero() && j.now().Before(j.expires)
}

// sameKeys reports whether a and b hold the same keys in the same order.
func sameKeys(a, b []Key) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		ka, ok := a[i].verify.(interface{ Equal(crypto.PublicKey) bool })
		if !ok || a[i].alg != b[i].alg || a[i].id != b[i].id || !ka.Equal(b[i].verify) {
			return false
		}
	}
	return true
}

// Err returns the error of the last fetch, nil if it succeeded or none was
// made.
func (j *JWKS) Err() error {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.lastErr
}

func (j *JWKS) now() time.Time {
	if j.Now != nil {
		return j.Now()
	}
	return time.Now()
}

func (j *JWKS) interval() time.Duration {
	if j.RefreshInterval > 0 {
		return j.RefreshInterval
	}
	return DefaultJWKSRefreshInterval
}

// defaultJWKSClient fetches JWK Sets when JWKS.Client is nil.
var defaultJWKSClient = &http.Client{Timeout: DefaultJWKSTimeout}

// fetch downloads and decodes the set, returning its usable keys and how
// long to keep them.
func (j *JWKS) fetch(ctx context.Context) ([]Key, time.Duration, error) {
	client := j.Client
	if client == nil {
		client = defaultJWKSClient
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, j.URL, nil)
	if err != nil {
		return nil, 0, fmt.Errorf("JWK Set %s: %w", j.URL, err)
	}
	req.Header.Set("Accept", "application/jwk-set+json, application/json")
	resp, err := client.Do(req)
	if err != nil {
		return nil, 0, fmt.Errorf("JWK Set %s: %w", j.URL, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return nil, 0, fmt.Errorf("JWK Set %s answered %s, want 200", j.URL, resp.Status)
	}
	media, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	if media != "application/json" && media != "application/jwk-set+json" {
		return nil, 0, fmt.Errorf("JWK Set %s has Content-Type %q, want application/jwk-set+json or application/json", j.URL, resp.Header.Get("Content-Type"))
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, MaxJWKSBytes+1))
	if err != nil {
		return nil, 0, fmt.Errorf("JWK Set %s: %w", j.URL, err)
	}
	if len(body) > MaxJWKSBytes {
		return nil, 0, fmt.Errorf("JWK Set %s is larger than %d bytes", j.URL, MaxJWKSBytes)
	}
	keys, err := ParseJWKS(body, j.OnError)
	if err != nil {
		return nil, 0, fmt.Errorf("JWK Set %s: %w", j.URL, err)
	}
	return keys, maxAge(resp.Header.Get("Cache-Control")), nil
}

// ParseJWKS decodes a JWK Set document into the verification keys it holds,
// each with its kid. Keys that cannot verify signatures here (see JWKS) are
// skipped, each reported to skipped if it is not nil; a document that is
// not a JWK Set, or has no usable key, is an error.
func ParseJWKS(doc []byte, skipped func(error)) ([]Key, error) {
	var set struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := json.Unmarshal(doc, &set); err != nil || set.Keys == nil {
		return nil, errors.New(`not a JWK Set: want a JSON object with a "keys" array`)
	}
	var keys []Key
	var reasons []string
	for i, raw := range set.Keys {
		k, err := keyFromJWK(raw)
		if err != nil {
			err = fmt.Errorf("key %d skipped: %w", i, err)
			reasons = append(reasons, err.Error())
			if skipped != nil {
				skipped(err)
			}
			continue
		}
		keys = append(keys, k)
	}
	if len(keys) == 0 {
		return nil, fmt.Errorf("no usable signing key among %d (%s)", len(set.Keys), strings.Join(reasons, "; "))
	}
	return keys, nil
}

// keyFromJWK turns one JWK into a verification Key, bound to the algorithm
// its "alg" names or its type implies.
func keyFromJWK(raw json.RawMessage) (Key, error) {
	var m jwkset.JWKMarshal
	if err := json.Unmarshal(raw, &m); err != nil {
		return Key{}, errors.New("not a JSON object of JWK members")
	}
	switch {
	case m.KTY == jwkset.KtyOct:
		return Key{}, errors.New(`a symmetric ("oct") key is never taken from a JWK Set: give a shared secret as a static key`)
	case m.USE != "" && m.USE != jwkset.UseSig:
		return Key{}, fmt.Errorf("its use is %q, not sig", m.USE)
	}
	jwk, err := jwkset.NewJWKFromMarshal(m, jwkset.JWKMarshalOptions{}, jwkset.JWKValidateOptions{})
	if err != nil {
		return Key{}, err
	}
	alg := Algorithm(m.ALG)
	var allowed []Algorithm
	switch k := jwk.Key().(type) {
	case *rsa.PublicKey:
		if err := checkRSA(k); err != nil {
			return Key{}, err
		}
		allowed = []Algorithm{RS256, RS384, RS512, PS256, PS384, PS512}
	case *ecdsa.PublicKey:
		switch k.Curve {
		case elliptic.P256():
			allowed = []Algorithm{ES256}
		case elliptic.P384():
			allowed = []Algorithm{ES384}
		case elliptic.P521():
			allowed = []Algorithm{ES512}
		}
	case ed25519.PublicKey:
		allowed = []Algorithm{EdDSA}
	default:
		return Key{}, fmt.Errorf("unsupported key type %q", m.KTY)
	}
	if alg == "" && len(allowed) > 0 {
		alg = allowed[0]
	}
	for _, a := range allowed {
		if a == alg {
			return Key{alg: alg, id: m.KID, verify: jwk.Key()}, nil
		}
	}
	return Key{}, fmt.Errorf("algorithm %q does not fit its %s key", m.ALG, m.KTY)
}

// maxAge returns how long an answer with Cache-Control cc may be kept,
// within MinJWKSMaxAge and MaxJWKSMaxAge.
func maxAge(cc string) time.Duration {
	age := DefaultJWKSMaxAge
	for _, d := range strings.Split(cc, ",") {
		name, value, _ := strings.Cut(strings.TrimSpace(d), "=")
		switch strings.ToLower(name) {
		case "max-age":
			if n, err := strconv.ParseInt(strings.Trim(value, `"`), 10, 64); err == nil && n >= 0 {
				age = time.Duration(min(n, int64(MaxJWKSMaxAge/time.Second))) * time.Second
			}
		case "no-store", "no-cache":
			age = 0
		}
	}
	return min(max(age, MinJWKSMaxAge), MaxJWKSMaxAge)
}
