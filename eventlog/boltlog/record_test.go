package boltlog

import (
	"encoding/binary"
	"strings"
	"testing"
	"time"

	"github.com/heraldhub/herald/eventlog"
)

var recordCases = []eventlog.Update{
	{Time: time.Unix(0, 0)}, // Time is always set by Append
	{ID: "1", Topics: []string{"t"}, Data: "d", Time: time.Unix(1, 2)},
	{
		ID:      "urn:uuid:3f1e4c2a-0000-4000-8000-000000000001",
		Topics:  []string{"https://example.com/books/1", "書籍", ""},
		Data:    "line 1\nline 2\r\n\x00binary\xff",
		Type:    "progress",
		Retry:   1500 * time.Millisecond,
		Private: true,
		Time:    time.Date(2026, 5, 6, 7, 8, 9, 123456789, time.UTC),
	},
	{ID: strings.Repeat("i", 300), Topics: make([]string, 200), Data: strings.Repeat("x", 70000), Retry: -1, Time: time.Unix(5, 0)},
}

func TestRecordRoundTripsEveryField(t *testing.T) {
	for i, want := range recordCases {
		want.Seq = uint64(i + 7)
		b := appendRecord(nil, &want)
		if len(b) > recordSize(&want) {
			t.Fatalf("case %d: record of %d bytes, recordSize said at most %d", i, len(b), recordSize(&want))
		}
		got, err := decodeRecord(want.Seq, b)
		if err != nil {
			t.Fatalf("case %d: %v", i, err)
		}
		if d := diffUpdate(got, want); d != "" {
			t.Fatalf("case %d: %s", i, d)
		}
		if tm, err := recordTime(b); err != nil || !tm.Equal(want.Time) {
			t.Fatalf("case %d: recordTime = %v, %v; want %v", i, tm, err, want.Time)
		}
		if id, err := recordID(b); err != nil || string(id) != want.ID {
			t.Fatalf("case %d: recordID = %q, %v; want %q", i, id, err, want.ID)
		}
	}
}

func TestRecordRejectsTruncatedAndForeignBytes(t *testing.T) {
	full := appendRecord(nil, &recordCases[2])
	dataStart := len(full) - len(recordCases[2].Data)
	for _, b := range [][]byte{nil, {}, {2}, {recordVersion, 1, 2}, full[:10], full[:dataStart-1]} {
		if u, err := decodeRecord(1, b); err == nil {
			t.Errorf("decodeRecord(%q) = %+v, want an error", b, u)
		}
	}
}

func FuzzDecodeRecord(f *testing.F) {
	for _, u := range recordCases {
		f.Add(appendRecord(nil, &u))
	}
	f.Add([]byte{recordVersion, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01})
	f.Fuzz(func(t *testing.T, b []byte) {
		u, err := decodeRecord(1, b)
		recordTime(b)
		recordID(b)
		if err != nil {
			return
		}
		// Whatever decodes re-encodes to a record that decodes the same.
		again, err := decodeRecord(1, appendRecord(nil, &u))
		if err != nil {
			t.Fatalf("re-encoded record does not decode: %v", err)
		}
		if d := diffUpdate(again, u); d != "" {
			t.Fatal(d)
		}
	})
}

func TestUvarintReadsWhatEncodingBinaryReads(t *testing.T) {
	inputs := [][]byte{
		{}, {0}, {1}, {0x7f}, {0x80}, {0x80, 0}, {0xff, 0x01}, {0x80, 0x80, 0x80},
		binary.AppendUvarint(nil, 1<<63), binary.AppendUvarint(nil, ^uint64(0)),
		{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02},
		{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01},
	}
	for _, in := range inputs {
		want, n := binary.Uvarint(in)
		d := decoder[[]byte]{b: in}
		got := d.uvarint()
		if (n <= 0) != (d.err != nil) || got != want || (n > 0 && len(d.b) != len(in)-n) {
			t.Errorf("uvarint(%x) = %d, err %v, rest %d; encoding/binary: %d, n %d", in, got, d.err, len(d.b), want, n)
		}
	}
}
