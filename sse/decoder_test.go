package sse

import (
	"bytes"
	"errors"
	"io"
	"reflect"
	"strings"
	"testing"
	"testing/iotest"
	"time"
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

func FuzzDecoder(f *testing.F) {
	for _, tc := range decoderCases {
		f.Add([]byte(tc.stream))
	}
	f.Fuzz(func(t *testing.T, stream []byte) {
		whole := decodeAllOrLimit(t, bytes.NewReader(stream))
		bytewise := decodeAllOrLimit(t, iotest.OneByteReader(bytes.NewReader(stream)))
		if !reflect.DeepEqual(whole, bytewise) {
			t.Fatalf("whole %#v != byte at a time %#v", whole, bytewise)
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
	f.Add("1", "message", "data", int64(0))
	f.Add("urn:x", "progress", "a\nb\r\nc\r", int64(1500))
	f.Add("", "", "", int64(0))
	f.Fuzz(func(t *testing.T, id, typ, data string, retryMS int64) {
		ev := Event{ID: id, Type: typ, Data: data, Retry: time.Duration(retryMS) * time.Millisecond}
		buf, err := AppendEvent(nil, &ev)
		if err != nil {
			return // not encodable: rejected, as it must be
		}
		got := decodeAll(t, bytes.NewReader(buf))
		if len(got) != 1 {
			t.Fatalf("encoded %#v, decoded %d events", ev, len(got))
		}
		want := ev
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
	for range 1000 {
		stream, _ = AppendEvent(stream, &Event{ID: "urn:uuid:01a20c42-d14b-7948-9c53-09ba8881735d", Type: "progress", Data: `{"stage":"filtering","done":4200,"total":10000}`})
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
