package hub

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/dunglas/go-urlpattern"
)

// Matcher types of Mercure 1.0 (see ParseMatcher).
const (
	// TypeExact compares a topic with the matcher byte for byte: no
	// normalization, and no template meaning even with "{".
	TypeExact = "exact"
	// TypeURLPattern evaluates a WHATWG URL Pattern (without ignoreCase),
	// resolved against the hub's URL; a topic that is not a URL (even
	// resolved against it) never matches.
	TypeURLPattern = "urlpattern"
)

// compileMatcher parses s as a Mercure 1.0 matcher of type typ without the
// cache; "*" matches every topic under either type.
func compileMatcher(typ, s, base string) (*Selector, error) {
	if s == "" {
		return nil, fmt.Errorf("empty %s matcher", typ)
	}
	if err := CheckText(s); err != nil {
		return nil, fmt.Errorf("%s matcher %q: %w", typ, s, err)
	}
	sel := &Selector{raw: s, typ: typ, base: base}
	if typ != TypeURLPattern || s == "*" {
		return sel, nil
	}
	compiling.acquire(len(s))
	defer compiling.release(len(s))
	pat, err := compilePattern(s, base)
	if err != nil {
		return nil, fmt.Errorf("%q is not a valid URL pattern: %w", s, err)
	}
	sel.pat = pat
	return sel, nil
}

// compilePattern compiles a URL pattern, turning the parser's panics on
// malformed input into errors.
func compilePattern(s, base string) (pat *urlpattern.URLPattern, err error) {
	defer func() {
		if p := recover(); p != nil {
			pat, err = nil, fmt.Errorf("unparseable pattern")
		}
	}()
	return urlpattern.New(s, base, nil)
}

// CheckText returns an error if s, a topic, matcher, id or type of Mercure
// 1.0, is not UTF-8 or holds a control character (C0, DEL, C1) or a
// Unicode format character (category Cf).
func CheckText(s string) error {
	if !utf8.ValidString(s) {
		return fmt.Errorf("not valid UTF-8")
	}
	for _, r := range s {
		if unicode.IsControl(r) || unicode.Is(unicode.Cf, r) {
			return fmt.Errorf("holds the control or format character %U", r)
		}
	}
	return nil
}

// hasScheme reports whether topic starts with a URL scheme (RFC 3986: a
// letter, then letters, digits, "+", "-" or ".") and "://", which makes
// it an absolute URL whatever the base. ("https:x" without the slashes is
// relative to a base of the same scheme in the URL standard.)
func hasScheme(topic string) bool {
	for i := 0; i < len(topic); i++ {
		c := topic[i]
		switch {
		case 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z':
		case i > 0 && ('0' <= c && c <= '9' || c == '+' || c == '-' || c == '.'):
		case i > 0 && c == ':':
			return strings.HasPrefix(topic[i+1:], "//")
		default:
			return false
		}
	}
	return false
}
