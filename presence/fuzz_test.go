package presence

import (
	"net/url"
	"strings"
	"testing"
)

// FuzzParsePath checks that any request path is parsed or refused without
// a panic, and that a parsed one names a topic below Prefix whose segments
// decode back to the parsed ones.
func FuzzParsePath(f *testing.F) {
	for _, s := range []string{
		Prefix, Prefix + "/", Prefix + "/exact/books%2F1", Prefix + "/exact/books%2F1/urn%3Auuid%3Ax",
		Prefix + "/books%2F1", Prefix + "/books%2F1/sub", Prefix + "/a/b/c/d", Prefix + "//", Prefix + "/%zz",
		Prefix + "x", "/other", Prefix + "/uritemplate/%7Bid%7D/s",
	} {
		f.Add(s, false)
	}
	f.Fuzz(func(t *testing.T, p string, ld bool) {
		q, err := parsePath(p, ld)
		if err != nil {
			return
		}
		if !strings.HasPrefix(q.topic, Prefix) {
			t.Fatalf("topic %q is not below %s", q.topic, Prefix)
		}
		segs := strings.Split(strings.TrimPrefix(q.topic, Prefix), "/")[1:]
		if len(segs) != len(q.segments) {
			t.Fatalf("topic %q has %d segments, parsed %d", q.topic, len(segs), len(q.segments))
		}
		for i, s := range segs {
			if d, err := url.PathUnescape(s); err != nil || d != q.segments[i] {
				t.Fatalf("segment %q decodes to %q, want %q", s, d, q.segments[i])
			}
		}
	})
}

// FuzzParseEvent checks that any update data is read as a subscription
// event or refused without a panic, and that an accepted event's id is
// its topic.
func FuzzParseEvent(f *testing.F) {
	e := entry{matchType: "exact", match: "books/1", subscriber: "urn:uuid:x"}
	ev := e.event(true)
	f.Add(ev.ID, `{"id":"`+ev.ID+`","type":"subscription","match_type":"exact","match":"books/1","subscriber":"urn:uuid:x","active":true}`)
	f.Add(ev.ID, `{"id":1}`)
	f.Add("", "null")
	f.Fuzz(func(t *testing.T, topic0, data string) {
		got, err := parseEvent(topic0, data)
		if err == nil && (got.ID != topic0 || topic(got.MatchType, got.Match, got.Subscriber) != topic0) {
			t.Fatalf("accepted event %+v under topic %q", got, topic0)
		}
	})
}
