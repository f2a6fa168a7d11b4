package sse

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"strconv"
	"time"
	"unicode/utf8"
)

// DefaultMaxEventBytes bounds one event's data (and one line) unless
// Decoder.MaxEventBytes says otherwise.
const DefaultMaxEventBytes = 16 << 20

// ErrEventTooLarge reports an event or line larger than the decoder's
// limit. The standard sets no limit; a decoder without one could be made to
// hold an endless stream in memory.
var ErrEventTooLarge = errors.New("sse: event exceeds the decoder's size limit")

// Decoder reads events from a text/event-stream, following the WHATWG
// "interpreting an event stream" algorithm: a leading UTF-8 byte order mark
// is skipped; CRLF, LF and CR all end lines (a CR at the end of one read
// and an LF at the start of the next make one line ending); comments and
// unknown fields are ignored; "id" values containing NUL are ignored;
// "retry" is used only when it is all ASCII digits; a blank line dispatches
// the event if any data field was seen; an event not ended by a blank line
// when the stream ends is discarded. Invalid UTF-8 is replaced by U+FFFD,
// never reported as an error.
type Decoder struct {
	// MaxEventBytes bounds the data of one event and the length of one
	// line. Zero means DefaultMaxEventBytes.
	MaxEventBytes int

	r        *bufio.Reader
	line     []byte
	data     []byte
	typ      []byte
	lastType string // the last non-default type, reused while it repeats
	sawData  bool
	idBuf    string // the last event ID buffer
	lastID   string // the last event ID string, set on dispatch
	retry    time.Duration
	pending  time.Duration // retry set since the previous dispatch
	afterCR  bool
	started  bool
}

// NewDecoder returns a decoder reading from r. It buffers r itself.
func NewDecoder(r io.Reader) *Decoder {
	return NewDecoderSize(r, 4096)
}

// NewDecoderSize returns a decoder reading from r through a buffer of size
// bytes: a smaller buffer saves memory when many streams are read at once.
func NewDecoderSize(r io.Reader, size int) *Decoder {
	return &Decoder{r: bufio.NewReaderSize(r, size)}
}

// LastEventID returns the stream's last event id as of the last dispatch
// (or blank line), as EventSource's lastEventId would show it: what a
// client sends as Last-Event-ID when it reconnects.
func (d *Decoder) LastEventID() string { return d.lastID }

// Retry returns the reconnection time the stream last set, or 0 if it
// never did.
func (d *Decoder) Retry() time.Duration { return d.retry }

// Next returns the next dispatched event. Its ID is the last event id at
// dispatch, its Type "message" unless the stream named another, and its
// Retry the reconnection time set since the previous event (0 if none).
// At the end of the stream Next returns io.EOF (a final event without its
// blank line is discarded); other errors are the reader's.
func (d *Decoder) Next() (Event, error) {
	if !d.started {
		if err := d.skipBOM(); err != nil {
			return Event{}, err
		}
		d.started = true
	}
	for {
		line, err := d.readLine()
		if err != nil {
			return Event{}, err
		}
		if len(line) == 0 {
			if ev, ok := d.dispatch(); ok {
				return ev, nil
			}
			continue
		}
		if err := d.field(line); err != nil {
			return Event{}, err
		}
	}
}

// skipBOM skips one UTF-8 byte order mark at the very start.
func (d *Decoder) skipBOM() error {
	bom := []byte{0xEF, 0xBB, 0xBF}
	for n := 1; n <= len(bom); n++ {
		b, err := d.r.Peek(n)
		if len(b) < n || !bytes.Equal(b, bom[:n]) {
			if len(b) == 0 && err != nil {
				return err
			}
			return nil
		}
	}
	_, err := d.r.Discard(len(bom))
	return err
}

