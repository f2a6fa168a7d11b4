package sse

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strings"
	"testing"
	"testing/iotest"
	"time"
	"unicode/utf8"
)

// decoderCases are raw streams and the events a browser dispatches for
// them, one per rule of the WHATWG parsing algorithm. They also seed the
// fuzz corpus.
var decoderCases = []struct {
	name   string
	stream string
	want   []Event
}{
	{"one event", "data: hello\n\n", []Event{{Type: "message", Data: "hello"}}},
	{"LF, CR and CRLF all end lines", "data: a\rdata: b\r\ndata: c\n\r\n", []Event{{Type: "message", Data: "a\nb\nc"}}},
	{"blank line of CR alone dispatches", "data: x\r\r", []Event{{Type: "message", Data: "x"}}},
	{"BOM at the start is skipped", "\xEF\xBB\xBFdata: x\n\n", []Event{{Type: "message", Data: "x"}}},
	{"BOM is skipped only once", "\xEF\xBB\xBF\xEF\xBB\xBFdata: x\n\ndata: y\n\n", []Event{{Type: "message", Data: "y"}}},
	{"line without colon is a field with empty value", "data\n\n", []Event{{Type: "message", Data: ""}}},
	{"only one leading space is removed", "data:  two\n\n", []Event{{Type: "message", Data: " two"}}},
	{"no space after colon", "data:x\n\n", []Event{{Type: "message", Data: "x"}}},
	{"comment lines are ignored", ": keep-alive\n:\ndata: x\n: more\n\n", []Event{{Type: "message", Data: "x"}}},
	{"unknown fields are ignored", "foo: bar\nDATA: no\ndata: x\n\n", []Event{{Type: "message", Data: "x"}}},
	{"event sets the type", "event: progress\ndata: 42\n\n", []Event{{Type: "progress", Data: "42"}}},
	{"type resets after dispatch", "event: a\ndata: 1\n\ndata: 2\n\n", []Event{{Type: "a", Data: "1"}, {Type: "message", Data: "2"}}},
	{"id persists across events", "id: 7\ndata: a\n\ndata: b\n\n", []Event{{ID: "7", Type: "message", Data: "a"}, {ID: "7", Type: "message", Data: "b"}}},
	{"empty id resets the last event id", "id: 7\ndata: a\n\nid\ndata: b\n\n", []Event{{ID: "7", Type: "message", Data: "a"}, {ID: "", Type: "message", Data: "b"}}},
	{"id containing NUL is ignored", "id: 1\ndata: a\n\nid: 2\x003\ndata: b\n\n", []Event{{ID: "1", Type: "message", Data: "a"}, {ID: "1", Type: "message", Data: "b"}}},
	{"blank line without data dispatches nothing but sets the id", "id: 5\n\ndata: x\n\n", []Event{{ID: "5", Type: "message", Data: "x"}}},
	{"empty data field makes an event with empty data", "data:\n\n", []Event{{Type: "message", Data: ""}}},
	{"two empty data fields make one newline", "data\ndata\n\n", []Event{{Type: "message", Data: "\n"}}},
	{"only the last newline of data is removed", "data: a\ndata:\n\n", []Event{{Type: "message", Data: "a\n"}}},
	{"event field without data dispatches nothing", "event: x\n\ndata: y\n\n", []Event{{Type: "message", Data: "y"}}},
	{"retry with digits is used", "retry: 1500\ndata: x\n\n", []Event{{Type: "message", Data: "x", Retry: 1500 * time.Millisecond}}},
	{"retry with other characters is ignored", "retry: 15s\ndata: x\n\nretry: -1\ndata: y\n\nretry: 1 0\ndata: z\n\n", []Event{{Type: "message", Data: "x"}, {Type: "message", Data: "y"}, {Type: "message", Data: "z"}}},
	{"final event without blank line is discarded", "data: a\n\ndata: b\n", []Event{{Type: "message", Data: "a"}}},
	{"final line without ending is discarded", "data: a\n\ndata: b", []Event{{Type: "message", Data: "a"}}},
	{"invalid UTF-8 becomes U+FFFD", "data: a\xffb\n\n", []Event{{Type: "message", Data: "a\uFFFDb"}}},
	{"colon in value is kept", "data: a:b: c\n\n", []Event{{Type: "message", Data: "a:b: c"}}},
	{"field name with space is unknown", "data : x\ndata: y\n\n", []Event{{Type: "message", Data: "y"}}},
	{"empty stream", "", nil},
	{"BOM after the start is part of the field name", "data: x\n\n\xEF\xBB\xBFdata: y\n\n", []Event{{Type: "message", Data: "x"}}},
	{"BOM alone", "\xEF\xBB\xBF", nil},
	{"partial BOM is not skipped", "\xEF\xBBdata: x\n\ndata: y\n\n", []Event{{Type: "message", Data: "y"}}},
	{"blank lines without fields dispatch nothing", "\n\r\n\r\ndata: x\n\n\n\n", []Event{{Type: "message", Data: "x"}}},
	{"CRLF blank line dispatches", "data: x\r\n\r\n", []Event{{Type: "message", Data: "x"}}},
	{"LF then CR is two line endings", "data: x\n\rdata: y\n\n", []Event{{Type: "message", Data: "x"}, {Type: "message", Data: "y"}}},
	{"data line that is only a space", "data: \n\n", []Event{{Type: "message", Data: ""}}},
	{"tab after colon is kept", "data:\tx\n\n", []Event{{Type: "message", Data: "\tx"}}},
	{"field names are case-sensitive", "Event: a\nID: 1\ndata: x\n\n", []Event{{Type: "message", Data: "x"}}},
	{"empty event field means message", "event: a\nevent\ndata: x\n\n", []Event{{Type: "message", Data: "x"}}},
	{"last event field wins", "event: a\nevent: b\ndata: x\n\n", []Event{{Type: "b", Data: "x"}}},
	{"event type keeps spaces after the first", "event:  spaced \ndata: x\n\n", []Event{{Type: " spaced ", Data: "x"}}},
	{"id with colon and spaces", "id: urn:x y \ndata: x\n\n", []Event{{ID: "urn:x y ", Type: "message", Data: "x"}}},
	{"id field set after data still applies", "data: x\nid: 3\n\n", []Event{{ID: "3", Type: "message", Data: "x"}}},
	{"id of an undispatched final event is not applied", "id: 1\ndata: a\n\nid: 2\ndata: b\n", []Event{{ID: "1", Type: "message", Data: "a"}}},
	{"NUL in data is kept", "data: a\x00b\n\n", []Event{{Type: "message", Data: "a\x00b"}}},
	{"retry with leading zeros is decimal", "retry: 03000\ndata: x\n\n", []Event{{Type: "message", Data: "x", Retry: 3 * time.Second}}},
	{"empty retry is ignored", "retry\ndata: x\n\nretry:\ndata: y\n\n", []Event{{Type: "message", Data: "x"}, {Type: "message", Data: "y"}}},
	{"retry without data applies to the next event", "retry: 10\n\ndata: x\n\ndata: y\n\n", []Event{{Type: "message", Data: "x", Retry: 10 * time.Millisecond}, {Type: "message", Data: "y"}}},
	{"retry beyond time.Duration saturates", "retry: 99999999999999999999999\ndata: x\n\n", []Event{{Type: "message", Data: "x", Retry: maxRetry}}},
	{"truncated UTF-8 sequence is one U+FFFD", "data: a\xE2\x82b\n\n", []Event{{Type: "message", Data: "a\uFFFDb"}}},
	{"truncated 4-byte sequence is one U+FFFD", "data: \xF0\x9F\x98\n\n", []Event{{Type: "message", Data: "\uFFFD"}}},
	{"surrogate is one U+FFFD per byte", "data: \xED\xA0\x80\n\n", []Event{{Type: "message", Data: "\uFFFD\uFFFD\uFFFD"}}},
	{"overlong form is one U+FFFD per byte", "data: \xC0\xAF\xE0\x80\n\n", []Event{{Type: "message", Data: "\uFFFD\uFFFD\uFFFD\uFFFD"}}},
	{"invalid UTF-8 in id and type", "id: \xFF\nevent: t\xE2\x82\ndata: x\n\n", []Event{{ID: "\uFFFD", Type: "t\uFFFD", Data: "x"}}},
	{"line ending ends a truncated sequence", "data: \xE2\ndata: \x82\n\n", []Event{{Type: "message", Data: "\uFFFD\n\uFFFD"}}},
}

