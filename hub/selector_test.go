package hub

import (
	"fmt"
	"sync"
	"testing"

	"github.com/heraldhub/herald/internal/floodtest"
	"github.com/yosida95/uritemplate/v3"
)

func TestTemplatesMatchAsTheirURITemplateRegexpDoes(t *testing.T) {
	templates := []string{
		"https://example.com/books/{id}",
		"https://example.com/{+path}",
		"https://example.com/{#frag}",
		"https://example.com/books{/id*}",
		"https://example.com/search{?q,lang}",
		"https://example.com/search{?q}{&page}",
		"{a}{b}{c}",
		"x{.ext}",
		"x{;p,q}",
		"x{a:3}",
	}
	topics := []string{
		"", "https://example.com/books/42", "https://example.com/books/42/reviews",
		"https://example.com/a/b/c", "https://example.com/#x", "https://example.com/books/1/2",
		"https://example.com/search?q=go&lang=en", "https://example.com/search?q=go&page=2",
		"abc", "a/b", "x.txt", "x;p=1;q=2", "xabc", "xabcd", "https://example.com/search",
	}
	for _, tpl := range templates {
		want, err := uritemplate.New(tpl)
		if err != nil {
			t.Fatal(err)
		}
		sel, err := ParseSelector(tpl)
		if err != nil {
			t.Fatalf("%q: %v", tpl, err)
		}
		for _, topic := range topics {
			if got, want := sel.Match(topic), want.Regexp().MatchString(topic); got != want {
				t.Errorf("%q matching %q = %v, want %v as the template's own regexp", tpl, topic, got, want)
			}
		}
	}
}

func TestSelectorCacheStaysWithinItsBudget(t *testing.T) {
	c := newSelectorCache(64 << 10)
	common, _ := compileSelector("orders/{id}")
	c.put(common)
	for i := range 200 {
		sel, err := compileSelector(fmt.Sprintf("flood/%d/{id}", i))
		if err != nil {
			t.Fatal(err)
		}
		c.put(sel)
		if c.get(cacheKey{raw: "orders/{id}"}) != common {
			t.Fatalf("after %d distinct selectors the selector in constant use was evicted", i)
		}
		if _, used := c.size(); used > 64<<10 {
			t.Fatalf("cache holds %d bytes, over its budget of %d", used, 64<<10)
		}
	}
	if c.get(cacheKey{raw: "flood/0/{id}"}) != nil {
		t.Error("the least recently used selector is still cached")
	}
	big, _ := compileSelector(floodtest.Template(0, 1024))
	c.put(big)
	if c.get(big.key()) != nil {
		t.Error("a selector costing more than an eighth of the budget was cached")
	}
}

func TestConcurrentCompilationsStayWithinTheirBudget(t *testing.T) {
	saved := compiling
	compiling = newCompileGate(8 << 10)
	defer func() { compiling = saved }()
	var wg sync.WaitGroup
	for i := range 12 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := compileSelector(floodtest.Template(i, 2<<10)); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if compiling.peak > 8<<10 || compiling.used != 0 {
		t.Fatalf("template bytes compiling at once peaked at %d (%d left in use), want at most %d and none left", compiling.peak, compiling.used, 8<<10)
	}
	compileSelector(floodtest.Template(99, 9<<10)) // over the capacity: takes it all, never waits forever
}

// TestDistinctSelectorsAreFreedOnceUnused parses many distinct long
// templates, as a flood of subscribers would, and checks that what stays
// allocated once they are dropped is the cache's budget, not their sum.
func TestDistinctSelectorsAreFreedOnceUnused(t *testing.T) {
	before := floodtest.LiveHeap()
	for i := range 100 {
		if _, err := ParseSelector(floodtest.Template(i, 1024)); err != nil {
			t.Fatal(err)
		}
	}
	// 100 templates of 1 KiB compile to about 20 MB together.
	if grown := int64(floodtest.LiveHeap()) - int64(before); grown > 2*CacheBytes {
		t.Fatalf("live heap grew by %d bytes after parsing and dropping 100 distinct 1 KiB templates, want at most %d", grown, 2*CacheBytes)
	}
}

// FuzzParseSelector checks that no selector makes ParseSelector panic, and
// that a template it accepts matches as the template's own regexp does.
func FuzzParseSelector(f *testing.F) {
	for _, s := range []string{"books/1", "*", "https://example.com/books/{id}", "{+path}", "x{?q,lang}",
		"books{/id*}", "{a}{b}{c}", "x{a:3}", "books/{id", "books/{i d}", "{", "}", "{}", "%7B{x}", "{x}\\x00"} {
		f.Add(s, "https://example.com/books/42")
	}
	f.Fuzz(func(t *testing.T, selector, topic string) {
		if len(selector) > 256 {
			return // compiling is linear in length; long inputs only slow the search
		}
		sel, err := ParseSelector(selector)
		if err != nil || !sel.Template() {
			return
		}
		tpl, err := uritemplate.New(selector)
		if err != nil {
			t.Fatalf("ParseSelector accepted %q, which uritemplate refuses: %v", selector, err)
		}
		if got, want := sel.Match(topic), tpl.Regexp().MatchString(topic); got != want {
			t.Fatalf("%q matching %q = %v, want %v as the template's own regexp", selector, topic, got, want)
		}
	})
}

// BenchmarkParseSelector measures compiling a selector without the cache:
// a typical template, and one at the default length limit (4 KiB) of the
// costliest kind.
func BenchmarkParseSelector(b *testing.B) {
	for _, tc := range []struct{ name, s string }{
		{"typical", "https://example.com/books/{id}"},
		{"4KiB", floodtest.Template(0, 4096)},
	} {
		b.Run(tc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := compileSelector(tc.s); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkMatchLongTemplate measures matching a topic against a 4 KiB
// template, which the hub's tail does for each update.
func BenchmarkMatchLongTemplate(b *testing.B) {
	sel, err := compileSelector(floodtest.Template(0, 4096))
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		sel.Match("https://example.com/books/42")
	}
}
