package hub

import (
	"container/list"
	"fmt"
	"regexp"
	"regexp/syntax"
	"strings"
	"sync"

	"github.com/dunglas/go-urlpattern"
	"github.com/yosida95/uritemplate/v3"
)

// Selector matches topics: the exact topic string, "*" for every topic, or
// a URI template (RFC 6570) such as "https://example.com/books/{id}" that
// matches every topic it can expand to. A selector is a template when it
// contains "{"; otherwise it is matched exactly.
//
// A compiled template costs about 100 to 250 bytes of memory per byte of
// template, so callers that parse selectors from untrusted input bound
// their length first (see mercure.Config.MaxSelectorBytes).
//
// A Mercure 1.0 matcher (see ParseMatcher) is a Selector too: an exact one
// compares bytes only, a URL pattern one evaluates a WHATWG URL Pattern.
type Selector struct {
	raw  string
	typ  string                 // "" (a 0.x selector), TypeExact or TypeURLPattern
	base string                 // the URL a URL pattern and the topics it tests are resolved against
	re   *regexp.Regexp         // nil unless raw is a template
	pat  *urlpattern.URLPattern // nil unless typ is TypeURLPattern and raw is not "*"
}

// ParseSelector compiles s. It returns an error if s is empty or a
// malformed URI template. Recently parsed selectors are shared from a
// small cache bounded by their estimated memory (CacheBytes), so the same
// few selectors coming back with every subscriber are compiled once, and a
// flood of distinct ones holds no more than that budget beyond what open
// subscriptions use.
func ParseSelector(s string) (*Selector, error) {
	return ParseMatcher("", s, "")
}

// ParseMatcher compiles s as a matcher of type typ: "" for a 0.x selector
// (as ParseSelector), TypeExact, or TypeURLPattern, whose pattern and the
// topics it tests are resolved against base (the hub's URL). It shares
// ParseSelector's cache. It returns an error for an unknown type, an empty
// s, or an s invalid for its type.
func ParseMatcher(typ, s, base string) (*Selector, error) {
	if typ != TypeURLPattern {
		base = ""
	}
	k := cacheKey{typ: typ, base: base, raw: s}
	if sel := cache.get(k); sel != nil {
		return sel, nil
	}
	var sel *Selector
	var err error
	switch typ {
	case "":
		sel, err = compileSelector(s)
	case TypeExact, TypeURLPattern:
		sel, err = compileMatcher(typ, s, base)
	default:
		err = fmt.Errorf("unknown matcher type %q: use %q or %q", typ, TypeExact, TypeURLPattern)
	}
	if err != nil {
		return nil, err
	}
	cache.put(sel)
	return sel, nil
}

// compileSelector parses s without the cache.
func compileSelector(s string) (*Selector, error) {
	if s == "" {
		return nil, fmt.Errorf("empty topic selector")
	}
	sel := &Selector{raw: s}
	if !strings.Contains(s, "{") {
		return sel, nil
	}
	compiling.acquire(len(s))
	defer compiling.release(len(s))
	t, err := uritemplate.New(s)
	if err != nil {
		return nil, fmt.Errorf("topic selector %q is not a valid URI template: %w", s, err)
	}
	// The template's regexp captures every expression, which a match never
	// reads; Go's matcher then keeps a copy of every capture per state, so
	// its memory and time grow with the square of the template's length.
	// Matching with the same expression without captures is linear.
	re, err := withoutCaptures(t.Regexp().String())
	if err != nil {
		return nil, fmt.Errorf("topic selector %q: %w", s, err)
	}
	sel.re = re
	return sel, nil
}

// CompileBytes bounds the total length of the templates being compiled at
// once. Compiling allocates about 4 KiB of short-lived memory per template
// byte (17 MB for a 4 KiB template), so it bounds that garbage to about
// 130 MB however many clients subscribe at the same moment; a template of
// typical length (under 100 bytes) hardly ever waits.
const CompileBytes = 32 << 10

// compiling admits templates to compilation within CompileBytes.
var compiling = newCompileGate(CompileBytes)

// compileGate is a weighted semaphore: acquire(n) waits until n units are
// free. A request above the capacity takes the whole capacity.
type compileGate struct {
	mu         sync.Mutex
	cond       sync.Cond
	capacity   int
	used, peak int
}

func newCompileGate(capacity int) *compileGate {
	g := &compileGate{capacity: capacity}
	g.cond.L = &g.mu
	return g
}

func (g *compileGate) acquire(n int) {
	n = min(n, g.capacity)
	g.mu.Lock()
	for g.used+n > g.capacity {
		g.cond.Wait()
	}
	g.used += n
	g.peak = max(g.peak, g.used)
	g.mu.Unlock()
}

func (g *compileGate) release(n int) {
	n = min(n, g.capacity)
	g.mu.Lock()
	g.used -= n
	g.mu.Unlock()
	g.cond.Broadcast()
}