// decodeAll decodes every event of r.
func decodeAll(t *testing.T, r io.Reader) []Event {
	t.Helper()
	d := NewDecoder(r)
	var got []Event
	for {
		ev, err := d.Next()
		if errors.Is(err, io.EOF) {
			return got
		}
		if err != nil {
			t.Fatalf("Next: %v", err)
		}
		got = append(got, ev)
	}
}

func TestDecoderFollowsTheParsingAlgorithm(t *testing.T) {
	for _, tc := range decoderCases {
		t.Run(tc.name, func(t *testing.T) {
			readers := map[string]func() io.Reader{
				"whole":          func() io.Reader { return strings.NewReader(tc.stream) },
				"byte at a time": func() io.Reader { return iotest.OneByteReader(strings.NewReader(tc.stream)) },
			}
			for i := 1; i < len(tc.stream); i++ {
				readers["split at "+itoa(i)] = func() io.Reader {
					return io.MultiReader(iotest.HalfReader(strings.NewReader(tc.stream[:i])), strings.NewReader(tc.stream[i:]))
				}
			}
			for how, r := range readers {
				if got := decodeAll(t, r()); !reflect.DeepEqual(got, tc.want) {
					t.Errorf("%s: got %#v, want %#v", how, got, tc.want)
				}
			}
		})
	}
}

