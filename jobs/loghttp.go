package jobs

// The log endpoints of the jobs API: post lines, page through them as
// text, and follow them as a stream of server-sent events.

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strconv"
	"time"

	"github.com/heraldhub/herald/internal/httperr"
	"github.com/heraldhub/herald/sse"
)

// Defaults of the log endpoints.
const (
	defaultTail  = 100
	streamBatch  = 256
	logHeartbeat = 15 * time.Second
)

// droppedLines says that n lines are no longer retained.
func droppedLines(n uint64) string {
	if n == 1 {
		return "… 1 earlier line dropped"
	}
	return fmt.Sprintf("… %d earlier lines dropped", n)
}

// logRoutes adds the log endpoints to mux (see Handler).
func (m *Manager) logRoutes(mux *http.ServeMux, authz Authorizer) {
	mux.HandleFunc("POST /api/jobs/{id}/log", func(w http.ResponseWriter, r *http.Request) {
		id := r.PathValue("id")
		if err := authz.AuthorizePublish(r, TopicPrefix+id); err != nil {
			refuse(w, r, err)
			return
		}
		texts, err := readLines(r)
		if err != nil {
			writeError(w, err)
			return
		}
		first, last, err := m.Log(r.Context(), id, texts...)
		respond(w, http.StatusOK, map[string]uint64{"first": first, "last": last}, err)
	})
	mux.HandleFunc("GET /api/jobs/{id}/log", func(w http.ResponseWriter, r *http.Request) {
		id, after, err := m.readable(authz, r)
		if err != nil {
			writeError(w, err)
			return
		}
		page, err := m.Lines(id, after+1, m.cfg.LogLines)
		if err != nil {
			writeError(w, err)
			return
		}
		first := page.Next
		if len(page.Lines) > 0 {
			first = page.Lines[0].N
		}
		h := w.Header()
		h.Set("Content-Type", "text/plain; charset=utf-8")
		h.Set("Herald-Log-First", strconv.FormatUint(first, 10))
		h.Set("Herald-Log-Next", strconv.FormatUint(page.Next, 10))
		bw := bufio.NewWriter(w)
		if page.Dropped > 0 {
			bw.WriteString(droppedLines(page.Dropped) + "\n")
		}
		for _, l := range page.Lines {
			bw.WriteString(l.Text)
			bw.WriteByte('\n')
		}
		bw.Flush()
	})
	mux.HandleFunc("GET /api/jobs/{id}/log/stream", func(w http.ResponseWriter, r *http.Request) {
		id, after, err := m.readable(authz, r)
		if err != nil {
			writeError(w, err)
			return
		}
		m.streamLog(w, r, id, after)
	})
}

// readable checks that r may read the job's log and returns the job's id
// and the number after which r wants lines: from ?from=N, or a stream's
// Last-Event-ID (header, or lastEventID in the query) naming one of the
// job's lines, or else the last ?tail=N lines (default 100).
func (m *Manager) readable(authz Authorizer, r *http.Request) (string, uint64, error) {
	s, err := m.Get(r.PathValue("id"))
	if err != nil {
		return "", 0, err
	}
	if err := authz.AuthorizeSubscribe(r, s.Topic, s.Private); err != nil {
		return "", 0, err
	}
	q := r.URL.Query()
	if from := q.Get("from"); from != "" {
		n, err := strconv.ParseUint(from, 10, 64)
		if err != nil {
			return "", 0, fmt.Errorf("%w: from must be a line number (1 or more), got %q", ErrInvalid, from)
		}
		return s.ID, max(n, 1) - 1, nil
	}
	last := r.Header.Get("Last-Event-ID")
	if last == "" {
		last = q.Get("lastEventID")
	}
	if n, ok := lineNumber(s.ID, last); ok {
		return s.ID, n, nil
	}
	tail := defaultTail
	if t := q.Get("tail"); t != "" {
		tail, err = strconv.Atoi(t)
		if err != nil || tail < 0 {
			return "", 0, fmt.Errorf("%w: tail must be a number of lines (0 or more), got %q", ErrInvalid, t)
		}
	}
	after, err := m.tailStart(s.ID, tail)
	return s.ID, after, err
}

