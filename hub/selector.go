package hub

import (
	"fmt"
	"regexp"
	"strings"
	"sync"

	"github.com/yosida95/uritemplate/v3"
)

// Selector matches topics: the exact topic string, "*" for every topic, or
// a URI template (RFC 6570) such as "https://example.com/books/{id}" that
// matches every topic it can expand to. A selector is a template when it
// contains "{"; otherwise it is matched exactly.
type Selector struct {
	raw string
	re  *regexp.Regexp // nil unless raw is a template
}

// selectorCache keeps compiled selectors: the same few selectors come back
// with every subscriber, and compiling a template is costly.
var selectorCache sync.Map // string → *Selector

// maxCachedSelectors bounds selectorCache against a flood of distinct
// selectors from subscribers.
const maxCachedSelectors = 10000

var cachedSelectors struct {
	sync.Mutex
	n int
}

// ParseSelector compiles s. It returns an error if s is empty or a
// malformed URI template.
func ParseSelector(s string) (*Selector, error) {
	if v, ok := selectorCache.Load(s); ok {
		return v.(*Selector), nil
	}
	if s == "" {
		return nil, fmt.Errorf("empty topic selector")
	}
	sel := &Selector{raw: s}
	if strings.Contains(s, "{") {
		t, err := uritemplate.New(s)
		if err != nil {
			return nil, fmt.Errorf("topic selector %q is not a valid URI template: %w", s, err)
		}
		sel.re = t.Regexp()
	}
	cachedSelectors.Lock()
	if cachedSelectors.n < maxCachedSelectors {
		if _, loaded := selectorCache.LoadOrStore(s, sel); !loaded {
			cachedSelectors.n++
		}
	}
	cachedSelectors.Unlock()
	return sel, nil
}

// String returns the selector as written.
func (s *Selector) String() string { return s.raw }

// Template reports whether s is a URI template.
func (s *Selector) Template() bool { return s.re != nil }

// Match reports whether topic is selected by s.
func (s *Selector) Match(topic string) bool {
	switch {
	case s.raw == "*":
		return true
	case s.re != nil:
		return s.re.MatchString(topic)
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