func itoa(i int) string {
	return string(appendInt(nil, i))
}

func appendInt(b []byte, i int) []byte {
	if i >= 10 {
		b = appendInt(b, i/10)
	}
	return append(b, byte('0'+i%10))
}

func TestDecoderCRAtEndOfReadThenLF(t *testing.T) {
	// A CR ends one read and an LF starts the next: one line ending, so the
	// stream holds one event, not an extra blank line.
	r := io.MultiReader(strings.NewReader("data: a\r"), strings.NewReader("\ndata: b\r"), strings.NewReader("\n\r\n"))
	got := decodeAll(t, r)
	want := []Event{{Type: "message", Data: "a\nb"}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %#v, want %#v", got, want)
	}
}

func TestDecoderReportsLastEventIDAndRetry(t *testing.T) {
	d := NewDecoder(strings.NewReader("retry: 250\nid: 9\n\n"))
	if _, err := d.Next(); !errors.Is(err, io.EOF) {
		t.Fatalf("Next: %v, want EOF", err)
	}
	if d.LastEventID() != "9" || d.Retry() != 250*time.Millisecond {
		t.Fatalf("LastEventID %q, Retry %v; want 9 and 250ms", d.LastEventID(), d.Retry())
	}
}

func TestDecoderBoundsEventSize(t *testing.T) {
	d := NewDecoder(strings.NewReader("data: " + strings.Repeat("x", 100) + "\n\n"))
	d.MaxEventBytes = 50
	if _, err := d.Next(); !errors.Is(err, ErrEventTooLarge) {
		t.Fatalf("Next: %v, want ErrEventTooLarge", err)
	}
}

func TestEncodeDecodeRoundTrip(t *testing.T) {
	events := []Event{
		{ID: "1", Type: "message", Data: "plain"},
		{ID: "urn:uuid:x", Type: "progress", Data: "line 1\nline 2\r\nline 3\rline 4"},
		{ID: "2", Type: "message", Data: "trailing newline\n"},
		{ID: "3", Type: "message", Data: ""},
		{ID: "4", Type: "message", Data: "\n\n"},
		{ID: "5", Type: "message", Data: " leading space", Retry: 3 * time.Second},
		{ID: "6", Type: "message", Data: "ünïcødé ✓"},
	}
	var buf []byte
	for i := range events {
		var err error
		if buf, err = AppendEvent(buf, &events[i]); err != nil {
			t.Fatal(err)
		}
	}
	got := decodeAll(t, bytes.NewReader(buf))
	for i := range events {
		events[i].Data = strings.NewReplacer("\r\n", "\n", "\r", "\n").Replace(events[i].Data)
	}
	if !reflect.DeepEqual(got, events) {
		t.Fatalf("round trip:\n got %#v\nwant %#v", got, events)
	}
}

