package hub

import "testing"

// TestMatcherTypes checks each Mercure 1.0 matcher type against topics,
// beside the 0.x selector of the same text.
func TestMatcherTypes(t *testing.T) {
	const base = "https://hub.example/.well-known/mercure"
	for _, tc := range []struct {
		typ, matcher, topic string
		want                bool
	}{
		{TypeExact, "https://example.com/books/{id}", "https://example.com/books/{id}", true},
		{TypeExact, "https://example.com/books/{id}", "https://example.com/books/1", false},
		{"", "https://example.com/books/{id}", "https://example.com/books/1", true},
		{TypeExact, "https://Example.com/a", "https://example.com/a", false},
		{TypeExact, "*", "anything", true},
		{TypeURLPattern, "*", "not a url", true},
		{TypeURLPattern, "https://example.com/books/:id", "https://example.com/books/1", true},
		{TypeURLPattern, "https://example.com/books/:id", "https://example.com/books/1/2", false},
		{TypeURLPattern, "https://example.com/books/:id", "HTTPS://EXAMPLE.COM/books/1", true},  // scheme and host are case-insensitive in URLs
		{TypeURLPattern, "https://example.com/Books/:id", "https://example.com/books/1", false}, // no ignoreCase
		{TypeURLPattern, "/books/:id", "https://hub.example/books/7", true},
		{TypeURLPattern, "/books/:id", "/books/7", true},
		{TypeURLPattern, "/books/:id", "https://other.example/books/7", false},
		{TypeURLPattern, "https://example.com/*", "http://[::1", false}, // unparseable topic
		{TypeURLPattern, "https://example.com/*", "https://example.com/a", true},
	} {
		sel, err := ParseMatcher(tc.typ, tc.matcher, base)
		if err != nil {
			t.Fatalf("%s %q: %v", tc.typ, tc.matcher, err)
		}
		if got := sel.Match(tc.topic); got != tc.want {
			t.Errorf("%s %q matching %q = %v, want %v", tc.typ, tc.matcher, tc.topic, got, tc.want)
		}
	}
}

// TestParseMatcherRefuses checks the matchers ParseMatcher refuses.
func TestParseMatcherRefuses(t *testing.T) {
	for _, tc := range []struct{ typ, matcher string }{
		{TypeExact, ""},
		{TypeURLPattern, ""},
		{"regexp", "a"},
		{TypeExact, "a\x00b"},
		{TypeExact, "a\u200bb"},
		{TypeExact, "a\xffb"},
		{TypeURLPattern, "https://example.com/(unclosed"},
		{TypeURLPattern, "https://example.com/\u0085"},
	} {
		if _, err := ParseMatcher(tc.typ, tc.matcher, "https://hub.example/.well-known/mercure"); err == nil {
			t.Errorf("%s %q parsed, want an error", tc.typ, tc.matcher)
		}
	}
}

// TestMatchersOfSameTextAreDistinct checks that the cache and the index
// tell a matcher's type and base apart: the same text under another type
// or hub URL selects other topics.
func TestMatchersOfSameTextAreDistinct(t *testing.T) {
	tpl, _ := ParseSelector("https://example.com/{id}")
	exact, _ := ParseMatcher(TypeExact, "https://example.com/{id}", "")
	if !tpl.Match("https://example.com/1") || exact.Match("https://example.com/1") {
		t.Fatal("the template and the exact matcher of the same text were confused")
	}
	a, _ := ParseMatcher(TypeURLPattern, "/x", "https://a.example/.well-known/mercure")
	b, _ := ParseMatcher(TypeURLPattern, "/x", "https://b.example/.well-known/mercure")
	if !a.Match("https://a.example/x") || b.Match("https://a.example/x") {
		t.Fatal("URL patterns of different bases were confused")
	}
}

// FuzzParseMatcher checks that no matcher or topic makes parsing or
// matching panic, that an exact matcher compares bytes only, and that a
// URL pattern's shortcut for absolute topics agrees with resolving them.
func FuzzParseMatcher(f *testing.F) {
	for _, s := range []string{"https://example.com/books/:id", "/books/*", "*", "{a}", "https://example.com/(\\d+)",
		"https://example.com/:id(foo|bar)?", "https://[::1]:8080/x", "data:text", "https://example.com/(unclosed", ":a:b"} {
		f.Add(s, "https://example.com/books/42", true)
	}
	f.Fuzz(func(t *testing.T, matcher, topic string, pattern bool) {
		if len(matcher) > 256 {
			return
		}
		typ := TypeExact
		if pattern {
			typ = TypeURLPattern
		}
		sel, err := ParseMatcher(typ, matcher, "https://hub.example/.well-known/mercure")
		if err != nil {
			return
		}
		got := sel.Match(topic)
		if typ == TypeExact && got != (matcher == "*" || matcher == topic) {
			t.Fatalf("exact %q matching %q = %v", matcher, topic, got)
		}
		if sel.pat != nil && got != sel.pat.Test(topic, sel.base) {
			t.Fatalf("urlpattern %q matching %q = %v, resolved against the base %v", matcher, topic, got, !got)
		}
	})
}

// BenchmarkMatchURLPattern measures matching a topic against a URL
// pattern, which the hub's tail does for each update and pattern.
func BenchmarkMatchURLPattern(b *testing.B) {
	sel, err := ParseMatcher(TypeURLPattern, "https://example.com/books/:id", "https://hub.example/.well-known/mercure")
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		sel.Match("https://example.com/books/42")
	}
}

// TestURLPatternAbsoluteTopicsIgnoreTheBase checks the shortcut for
// absolute topics against resolving them.
func TestURLPatternAbsoluteTopicsIgnoreTheBase(t *testing.T) {
	const base = "https://hub.example/.well-known/mercure"
	sel, _ := ParseMatcher(TypeURLPattern, "https://hub.example/.well-known/books/:id", base)
	for _, topic := range []string{"https:books/1", "https://hub.example/.well-known/books/1", "HTTPS://hub.example/.well-known/books/1"} {
		if got, want := sel.Match(topic), sel.pat.Test(topic, base); got != want {
			t.Errorf("%q: %v, resolved against the base: %v", topic, got, want)
		}
	}
}
