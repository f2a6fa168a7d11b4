package boltlog

import (
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/heraldhub/herald/eventlog"
)

// Record layout, version 1. Every stored update is one value in the
// updates bucket, keyed by its Seq as 8 big-endian bytes:
//
//	version   1 byte  (1)
//	time      8 bytes Unix nanoseconds, big-endian (first, so age
//	                  retention reads it without decoding the rest)
//	flags     1 byte  bit 0: Private
//	retry     uvarint nanoseconds
//	id        uvarint length, bytes
//	type      uvarint length, bytes
//	topics    uvarint count, then each: uvarint length, bytes
//	data      the remaining bytes
const recordVersion = 1

// errCorruptRecord reports a stored value that does not decode.
var errCorruptRecord = errors.New("corrupt record")

// recordSize returns an upper bound of the encoded size of u.
func recordSize(u *eventlog.Update) int {
	n := 1 + 8 + 1 + binary.MaxVarintLen64 + 3*binary.MaxVarintLen64 + len(u.ID) + len(u.Type) + len(u.Data)
	for _, t := range u.Topics {
		n += binary.MaxVarintLen64 + len(t)
	}
	return n
}

// appendRecord appends the encoding of u (all but its Seq, which is the
// key) to dst.
func appendRecord(dst []byte, u *eventlog.Update) []byte {
	dst = append(dst, recordVersion)
	dst = binary.BigEndian.AppendUint64(dst, uint64(u.Time.UnixNano()))
	var flags byte
	if u.Private {
		flags |= 1
	}
	dst = append(dst, flags)
	dst = binary.AppendUvarint(dst, uint64(u.Retry))
	dst = appendString(dst, u.ID)
	dst = appendString(dst, u.Type)
	dst = binary.AppendUvarint(dst, uint64(len(u.Topics)))
	for _, t := range u.Topics {
		dst = appendString(dst, t)
	}
	return append(dst, u.Data...)
}

func appendString(dst []byte, s string) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(s)))
	return append(dst, s...)
}

// recordTime returns the append time stored in b without decoding the
// rest.
func recordTime(b []byte) (time.Time, error) {
	if len(b) < 9 || b[0] != recordVersion {
		return time.Time{}, errCorruptRecord
	}
	return time.Unix(0, int64(binary.BigEndian.Uint64(b[1:9]))), nil
}

// recordID returns the id stored in b, aliasing b.
func recordID(b []byte) ([]byte, error) {
	d := decoder[[]byte]{b: b}
	d.header()
	d.uvarint()
	id := d.field()
	return id, d.err
}

// decodeRecord decodes b into an update with Seq seq. The result shares
// no memory with b, which may be the database's read-only mapping: its
// strings are all substrings of one copy of b.
func decodeRecord(seq uint64, b []byte) (eventlog.Update, error) {
	d := decoder[string]{b: string(b)}
	u := eventlog.Update{Seq: seq}
	ns, flags := d.header()
	u.Time = time.Unix(0, ns)
	u.Private = flags&1 != 0
	u.Retry = time.Duration(d.uvarint())
	u.ID = d.field()
	u.Type = d.field()
	n := d.uvarint()
	if d.err == nil && n > uint64(len(d.b)) { // each topic takes at least a byte
		d.err = errCorruptRecord
	}
	if d.err == nil && n > 0 {
		u.Topics = make([]string, n)
		for i := range u.Topics {
			u.Topics[i] = d.field()
		}
	}
	if d.err != nil {
		return eventlog.Update{}, fmt.Errorf("update %d: %w", seq, d.err)
	}
	u.Data = d.b
	return u, nil
}

// decoder reads a record's fields from b, remembering the first error.
type decoder[T string | []byte] struct {
	b   T
	err error
}

func (d *decoder[T]) header() (ns int64, flags byte) {
	if len(d.b) < 10 || d.b[0] != recordVersion {
		d.err = errCorruptRecord
		d.b = d.b[:0]
		return 0, 0
	}
	for i := 1; i < 9; i++ {
		ns = ns<<8 | int64(d.b[i])
	}
	flags = d.b[9]
	d.b = d.b[10:]
	return ns, flags
}

// uvarint reads an unsigned varint as encoding/binary writes it.
func (d *decoder[T]) uvarint() uint64 {
	if d.err != nil {
		return 0
	}
	var x uint64
	for i := 0; i < len(d.b) && i < binary.MaxVarintLen64; i++ {
		c := d.b[i]
		if i == binary.MaxVarintLen64-1 && c > 1 {
			break // overflows 64 bits
		}
		if c < 0x80 {
			d.b = d.b[i+1:]
			return x | uint64(c)<<(7*i)
		}
		x |= uint64(c&0x7f) << (7 * i)
	}
	d.err = errCorruptRecord
	return 0
}

// field reads a length-prefixed field.
func (d *decoder[T]) field() T {
	n := d.uvarint()
	if d.err != nil || n > uint64(len(d.b)) {
		if d.err == nil {
			d.err = errCorruptRecord
		}
		return d.b[:0]
	}
	s := d.b[:n]
	d.b = d.b[n:]
	return s
}