func TestEncoderRejectsWhatTheFormatCannotCarry(t *testing.T) {
	for name, ev := range map[string]Event{
		"id with LF":     {ID: "a\nb"},
		"id with CR":     {ID: "a\rb"},
		"id with NUL":    {ID: "a\x00b"},
		"type with LF":   {Type: "a\nb"},
		"negative retry": {Retry: -time.Second},
	} {
		dst := []byte("kept")
		out, err := AppendEvent(dst, &ev)
		if err == nil || string(out) != "kept" {
			t.Errorf("%s: got %q, %v; want an error and dst unchanged", name, out, err)
		}
	}
}

func TestEncoderWritesCommentsAndRetry(t *testing.T) {
	got, err := AppendEvent(nil, &Event{Comment: "hi\nthere", ID: "1", Type: "t", Retry: 1500 * time.Millisecond, Data: "x"})
	if err != nil {
		t.Fatal(err)
	}
	want := ": hi\n: there\nid: 1\nevent: t\nretry: 1500\ndata: x\n\n"
	if string(got) != want {
		t.Fatalf("got %q, want %q", got, want)
	}
}

func TestResetKeepsLastEventIDAndRetryForTheNextStream(t *testing.T) {
	d := NewDecoder(strings.NewReader("retry: 0\nid: 4\ndata: a\n\nid: 5\ndata: partial"))
	if ev, err := d.Next(); err != nil || ev.ID != "4" {
		t.Fatalf("Next: %+v, %v", ev, err)
	}
	if _, err := d.Next(); !errors.Is(err, io.EOF) {
		t.Fatalf("Next: %v, want EOF (the partial event is discarded)", err)
	}
	// The new stream starts with a BOM (skipped again) and sends no id:
	// its events carry the last event id of the previous stream.
	d.Reset(strings.NewReader("\xEF\xBB\xBFdata: b\n\nid\ndata: c\n\n"))
	got := []Event{}
	for {
		ev, err := d.Next()
		if err != nil {
			break
		}
		got = append(got, ev)
	}
	want := []Event{{ID: "4", Type: "message", Data: "b"}, {Type: "message", Data: "c"}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("after Reset got %#v, want %#v", got, want)
	}
	if !d.HasRetry() || d.Retry() != 0 {
		t.Fatalf("HasRetry %v, Retry %v; want the retry: 0 of the first stream", d.HasRetry(), d.Retry())
	}
}

func TestSetLastEventIDSeedsTheEventsUntilTheStreamSendsAnID(t *testing.T) {
	d := NewDecoder(strings.NewReader("data: a\n\nid: 9\ndata: b\n\n"))
	d.SetLastEventID("resume-from")
	if d.LastEventID() != "resume-from" {
		t.Fatalf("LastEventID %q before reading", d.LastEventID())
	}
	a, _ := d.Next()
	b, _ := d.Next()
	if a.ID != "resume-from" || b.ID != "9" || d.LastEventID() != "9" {
		t.Fatalf("ids %q, %q, last %q; want resume-from, 9, 9", a.ID, b.ID, d.LastEventID())
	}
}

func TestHasRetryTellsUnsetFromZero(t *testing.T) {
	for stream, want := range map[string]bool{"data: x\n\n": false, "retry: x\ndata: x\n\n": false, "retry: 0\ndata: x\n\n": true} {
		d := NewDecoder(strings.NewReader(stream))
		d.Next()
		if d.HasRetry() != want || d.Retry() != 0 {
			t.Errorf("%q: HasRetry %v, Retry %v; want %v and 0", stream, d.HasRetry(), d.Retry(), want)
		}
	}
}

func TestDecoderReadsLinesLongerThanItsBuffer(t *testing.T) {
	long := strings.Repeat("x", 5000)
	d := NewDecoderSize(iotest.HalfReader(strings.NewReader("data: "+long+"\r\n\r\n")), 16)
	if ev, err := d.Next(); err != nil || ev.Data != long {
		t.Fatalf("Next: %d bytes, %v; want the %d-byte line", len(ev.Data), err, len(long))
	}
}

func TestDecoderReturnsTheReadersError(t *testing.T) {
	boom := errors.New("connection reset")
	d := NewDecoder(io.MultiReader(strings.NewReader("data: a\n\ndata: b\n"), iotest.ErrReader(boom)))
	if ev, err := d.Next(); err != nil || ev.Data != "a" {
		t.Fatalf("Next: %+v, %v", ev, err)
	}
	if _, err := d.Next(); !errors.Is(err, boom) {
		t.Fatalf("Next: %v, want the reader's error", err)
	}
}

