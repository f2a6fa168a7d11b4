package hub

import (
	"encoding/json"
	"os"
	"testing"
)

// wptCase is one entry of testdata/urlpatterntestdata.json, a copy of
// web-platform-tests/wpt urlpattern/resources/urlpatterntestdata.json (as
// shipped in github.com/dunglas/go-urlpattern v1.0.0's testdata).
type wptCase struct {
	Pattern       []any           `json:"pattern"`
	Inputs        []any           `json:"inputs"`
	ExpectedObj   any             `json:"expected_obj"`
	ExpectedMatch json.RawMessage `json:"expected_match"`
}

// strings2 returns list as one or two strings, or ok false if it holds
// anything else (an init object, options such as ignoreCase).
func strings2(list []any) (first, second string, ok bool) {
	if len(list) == 0 || len(list) > 2 {
		return "", "", false
	}
	for i, v := range list {
		s, isString := v.(string)
		if !isString {
			return "", "", false
		}
		if i == 0 {
			first = s
		} else {
			second = s
		}
	}
	return first, second, true
}

// TestURLPatternMatchesWebPlatformTests runs the URL pattern matcher over
// the web-platform-tests cases it can express: a pattern string with an
// optional base URL, tested against a topic string resolved against the
// same base. Cases with init objects, options (ignoreCase) or a base of the
// input other than the pattern's are skipped and counted.
func TestURLPatternMatchesWebPlatformTests(t *testing.T) {
	b, err := os.ReadFile("testdata/urlpatterntestdata.json")
	if err != nil {
		t.Fatal(err)
	}
	var cases []wptCase
	if err := json.Unmarshal(b, &cases); err != nil {
		t.Fatal(err)
	}
	ran, skipped := 0, 0
	for i, c := range cases {
		pattern, base, ok := strings2(c.Pattern)
		if !ok {
			skipped++
			continue
		}
		if c.ExpectedObj == "error" {
			if _, err := ParseMatcher(TypeURLPattern, pattern, base); err == nil && CheckText(pattern) == nil {
				t.Errorf("case %d: pattern %q (base %q) parsed, want an error", i, pattern, base)
			}
			ran++
			continue
		}
		input, inputBase, ok := strings2(c.Inputs)
		if !ok || inputBase != base || string(c.ExpectedMatch) == `"error"` {
			skipped++
			continue
		}
		sel, err := ParseMatcher(TypeURLPattern, pattern, base)
		if err != nil {
			t.Errorf("case %d: pattern %q (base %q): %v", i, pattern, base, err)
			continue
		}
		want := string(c.ExpectedMatch) != "null"
		if got := sel.Match(input); got != want {
			t.Errorf("case %d: pattern %q (base %q) matching %q = %v, want %v", i, pattern, base, input, got, want)
		}
		ran++
	}
	t.Logf("%d web-platform-tests cases run, %d skipped (init objects, options, other input bases)", ran, skipped)
	if ran < 50 {
		t.Fatalf("only %d cases ran", ran)
	}
}
