package auth

import (
	"sync"
	"time"
)

// DefaultTokenCacheSize is how many accepted tokens NewTokenCache
// remembers when given no size.
const DefaultTokenCacheSize = 4096

// MaxCachedTokenBytes bounds a token (with the resource identifier it was
// checked against) that a TokenCache remembers; a larger one is verified
// on every request. With DefaultTokenCacheSize entries this keeps a cache
// within a few tens of MiB however its clients behave.
const MaxCachedTokenBytes = 4 << 10

// TokenCache remembers the tokens a Verifier accepted, so that a client
// that presents the same token again (a publisher sending update after
// update) skips the signature check and the decoding of its claims. Only
// accepted tokens are remembered, at most a fixed number (an arbitrary one
// makes room for a new one), so clients sending tokens that fail cannot
// grow it. An entry is used only within its token's validity ("exp" and
// "nbf", with the Verifier's leeway), only while the keys that verified it
// stay the Verifier's keys: a change of a JWK Set empties the cache, and
// while a JWK Set is due for a refresh it is not consulted. A Verifier
// built with new keys (a reload) gets a new, empty TokenCache. A
// TokenCache serves one Verifier; it is safe for concurrent use.
type TokenCache struct {
	size int

	mu      sync.Mutex
	epoch   uint64 // the Verifier's key epoch the entries were verified under
	entries map[cacheKey]cachedToken
}

// cacheKey is what a verification depends on besides the Verifier's keys:
// the token, and for an access token the resource its audience must hold.
type cacheKey struct{ token, resource string }

// cachedToken is a token's verified claims and when they hold.
type cachedToken struct {
	claims   *Claims
	access   bool      // an access token (typ at+jwt)
	nbf, exp time.Time // zero: no such claim
}

// NewTokenCache returns a cache of up to size tokens, DefaultTokenCacheSize
// if size is zero or less.
func NewTokenCache(size int) *TokenCache {
	if size <= 0 {
		size = DefaultTokenCacheSize
	}
	return &TokenCache{size: size, entries: make(map[cacheKey]cachedToken)}
}

// Len returns how many tokens c remembers.
func (c *TokenCache) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.entries)
}

// get returns the entry for k if it was verified under epoch and holds at
// now, given leeway. An entry past its expiry is dropped.
func (c *TokenCache) get(k cacheKey, epoch uint64, now time.Time, leeway time.Duration) (cachedToken, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.advance(epoch)
	e, ok := c.entries[k]
	if !ok || epoch != c.epoch {
		return cachedToken{}, false
	}
	// The checks of jwt.Validator: valid while now < exp + leeway and
	// not before nbf - leeway.
	if !e.exp.IsZero() && !now.Before(e.exp.Add(leeway)) {
		delete(c.entries, k)
		return cachedToken{}, false
	}
	if !e.nbf.IsZero() && now.Before(e.nbf.Add(-leeway)) {
		return cachedToken{}, false
	}
	return e, true
}

// put remembers e under k, verified under epoch, unless the keys changed
// since or the token is too large.
func (c *TokenCache) put(k cacheKey, e cachedToken, epoch uint64) {
	if len(k.token)+len(k.resource) > MaxCachedTokenBytes {
		return
	}
	// The key's strings may be parts of a request's headers: keep only
	// the token itself.
	k = cacheKey{token: string([]byte(k.token)), resource: string([]byte(k.resource))}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.advance(epoch)
	if epoch != c.epoch {
		return
	}
	if _, ok := c.entries[k]; !ok && len(c.entries) >= c.size {
		for old := range c.entries { // map order: an arbitrary entry
			delete(c.entries, old)
			break
		}
	}
	c.entries[k] = e
}

// advance empties c if epoch is newer than the keys its entries were
// verified under. Epochs only grow: an older one (a verification that
// began before a change) finds nothing and stores nothing.
func (c *TokenCache) advance(epoch uint64) {
	if epoch > c.epoch {
		clear(c.entries)
		c.epoch = epoch
	}
}

// keyEpoch returns a number that grows whenever the keys of v's JWK Sets
// change, and false if one of them is due for a refresh, when tokens must
// be verified (which fetches it) rather than taken from the cache. Static
// keys never change during a Verifier's life.
func (v *Verifier) keyEpoch() (uint64, bool) {
	var sum uint64
	for i := range v.Issuers {
		if j := v.Issuers[i].JWKS; j != nil {
			gen, fresh := j.generation()
			if !fresh {
				return 0, false
			}
			sum += gen
		}
	}
	return sum, true
}

// cached returns the cache entry for token checked against resource, if
// v has a cache and the entry is good now.
func (v *Verifier) cached(token, resource string) (cachedToken, bool) {
	if v.Cache == nil {
		return cachedToken{}, false
	}
	epoch, ok := v.keyEpoch()
	if !ok {
		return cachedToken{}, false
	}
	return v.Cache.get(cacheKey{token, resource}, epoch, v.now()(), v.Leeway)
}