// streamLog sends the job's lines numbered above after as events (id
// LineID, type EventLog, the line as data), then each new line as it
// comes, until the job has finished and its last line is sent (an "end"
// event, with the job's state as data, says so), the client leaves or the
// manager closes. Lines no longer retained are announced by a "dropped"
// event saying how many.
func (m *Manager) streamLog(w http.ResponseWriter, r *http.Request, id string, after uint64) {
	rc := http.NewResponseController(w)
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	rc.Flush() // the client knows the stream is open before the first line
	heartbeat := time.NewTicker(logHeartbeat)
	defer heartbeat.Stop()
	var buf []byte
	write := func() bool {
		rc.SetWriteDeadline(time.Now().Add(10 * time.Second))
		_, err := w.Write(buf)
		buf = buf[:0]
		return err == nil && rc.Flush() == nil
	}
	for {
		page, wake, err := m.linesAfter(id, after, streamBatch)
		if err != nil {
			return // forgotten
		}
		if page.Dropped > 0 {
			buf, _ = sse.AppendEvent(buf, &sse.Event{Type: "dropped", Data: droppedLines(page.Dropped)})
		}
		for _, l := range page.Lines {
			buf, _ = sse.AppendEvent(buf, &sse.Event{ID: LineID(id, l.N), Type: EventLog, Data: l.Text})
		}
		after = page.Next - 1
		if page.Final {
			s, _ := m.Get(id)
			buf, _ = sse.AppendEvent(buf, &sse.Event{Type: "end", Data: string(s.State)})
			write()
			return
		}
		if len(buf) > 0 && !write() {
			return
		}
		if len(page.Lines) == streamBatch {
			continue
		}
		select {
		case <-wake:
		case <-heartbeat.C:
			buf = sse.AppendComment(buf, "")
			if !write() {
				return
			}
		case <-r.Context().Done():
			return
		case <-m.stop:
			buf = sse.AppendRetry(buf, time.Second)
			write()
			return
		}
	}
}

// readLines reads a log request's lines: a text/plain body, one line per
// line, or a JSON body {"lines": [...]}. More than MaxLinesPerRequest is
// refused with 413.
func readLines(r *http.Request) ([]string, error) {
	body := http.MaxBytesReader(nil, r.Body, maxBody)
	media, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	var texts []string
	switch media {
	case "text/plain", "":
		b, err := io.ReadAll(body)
		if err != nil {
			return nil, tooLarge(err)
		}
		if len(b) > 0 {
			texts = splitLines([]string{string(b)})
		}
	case "application/json":
		var v struct {
			Lines []string `json:"lines"`
		}
		dec := json.NewDecoder(body)
		dec.DisallowUnknownFields()
		if err := dec.Decode(&v); err != nil {
			var mb *http.MaxBytesError
			if errors.As(err, &mb) {
				return nil, tooLarge(err)
			}
			return nil, fmt.Errorf("%w: malformed JSON body: send {\"lines\": [\"…\"]}: %v", ErrInvalid, err)
		}
		texts = splitLines(v.Lines)
	default:
		return nil, httperr.Errorf(http.StatusUnsupportedMediaType, "unsupported Content-Type %q: send text/plain (a line per line) or JSON {\"lines\": [...]}", media)
	}
	if len(texts) > MaxLinesPerRequest {
		return nil, httperr.Errorf(http.StatusRequestEntityTooLarge, "%d lines in one request; at most %d: send them in batches", len(texts), MaxLinesPerRequest)
	}
	if len(texts) == 0 {
		return nil, fmt.Errorf("%w: no lines: send at least one", ErrInvalid)
	}
	return texts, nil
}

// tooLarge returns a 413 for a body over maxBody, and err otherwise.
func tooLarge(err error) error {
	var mb *http.MaxBytesError
	if errors.As(err, &mb) {
		return httperr.Errorf(http.StatusRequestEntityTooLarge, "body too large: the limit is %d bytes; send the lines in batches", maxBody)
	}
	return err
}
