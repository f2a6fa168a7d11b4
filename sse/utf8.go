package sse

import "unicode/utf8"

// text converts b to a string the way the WHATWG Encoding standard's UTF-8
// decoder does (which is what browsers apply to an event stream): valid
// UTF-8 is copied as is, and each maximal subpart of an ill-formed sequence
// becomes one U+FFFD. A truncated sequence such as E2 82 is therefore one
// replacement character, not two, while each byte that cannot start or
// continue a sequence is one replacement character of its own.
func text(b []byte) string {
	if utf8.Valid(b) {
		return string(b)
	}
	out := make([]byte, 0, len(b)+8)
	for len(b) > 0 {
		r, n := utf8.DecodeRune(b)
		if r == utf8.RuneError && n <= 1 {
			n = maximalSubpart(b)
			out = utf8.AppendRune(out, utf8.RuneError)
		} else {
			out = append(out, b[:n]...)
		}
		b = b[n:]
	}
	return string(out)
}

// maximalSubpart returns the length of the longest prefix of b that starts
// a well-formed sequence without completing it (at least 1): the bytes one
// U+FFFD replaces. b must not start with a well-formed sequence.
func maximalSubpart(b []byte) int {
	c := b[0]
	lo, hi := byte(0x80), byte(0xBF)
	var need int
	switch {
	case c >= 0xC2 && c <= 0xDF:
		need = 1
	case c >= 0xE0 && c <= 0xEF:
		need = 2
		if c == 0xE0 {
			lo = 0xA0 // no overlong forms
		} else if c == 0xED {
			hi = 0x9F // no surrogates
		}
	case c >= 0xF0 && c <= 0xF4:
		need = 3
		if c == 0xF0 {
			lo = 0x90 // no overlong forms
		} else if c == 0xF4 {
			hi = 0x8F // nothing above U+10FFFF
		}
	default:
		return 1
	}
	n := 1
	for n <= need && n < len(b) && b[n] >= lo && b[n] <= hi {
		lo, hi = 0x80, 0xBF
		n++
	}
	return n
}
