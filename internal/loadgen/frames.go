package loadgen

import (
	"bytes"
	"errors"
	"fmt"
	"math"
)

// frameSink receives what a streamParser finds.
type frameSink interface {
	// headers is called once, with the response's status code and
	// reason ("200 OK"); a non-nil error stops the parse.
	headers(code int, status string) error
	// update is called for each event whose first data line begins with
	// a sequence number and a send time, as PublishUpdates writes them.
	update(seq, sentNanos int64)
}

// Parser phases.
const (
	phaseHeaders = iota
	phaseChunkSize
	phaseChunkExt
	phaseChunkData
	phaseChunkEnd
	phaseBody
	phaseDone
)

const (
	maxHeaderBytes = 64 << 10
	maxLineBytes   = 1 << 20
)

// errStreamEnded is returned when a chunked stream sent its last chunk.
var errStreamEnded = errors.New("stream ended")

// streamParser reads an HTTP/1.1 response carrying an event stream as it
// arrives, in pieces of any size, with or without chunked transfer coding.
// It parses in place and keeps only what a piece leaves unfinished: the
// header block until it is complete, then at most one partial line.
type streamParser struct {
	phase     uint8
	inEvent   bool // the event being read has had its first data line
	eventOK   bool // and that line held a sequence number and a time
	chunkLeft int64
	partial   []byte
	seq, sent int64
}

// feed parses b, the next bytes of the response, calling sink for the
// headers and each complete event. It returns an error if the response is
// malformed, refused by sink.headers, or ended (errStreamEnded).
func (p *streamParser) feed(b []byte, sink frameSink) error {
	for len(b) > 0 {
		switch p.phase {
		case phaseHeaders:
			rest, err := p.headerBytes(b, sink)
			if err != nil {
				return err
			}
			b = rest
		case phaseChunkSize, phaseChunkExt:
			c := b[0]
			b = b[1:]
			if err := p.chunkSizeByte(c); err != nil {
				return err
			}
		case phaseChunkData:
			n := min(p.chunkLeft, int64(len(b)))
			if err := p.lines(b[:n], sink); err != nil {
				return err
			}
			b = b[n:]
			if p.chunkLeft -= n; p.chunkLeft == 0 {
				p.phase = phaseChunkEnd
			}
		case phaseChunkEnd:
			switch b[0] {
			case '\r':
			case '\n':
				p.phase = phaseChunkSize
			default:
				return fmt.Errorf("chunk not followed by CRLF (%q)", b[0])
			}
			b = b[1:]
		case phaseBody:
			return p.lines(b, sink)
		default:
			return errStreamEnded
		}
	}
	return nil
}

// headerBytes collects the header block; once it is complete it reads the
// status and the transfer coding and returns what follows it.
func (p *streamParser) headerBytes(b []byte, sink frameSink) ([]byte, error) {
	from := max(0, len(p.partial)-3)
	p.partial = append(p.partial, b...)
	end, sep := bytes.Index(p.partial[from:], []byte("\r\n\r\n")), 4
	if lf := bytes.Index(p.partial[from:], []byte("\n\n")); lf >= 0 && (end < 0 || lf < end) {
		end, sep = lf, 2
	}
	if end < 0 {
		if len(p.partial) > maxHeaderBytes {
			return nil, errors.New("response header block too large")
		}
		return nil, nil
	}
	block, rest := p.partial[:from+end], p.partial[from+end+sep:]
	p.partial = nil
	statusLine, fields, _ := bytes.Cut(block, []byte("\n"))
	_, status, _ := bytes.Cut(bytes.TrimRight(statusLine, "\r"), []byte(" "))
	code := 0
	if len(status) >= 3 {
		for _, c := range status[:3] {
			if c < '0' || c > '9' {
				return nil, fmt.Errorf("malformed status line %q", statusLine)
			}
			code = code*10 + int(c-'0')
		}
	} else {
		return nil, fmt.Errorf("malformed status line %q", statusLine)
	}
	p.phase = phaseBody
	for line := range bytes.SplitSeq(fields, []byte("\n")) {
		name, value, _ := bytes.Cut(line, []byte(":"))
		if bytes.EqualFold(bytes.TrimSpace(name), []byte("Transfer-Encoding")) &&
			bytes.Contains(bytes.ToLower(value), []byte("chunked")) {
			p.phase = phaseChunkSize
		}
	}
	if err := sink.headers(code, string(status)); err != nil {
		return nil, err
	}
	return rest, nil
}

// chunkSizeByte reads one byte of a chunk-size line.
func (p *streamParser) chunkSizeByte(c byte) error {
	if c == '\n' {
		if p.chunkLeft == 0 {
			p.phase = phaseDone
			return errStreamEnded
		}
		p.phase = phaseChunkData
		return nil
	}
	if p.phase == phaseChunkExt || c == '\r' {
		return nil
	}
	var v byte
	switch {
	case c >= '0' && c <= '9':
		v = c - '0'
	case c >= 'a' && c <= 'f':
		v = c - 'a' + 10
	case c >= 'A' && c <= 'F':
		v = c - 'A' + 10
	case c == ';' || c == ' ' || c == '\t':
		p.phase = phaseChunkExt
		return nil
	default:
		return fmt.Errorf("invalid byte %q in a chunk size", c)
	}
	if p.chunkLeft > 1<<40 {
		return errors.New("chunk size too large")
	}
	p.chunkLeft = p.chunkLeft*16 + int64(v)
	return nil
}

// lines parses event-stream text, keeping an unfinished last line.
func (p *streamParser) lines(b []byte, sink frameSink) error {
	for len(b) > 0 {
		i := bytes.IndexByte(b, '\n')
		if i < 0 {
			if len(p.partial)+len(b) > maxLineBytes {
				return errors.New("event-stream line too long")
			}
			p.partial = append(p.partial, b...)
			return nil
		}
		line := b[:i]
		if len(p.partial) > 0 {
			line = append(p.partial, line...)
			p.partial = nil
		}
		p.line(line, sink)
		b = b[i+1:]
	}
	return nil
}

// line handles one complete event-stream line.
func (p *streamParser) line(l []byte, sink frameSink) {
	l = bytes.TrimSuffix(l, []byte("\r"))
	if len(l) == 0 {
		if p.eventOK {
			sink.update(p.seq, p.sent)
		}
		p.inEvent, p.eventOK = false, false
		return
	}
	value, ok := bytes.CutPrefix(l, []byte("data"))
	if !ok || p.inEvent {
		return
	}
	switch {
	case len(value) == 0:
	case value[0] == ':':
		value = bytes.TrimPrefix(value[1:], []byte(" "))
	default:
		return // another field whose name starts with "data"
	}
	p.inEvent = true
	p.seq, p.sent, p.eventOK = parseDataBytes(value)
}

// parseDataBytes is parseData on bytes, without allocating.
func parseDataBytes(data []byte) (seq, sentNanos int64, ok bool) {
	seqText, rest, _ := bytes.Cut(data, []byte(" "))
	tsText, _, _ := bytes.Cut(rest, []byte(" "))
	seq, ok1 := parseDecimal(seqText)
	sentNanos, ok2 := parseDecimal(tsText)
	return seq, sentNanos, ok1 && ok2
}

// parseDecimal parses a non-negative decimal int64.
func parseDecimal(b []byte) (int64, bool) {
	if len(b) == 0 || len(b) > 19 {
		return 0, false
	}
	var n uint64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + uint64(c-'0')
	}
	return int64(n), n <= math.MaxInt64
}
