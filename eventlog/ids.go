package eventlog

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"time"

	"github.com/heraldhub/herald/sse"
)

// CheckID returns nil if id, a publisher-supplied event id, can be stored
// by every Log: it is not Earliest and contains no CR, LF or NUL (an error
// wrapping sse.ErrInvalidID). The empty id passes: Append then assigns one.
// Backends with further limits (a key size) check them after CheckID.
func CheckID(id string) error {
	switch {
	case id == Earliest:
		return fmt.Errorf("append: id %q is reserved", Earliest)
	case !sse.ValidID(id):
		return fmt.Errorf("append: id %q: %w", id, sse.ErrInvalidID)
	}
	return nil
}

// uuidLen is the length of a UUID URN, "urn:uuid:" and 36 characters.
const uuidLen = len("urn:uuid:xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx")

// NewID returns a random (version 4) UUID as a URN,
// "urn:uuid:xxxxxxxx-xxxx-4xxx-yxxx-xxxxxxxxxxxx" in lower case: 122
// random bits, unique across logs and processes in practice. It is safe
// for concurrent use.
func NewID() string {
	var b [16]byte
	rand.Read(b[:]) // never fails, per crypto/rand
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return formatURN(&b)
}

// NewTimeID returns a version 7 UUID as a URN: the Unix time of t in
// milliseconds (48 bits) followed by 74 random bits, in the form of NewID.
// Ids made at later milliseconds sort after earlier ones, bytewise, which
// keeps a B-tree index of them appending at its end. It is safe for
// concurrent use.
func NewTimeID(t time.Time) string {
	var b [16]byte
	rand.Read(b[6:]) // never fails, per crypto/rand
	ms := uint64(t.UnixMilli())
	b[0], b[1], b[2], b[3], b[4], b[5] = byte(ms>>40), byte(ms>>32), byte(ms>>24), byte(ms>>16), byte(ms>>8), byte(ms)
	b[6] = b[6]&0x0f | 0x70
	b[8] = b[8]&0x3f | 0x80
	return formatURN(&b)
}

// formatURN formats the 16 bytes of a UUID as "urn:uuid:" and its
// canonical, lower-case hexadecimal form.
func formatURN(b *[16]byte) string {
	var s [uuidLen]byte
	copy(s[:], "urn:uuid:")
	hex.Encode(s[9:17], b[0:4])
	s[17] = '-'
	hex.Encode(s[18:22], b[4:6])
	s[22] = '-'
	hex.Encode(s[23:27], b[6:8])
	s[27] = '-'
	hex.Encode(s[28:32], b[8:10])
	s[32] = '-'
	hex.Encode(s[33:45], b[10:16])
	return string(s[:])
}