// TestTextMatchesTheEncodingStandard compares text with a direct
// transcription of the Encoding standard's UTF-8 decoder on every one- and
// two-byte input and on chosen longer ones.
func TestTextMatchesTheEncodingStandard(t *testing.T) {
	check := func(b []byte) {
		if got, want := text(b), whatwgDecode(b); got != want {
			t.Fatalf("text(% x) = %+q, want %+q", b, got, want)
		}
	}
	for i := range 256 {
		check([]byte{byte(i)})
		for j := range 256 {
			check([]byte{byte(i), byte(j)})
		}
	}
	for _, s := range []string{"\xE2\x82", "\xE2\x82\xAC", "\xF0\x9F\x98", "\xF0\x9F\x98\x80", "\xF4\x90\x80\x80", "\xED\x9F\xBF", "\xED\xA0\x80", "a\xF0\x90\x80b\xE0\xA0", "\uFFFD\xFF"} {
		check([]byte(s))
	}
}

func FuzzText(f *testing.F) {
	f.Add([]byte("a\xE2\x82b\xF0\x9F\x98\x80\xED\xA0\x80"))
	f.Fuzz(func(t *testing.T, b []byte) {
		if got, want := text(b), whatwgDecode(b); got != want {
			t.Fatalf("text(% x) = %+q, want %+q", b, got, want)
		}
	})
}

// whatwgDecode is the Encoding standard's UTF-8 decoder, step by step.
func whatwgDecode(in []byte) string {
	var out []rune
	var cp rune
	needed, seen := 0, 0
	lower, upper := byte(0x80), byte(0xBF)
	for i := 0; i < len(in); i++ {
		b := in[i]
		if needed == 0 {
			switch {
			case b <= 0x7F:
				out = append(out, rune(b))
			case b >= 0xC2 && b <= 0xDF:
				needed, cp = 1, rune(b&0x1F)
			case b >= 0xE0 && b <= 0xEF:
				if b == 0xE0 {
					lower = 0xA0
				}
				if b == 0xED {
					upper = 0x9F
				}
				needed, cp = 2, rune(b&0xF)
			case b >= 0xF0 && b <= 0xF4:
				if b == 0xF0 {
					lower = 0x90
				}
				if b == 0xF4 {
					upper = 0x8F
				}
				needed, cp = 3, rune(b&0x7)
			default:
				out = append(out, 0xFFFD)
			}
			continue
		}
		if b < lower || b > upper {
			cp, needed, seen, lower, upper = 0, 0, 0, 0x80, 0xBF
			out = append(out, 0xFFFD)
			i-- // prepend b to the stream
			continue
		}
		lower, upper = 0x80, 0xBF
		cp = cp<<6 | rune(b&0x3F)
		seen++
		if seen == needed {
			out = append(out, cp)
			cp, needed, seen = 0, 0, 0
		}
	}
	if needed != 0 {
		out = append(out, 0xFFFD)
	}
	return string(out)
}

func FuzzDecoder(f *testing.F) {
	for _, tc := range decoderCases {
		f.Add([]byte(tc.stream), uint16(len(tc.stream)/2))
	}
	f.Fuzz(func(t *testing.T, stream []byte, split uint16) {
		whole := decodeAllOrLimit(t, bytes.NewReader(stream))
		bytewise := decodeAllOrLimit(t, iotest.OneByteReader(bytes.NewReader(stream)))
		if !reflect.DeepEqual(whole, bytewise) {
			t.Fatalf("whole %#v != byte at a time %#v", whole, bytewise)
		}
		i := int(split) % (len(stream) + 1)
		halves := decodeAllOrLimit(t, io.MultiReader(bytes.NewReader(stream[:i]), bytes.NewReader(stream[i:])))
		if !reflect.DeepEqual(whole, halves) {
			t.Fatalf("whole %#v != split at %d %#v", whole, i, halves)
		}
		for _, ev := range whole {
			if !utf8.ValidString(ev.ID) || !utf8.ValidString(ev.Type) || !utf8.ValidString(ev.Data) {
				t.Fatalf("invalid UTF-8 in %#v", ev)
			}
			if !ValidID(ev.ID) || !ValidType(ev.Type) || ev.Type == "" || strings.Contains(ev.Data, "\r") || ev.Retry < 0 {
				t.Fatalf("decoded an event no stream can carry: %#v", ev)
			}
		}
	})
}