// readLine returns the next line without its ending. The slice is valid
// until the next read.
func (d *Decoder) readLine() ([]byte, error) {
	d.line = d.line[:0]
	limit := d.limit()
	for {
		if _, err := d.r.Peek(1); err != nil {
			// A line not ended before the stream ends is incomplete:
			// discard it, and the event it belongs to.
			return nil, err
		}
		buf, _ := d.r.Peek(d.r.Buffered())
		if d.afterCR {
			d.afterCR = false
			if buf[0] == '\n' {
				d.r.Discard(1)
				continue
			}
		}
		i := bytes.IndexAny(buf, "\r\n")
		if i < 0 {
			if len(d.line)+len(buf) > limit {
				return nil, ErrEventTooLarge
			}
			d.line = append(d.line, buf...)
			d.r.Discard(len(buf))
			continue
		}
		d.afterCR = buf[i] == '\r'
		var line []byte
		if len(d.line) == 0 {
			line = buf[:i] // no copy: valid until the next read
		} else {
			d.line = append(d.line, buf[:i]...)
			line = d.line
		}
		if len(line) > limit {
			return nil, ErrEventTooLarge
		}
		d.r.Discard(i + 1)
		return line, nil
	}
}

func (d *Decoder) limit() int {
	if d.MaxEventBytes > 0 {
		return d.MaxEventBytes
	}
	return DefaultMaxEventBytes
}

// field processes one non-empty line.
func (d *Decoder) field(line []byte) error {
	if line[0] == ':' {
		return nil // a comment
	}
	name, value := line, []byte(nil)
	if i := bytes.IndexByte(line, ':'); i >= 0 {
		name, value = line[:i], line[i+1:]
		if len(value) > 0 && value[0] == ' ' {
			value = value[1:]
		}
	}
	switch string(name) {
	case "event":
		d.typ = append(d.typ[:0], value...)
	case "data":
		if len(d.data)+len(value)+1 > d.limit() {
			return ErrEventTooLarge
		}
		d.data = append(d.data, value...)
		d.data = append(d.data, '\n')
		d.sawData = true
	case "id":
		if bytes.IndexByte(value, 0) < 0 {
			d.idBuf = text(value)
		}
	case "retry":
		if ms, ok := digits(value); ok {
			d.retry = time.Duration(ms) * time.Millisecond
			d.pending = d.retry
		}
	}
	return nil
}

// digits parses a non-empty run of ASCII digits, saturating on overflow.
func digits(b []byte) (int64, bool) {
	if len(b) == 0 {
		return 0, false
	}
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
	}
	n, err := strconv.ParseInt(string(b), 10, 64)
	if err != nil || n > int64(time.Duration(1<<63-1)/time.Millisecond) {
		n = int64(time.Duration(1<<63-1) / time.Millisecond)
	}
	return n, true
}

// dispatch ends the current event at a blank line.
func (d *Decoder) dispatch() (Event, bool) {
	d.lastID = d.idBuf
	if !d.sawData {
		d.typ = d.typ[:0]
		return Event{}, false
	}
	ev := Event{
		ID:    d.lastID,
		Type:  "message",
		Data:  text(d.data[:len(d.data)-1]),
		Retry: d.pending,
	}
	if len(d.typ) > 0 {
		if string(d.typ) != d.lastType { // no allocation to compare
			d.lastType = text(d.typ)
		}
		ev.Type = d.lastType
	}
	d.data, d.typ, d.sawData, d.pending = d.data[:0], d.typ[:0], false, 0
	if cap(d.data) > 64<<10 {
		d.data = nil
	}
	return ev, true
}

// text converts b to a string, replacing invalid UTF-8 with U+FFFD.
func text(b []byte) string {
	if utf8.Valid(b) {
		return string(b)
	}
	out := make([]rune, 0, len(b))
	for len(b) > 0 {
		r, n := utf8.DecodeRune(b)
		out = append(out, r) // RuneError (U+FFFD) for an invalid byte
		b = b[n:]
	}
	return string(out)
}
