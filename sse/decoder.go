package sse

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"strconv"
	"time"
)

// DefaultMaxEventBytes bounds one event's data (and one line) unless
// Decoder.MaxEventBytes says otherwise.
const DefaultMaxEventBytes = 16 << 20

// ErrEventTooLarge reports an event or line larger than the decoder's
// limit. The standard sets no limit; a decoder without one could be made to
// hold an endless stream in memory.
var ErrEventTooLarge = errors.New("event exceeds the decoder's size limit")

// maxRetry is the largest reconnection time a retry field can set: larger
// values saturate instead of overflowing time.Duration.
const maxRetry = time.Duration(1<<63-1) / time.Millisecond * time.Millisecond

// Decoder reads events from a text/event-stream, following the WHATWG
// "interpreting an event stream" algorithm:
//
//   - one UTF-8 byte order mark at the very start of the stream is skipped;
//   - CRLF, LF and CR all end a line, also when a CR ends one read and the
//     LF starts the next;
//   - a line starting with a colon is a comment, and is ignored;
//   - a line without a colon is a field name with an empty value, and one
//     space (no more) after the colon is removed from the value;
//   - the fields are data, event, id and retry; any other is ignored;
//   - an id value containing NUL is ignored; an empty one resets the last
//     event id; the last event id persists across events until changed;
//   - a retry value is used only when it is all ASCII digits;
//   - a blank line dispatches an event if a data field (even an empty one)
//     was seen since the last dispatch, with the last newline of the data
//     removed and the type "message" unless an event field named another;
//     without data it dispatches nothing, but still updates the last event
//     id;
//   - an event not ended by a blank line when the stream ends is discarded;
//   - invalid UTF-8 becomes U+FFFD (one per maximal ill-formed subpart, as
//     the Encoding standard's decoder does), never an error.
//
// A Decoder reuses its buffers: decoding allocates only the strings of the
// events it returns. It is not safe for concurrent use.
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
	retrySet bool
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
// Lines longer than the buffer are still read whole.
func NewDecoderSize(r io.Reader, size int) *Decoder {
	return &Decoder{r: bufio.NewReaderSize(r, size)}
}

// Reset makes d read a new stream from r, as EventSource does when it
// reconnects: what was buffered from the previous stream, including a
// partly read event, is dropped, and a byte order mark is skipped again at
// the start of r, but the last event id and the reconnection time are kept
// (the last event id buffer starts at the last event id, so events of the
// new stream carry it until the stream sends another). MaxEventBytes and
// the buffers are kept as well.
func (d *Decoder) Reset(r io.Reader) {
	d.r.Reset(r)
	d.data, d.typ, d.sawData, d.pending = d.data[:0], d.typ[:0], false, 0
	d.idBuf = d.lastID
	d.afterCR, d.started = false, false
}

// SetLastEventID sets the last event id, as if a previous stream had ended
// with it: the events that follow carry it until the stream sends an id
// field. A client resuming from an id it stored calls it before reading.
func (d *Decoder) SetLastEventID(id string) { d.idBuf, d.lastID = id, id }

// LastEventID returns the stream's last event id as of the last dispatch
// (or blank line), as EventSource's lastEventId would show it: what a
// client sends as Last-Event-ID when it reconnects.
func (d *Decoder) LastEventID() string { return d.lastID }

// Retry returns the reconnection time the stream last set, or 0 if it
// never did (HasRetry tells that apart from a stream that set 0).
func (d *Decoder) Retry() time.Duration { return d.retry }

// HasRetry reports whether the stream (or one before a Reset) set the
// reconnection time with a valid retry field.
func (d *Decoder) HasRetry() bool { return d.retrySet }

// Next returns the next dispatched event. Its ID is the last event id at
// dispatch, its Type "message" unless the stream named another, and its
// Retry the reconnection time set since the previous event (0 if none; see
// HasRetry for a stream that sets 0). At the end of the stream Next returns
// io.EOF (a final event without its blank line is discarded). Other errors
// are the reader's, or ErrEventTooLarge; after an error the decoder must
// be Reset before it is used again.
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

var bom = []byte{0xEF, 0xBB, 0xBF}

// skipBOM skips one UTF-8 byte order mark at the very start.
func (d *Decoder) skipBOM() error {
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
		i := lineEnd(buf)
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

// lineEnd returns the index of the first CR or LF in b, or -1. Two
// vectorised byte searches beat bytes.IndexAny, which looks at each byte in
// turn.
func lineEnd(b []byte) int {
	lf := bytes.IndexByte(b, '\n')
	head := b
	if lf >= 0 {
		head = b[:lf]
	}
	if cr := bytes.IndexByte(head, '\r'); cr >= 0 {
		return cr
	}
	return lf
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
		// The comparison allocates nothing; a repeated id is not copied.
		if bytes.IndexByte(value, 0) < 0 && string(value) != d.idBuf {
			d.idBuf = text(value)
		}
	case "retry":
		if r, ok := retryValue(value); ok {
			d.retry, d.retrySet, d.pending = r, true, r
		}
	}
	return nil
}

// retryValue parses a retry field: a non-empty run of ASCII digits, in
// milliseconds, saturating at maxRetry.
func retryValue(b []byte) (time.Duration, bool) {
	if len(b) == 0 {
		return 0, false
	}
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
	}
	ms, err := strconv.ParseInt(string(b), 10, 64)
	if err != nil || ms > int64(maxRetry/time.Millisecond) {
		return maxRetry, true
	}
	return time.Duration(ms) * time.Millisecond, true
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
		d.data = nil // do not keep one huge event's buffer for the stream's life
	}
	return ev, true
}