func decodeAllOrLimit(t *testing.T, r io.Reader) []Event {
	d := NewDecoder(r)
	var got []Event
	for range 1 << 16 {
		ev, err := d.Next()
		if err != nil {
			if !errors.Is(err, io.EOF) {
				t.Fatalf("Next: %v", err)
			}
			return got
		}
		got = append(got, ev)
	}
	t.Fatal("decoder did not reach the end of a finite stream")
	return nil
}

func FuzzEncodeDecodeRoundTrip(f *testing.F) {
	f.Add("1", "message", "data", int64(0), "")
	f.Add("urn:x", "progress", "a\nb\r\nc\r", int64(1500), "heartbeat\nsecond line")
	f.Add("", "", "", int64(0), "")
	f.Add(" spaced id", " spaced type", " spaced data\n", int64(1), ":")
	f.Fuzz(func(t *testing.T, id, typ, data string, retryMS int64, comment string) {
		ev := Event{ID: id, Type: typ, Data: data, Retry: time.Duration(retryMS) * time.Millisecond, Comment: comment}
		buf, err := AppendEvent(nil, &ev)
		if err != nil {
			return // not encodable: rejected, as it must be
		}
		got := decodeAll(t, bytes.NewReader(buf))
		if len(got) != 1 {
			t.Fatalf("encoded %#v, decoded %d events", ev, len(got))
		}
		want := ev
		want.Comment = "" // comments are for the wire only
		want.Data = strings.NewReplacer("\r\n", "\n", "\r", "\n").Replace(text([]byte(ev.Data)))
		want.ID, want.Type = text([]byte(ev.ID)), text([]byte(ev.Type))
		if want.Type == "" {
			want.Type = "message"
		}
		if want.Retry < time.Millisecond {
			want.Retry = 0
		} else {
			want.Retry = want.Retry.Truncate(time.Millisecond)
		}
		if got[0] != want {
			t.Fatalf("round trip of %#v gave %#v, want %#v", ev, got[0], want)
		}
	})
}

func BenchmarkDecode(b *testing.B) {
	var stream []byte
	for i := range 1000 {
		id := fmt.Sprintf("urn:uuid:01a20c42-d14b-7948-9c53-%012d", i) // a new id per event, as a hub sends
		stream, _ = AppendEvent(stream, &Event{ID: id, Type: "progress", Data: `{"stage":"filtering","done":4200,"total":10000}`})
	}
	b.SetBytes(int64(len(stream)))
	b.ReportAllocs()
	r := bytes.NewReader(stream)
	for b.Loop() {
		r.Reset(stream)
		d := NewDecoder(r)
		for {
			if _, err := d.Next(); err != nil {
				break
			}
		}
	}
}

func BenchmarkEncodeAppend(b *testing.B) {
	ev := Event{ID: "urn:uuid:01a20c42-d14b-7948-9c53-09ba8881735d", Type: "progress", Data: `{"stage":"filtering","done":4200,"total":10000}`}
	buf := make([]byte, 0, 256)
	b.ReportAllocs()
	for b.Loop() {
		buf, _ = AppendEvent(buf[:0], &ev)
	}
}

func BenchmarkDecodeSmallBuffer(b *testing.B) {
	var stream []byte
	for i := range 1000 {
		stream, _ = AppendEvent(stream, &Event{ID: itoa(i), Data: "42 1732435200000000000 padding-to-a-typical-size"})
	}
	b.SetBytes(int64(len(stream)))
	b.ReportAllocs()
	r := bytes.NewReader(stream)
	d := NewDecoderSize(r, 1024)
	for b.Loop() {
		r.Reset(stream)
		d.Reset(r)
		for {
			if _, err := d.Next(); err != nil {
				break
			}
		}
	}
}

func BenchmarkEncodeAppendMultiline(b *testing.B) {
	ev := Event{ID: "1732435200000-0", Data: "line one\nline two\r\nline three\rline four\n", Comment: "heartbeat"}
	buf := make([]byte, 0, 256)
	b.ReportAllocs()
	for b.Loop() {
		buf, _ = AppendEvent(buf[:0], &ev)
	}
}