// withoutCaptures compiles expr with its capturing groups made
// non-capturing.
func withoutCaptures(expr string) (*regexp.Regexp, error) {
	tree, err := syntax.Parse(expr, syntax.Perl)
	if err != nil {
		return nil, err
	}
	return regexp.Compile(uncapture(tree).String())
}

func uncapture(re *syntax.Regexp) *syntax.Regexp {
	for re.Op == syntax.OpCapture {
		re = re.Sub[0]
	}
	for i, sub := range re.Sub {
		re.Sub[i] = uncapture(sub)
	}
	return re
}

// String returns the selector as written.
func (s *Selector) String() string { return s.raw }

// Template reports whether s is a URI template.
func (s *Selector) Template() bool { return s.re != nil }

// Type returns the matcher type s was parsed as: "" for a 0.x selector
// (ParseSelector), TypeExact or TypeURLPattern.
func (s *Selector) Type() string { return s.typ }

// compiled reports whether s is evaluated by a program (a URI template or
// a URL pattern) rather than compared.
func (s *Selector) compiled() bool { return s.re != nil || s.pat != nil }

// key identifies s among the selectors of every type.
func (s *Selector) key() cacheKey { return cacheKey{typ: s.typ, base: s.base, raw: s.raw} }

// Match reports whether topic is selected by s.
func (s *Selector) Match(topic string) bool {
	switch {
	case s.raw == "*":
		return true
	case s.re != nil:
		return s.re.MatchString(topic)
	case s.pat != nil:
		if hasScheme(topic) {
			// Resolving an absolute URL gives itself: skip parsing the base.
			return s.pat.Test(topic, "")
		}
		return s.pat.Test(topic, s.base)
	default:
		return s.raw == topic
	}
}

// MatchAny reports whether any of topics is selected by s.
func (s *Selector) MatchAny(topics []string) bool {
	for _, t := range topics {
		if s.Match(t) {
			return true
		}
	}
	return false
}

// cost estimates the memory a compiled selector holds, in bytes: the
// measured worst case of about 256 bytes per template byte (templates made
// of one-letter expressions, "{a}{b}…"), and the string alone for an exact
// selector.
func (s *Selector) cost() int {
	const overhead = 128
	if s.compiled() {
		return overhead + 256*len(s.raw)
	}
	return overhead + len(s.raw)
}

// CacheBytes bounds the estimated memory of the selectors ParseSelector
// keeps for reuse. Selectors in use by open subscriptions are held by them
// and are not counted.
const CacheBytes = 4 << 20

// cache keeps the most recently parsed selectors.
var cache = newSelectorCache(CacheBytes)

// selectorCache is a least-recently-used cache of compiled selectors whose
// total cost stays within max bytes.
type selectorCache struct {
	mu    sync.Mutex
	max   int
	used  int
	order list.List // of *Selector, most recently used first
	byRaw map[cacheKey]*list.Element
}

// cacheKey identifies a parsed selector: its text, type and base.
type cacheKey struct{ typ, base, raw string }

func newSelectorCache(maxBytes int) *selectorCache {
	return &selectorCache{max: maxBytes, byRaw: make(map[cacheKey]*list.Element)}
}

// get returns the cached selector for k, or nil.
func (c *selectorCache) get(k cacheKey) *Selector {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.byRaw[k]
	if !ok {
		return nil
	}
	c.order.MoveToFront(e)
	return e.Value.(*Selector)
}

// put adds sel, evicting the least recently used selectors until the total
// fits. A selector costing more than an eighth of the budget is not kept:
// one such selector would evict many common ones.
func (c *selectorCache) put(sel *Selector) {
	cost := sel.cost()
	if cost > c.max/8 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.byRaw[sel.key()]; ok {
		return
	}
	c.byRaw[sel.key()] = c.order.PushFront(sel)
	c.used += cost
	for c.used > c.max {
		last := c.order.Back()
		old := c.order.Remove(last).(*Selector)
		delete(c.byRaw, old.key())
		c.used -= old.cost()
	}
}

// size returns the number of cached selectors and their total cost.
func (c *selectorCache) size() (n, bytes int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.byRaw), c.used
}

// Selectors is a list of selectors that matches a topic when any of its
// members does.
type Selectors []*Selector

// ParseSelectors compiles every string in list.
func ParseSelectors(list []string) (Selectors, error) {
	out := make(Selectors, 0, len(list))
	for _, s := range list {
		sel, err := ParseSelector(s)
		if err != nil {
			return nil, err
		}
		out = append(out, sel)
	}
	return out, nil
}

// Match reports whether any selector in ss matches topic.
func (ss Selectors) Match(topic string) bool {
	for _, s := range ss {
		if s.Match(topic) {
			return true
		}
	}
	return false
}

// MatchAny reports whether any selector in ss matches any of topics.
func (ss Selectors) MatchAny(topics []string) bool {
	for _, s := range ss {
		if s.MatchAny(topics) {
			return true
		}
	}
	return false
}
