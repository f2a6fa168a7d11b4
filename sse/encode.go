package sse

import (
	"errors"
	"strconv"
	"strings"
	"time"
)

// Errors returned by the encoder for values the format cannot carry.
var (
	// ErrInvalidID reports an id containing CR, LF or NUL.
	ErrInvalidID = errors.New("event id must not contain CR, LF or NUL")
	// ErrInvalidType reports an event type containing CR or LF.
	ErrInvalidType = errors.New("event type must not contain CR or LF")
	// ErrInvalidRetry reports a negative retry duration.
	ErrInvalidRetry = errors.New("retry must not be negative")
)

// ValidID reports whether id can be sent in an id field.
func ValidID(id string) bool { return !strings.ContainsAny(id, "\r\n\x00") }

// ValidType reports whether typ can be sent in an event field.
func ValidType(typ string) bool { return !strings.ContainsAny(typ, "\r\n") }

// AppendEvent appends the frame for ev to dst and returns the extended
// slice. It returns dst unchanged and an error if ev cannot be encoded.
// Data is split on CRLF, CR and LF into one data line each, so any string,
// including one that ends in a newline, decodes to itself. It allocates
// nothing when dst has room for the frame.
func AppendEvent(dst []byte, ev *Event) ([]byte, error) {
	if !ValidID(ev.ID) {
		return dst, ErrInvalidID
	}
	if !ValidType(ev.Type) {
		return dst, ErrInvalidType
	}
	if ev.Retry < 0 {
		return dst, ErrInvalidRetry
	}
	if ev.Comment != "" {
		dst = AppendComment(dst, ev.Comment)
	}
	if ev.ID != "" {
		dst = append(dst, "id: "...)
		dst = append(dst, ev.ID...)
		dst = append(dst, '\n')
	}
	if ev.Type != "" {
		dst = append(dst, "event: "...)
		dst = append(dst, ev.Type...)
		dst = append(dst, '\n')
	}
	if ev.Retry > 0 {
		dst = AppendRetry(dst, ev.Retry)
	}
	dst = appendLines(dst, "data:", ev.Data)
	return append(dst, '\n'), nil
}

// AppendRetry appends a retry field that tells the client how long to wait
// before reconnecting. The field carries whole milliseconds: d is truncated
// to them, so less than a millisecond is written as 0. It dispatches
// nothing.
func AppendRetry(dst []byte, d time.Duration) []byte {
	dst = append(dst, "retry: "...)
	dst = strconv.AppendInt(dst, d.Milliseconds(), 10)
	return append(dst, '\n')
}

// AppendComment appends text as comment lines (one per line of text).
// Clients ignore comments; servers send them as heartbeats to keep idle
// connections open through proxies. It dispatches nothing.
func AppendComment(dst []byte, text string) []byte {
	return appendLines(dst, ":", text)
}

// appendLines writes one "prefix value" line for each line of s, splitting
// on CRLF, CR and LF. A space separates prefix and value only when the
// value is not empty.
func appendLines(dst []byte, prefix, s string) []byte {
	for {
		i := strings.IndexAny(s, "\r\n")
		line := s
		if i >= 0 {
			line = s[:i]
		}
		dst = append(dst, prefix...)
		if line != "" {
			dst = append(dst, ' ')
			dst = append(dst, line...)
		}
		dst = append(dst, '\n')
		if i < 0 {
			return dst
		}
		if s[i] == '\r' && i+1 < len(s) && s[i+1] == '\n' {
			i++
		}
		s = s[i+1:]
	}
}
