package jobs

// A job's log: numbered lines, each published as an event of its own on
// the job's log topic, with the line's number in the event id, so that a
// reader resumes after the last line it has. Every node keeps the last
// Config.LogLines lines of each job it knows, from what it publishes and
// what it observes, so any node of a cluster serves them.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/heraldhub/herald/eventlog"
)

// EventLog is the type of the events that carry a job's log lines, on
// the job's log topic (LogTopic). Each event's id is "{job}/log/{n}" and
// its data a Line as JSON.
const EventLog = "log"

// Bounds on log lines.
const (
	// MaxLineBytes is the longest line kept; a longer one is cut and ends
	// with TruncatedMark.
	MaxLineBytes = 4096
	// MaxLinesPerRequest bounds the lines of one POST /api/jobs/{id}/log.
	MaxLinesPerRequest = 1000
	// TruncatedMark ends a line cut to MaxLineBytes.
	TruncatedMark = " … [truncated]"
)

// maxClaims bounds the numbers one line tries when other nodes take them.
const maxClaims = 100

// Line is one line of a job's log. N numbers the job's lines from 1.
type Line struct {
	N    uint64 `json:"n"`
	Text string `json:"line"`
}

// LogTopic returns the topic of job id's log lines.
func LogTopic(id string) string { return TopicPrefix + id + "/log" }

// LineID returns the event id of line n of job id: "{id}/log/{n}".
func LineID(id string, n uint64) string { return id + "/log/" + strconv.FormatUint(n, 10) }

// lineNumber returns the number in eventID, a LineID of job id, and false
// if it is not one.
func lineNumber(id, eventID string) (uint64, bool) {
	rest, ok := strings.CutPrefix(eventID, id+"/log/")
	if !ok {
		return 0, false
	}
	n, err := strconv.ParseUint(rest, 10, 64)
	return n, err == nil && n > 0
}

// lines is a job's retained log: its last lines in order of number, and
// the highest number this node has taken or seen. added is closed (and
// replaced) when a line is added.
type lines struct {
	kept  []Line
	last  uint64
	added chan struct{}
}

// changed returns a channel closed at the next added line.
func (l *lines) changed() <-chan struct{} {
	if l.added == nil {
		l.added = make(chan struct{})
	}
	return l.added
}

// add keeps line, unless it is already kept or older than every kept line
// of a full log, dropping the oldest past keep.
func (l *lines) add(line Line, keep int) {
	l.last = max(l.last, line.N)
	i := len(l.kept)
	for i > 0 && l.kept[i-1].N >= line.N {
		if l.kept[i-1].N == line.N {
			return
		}
		i--
	}
	if i == 0 && len(l.kept) >= keep {
		return
	}
	l.kept = append(l.kept, Line{})
	copy(l.kept[i+1:], l.kept[i:])
	l.kept[i] = line
	if over := len(l.kept) - keep; over > 0 {
		l.kept = l.kept[over:] // the next growth copies only what is kept
	}
	l.wake()
}

// wake tells the log's readers that something changed: a line was added,
// or the job finished or was forgotten.
func (l *lines) wake() {
	if l.added != nil {
		close(l.added)
		l.added = nil
	}
}

// after returns up to limit kept lines numbered above n, and how many
// lines between n and the first of them are no longer kept.
func (l *lines) after(n uint64, limit int) (out []Line, dropped uint64) {
	i := 0
	for i < len(l.kept) && l.kept[i].N <= n {
		i++
	}
	if i < len(l.kept) {
		dropped = l.kept[i].N - n - 1
	}
	end := min(len(l.kept), i+limit)
	return append([]Line(nil), l.kept[i:end]...), dropped
}

// tailStart returns the number after which the last tail kept lines begin.
func (l *lines) tailStart(tail int) uint64 {
	switch {
	case tail <= 0:
		return l.last
	case tail >= len(l.kept):
		return 0
	}
	return l.kept[len(l.kept)-tail].N - 1
}

// splitLines cuts texts into lines, one per line of each text (a final
// newline ends a line, it does not start one), as valid UTF-8 of at most
// MaxLineBytes each.
func splitLines(texts []string) []string {
	var out []string
	for _, t := range texts {
		t = strings.TrimSuffix(t, "\n")
		for _, line := range strings.Split(t, "\n") {
			out = append(out, cleanLine(line))
		}
	}
	return out
}

// cleanLine returns line without a final CR, as valid UTF-8, cut to
// MaxLineBytes with TruncatedMark.
func cleanLine(line string) string {
	line = strings.ToValidUTF8(strings.TrimSuffix(line, "\r"), "\uFFFD")
	if len(line) <= MaxLineBytes {
		return line
	}
	cut := MaxLineBytes - len(TruncatedMark)
	for cut > 0 && !utf8.RuneStart(line[cut]) {
		cut--
	}
	return line[:cut] + TruncatedMark
}

// Log appends lines to job id's log, each line of each text a numbered
// line of its own (see MaxLineBytes), publishing each as it goes. It
// returns the numbers of the first and last lines published; on error,
// the lines before the failing one are published. A finished job takes
// no more lines (ErrFinished). Lines of one job are numbered and published
// in order, one call after another, on each node.
func (m *Manager) Log(ctx context.Context, id string, texts ...string) (first, last uint64, err error) {
	m.mu.Lock()
	e, err := m.unfinished(id)
	m.mu.Unlock()
	if err != nil {
		return 0, 0, err
	}
	e.writing.Lock() // numbers are taken and published in order
	defer e.writing.Unlock()
	for _, text := range splitLines(texts) {
		n, err := m.publishLine(ctx, e, id, text)
		if err != nil {
			return first, last, err
		}
		if first == 0 {
			first = n
		}
		last = n
	}
	return first, last, nil
}

// publishLine numbers text with the job's next line number and publishes
// it; a number another node took meanwhile (the log refuses its id) is
// skipped for the next.
func (m *Manager) publishLine(ctx context.Context, e *entry, id, text string) (uint64, error) {
	for range maxClaims {
		m.mu.Lock()
		if e.snap.State.Final() {
			m.mu.Unlock()
			return 0, fmt.Errorf("%w: %q is %s", ErrFinished, id, e.snap.State)
		}
		e.log.last++
		line := Line{N: e.log.last, Text: text}
		private := e.snap.Private
		m.mu.Unlock()
		data, _ := json.Marshal(line)
		u := eventlog.Update{ID: LineID(id, line.N), Topics: []string{LogTopic(id)}, Type: EventLog, Data: string(data), Private: private}
		_, err := m.cfg.Publisher.Publish(ctx, u)
		if errors.Is(err, eventlog.ErrDuplicateID) {
			continue
		}
		if err != nil {
			return 0, fmt.Errorf("publish a log line of job %q: %w", id, err)
		}
		m.mu.Lock()
		e.log.add(line, m.cfg.LogLines)
		m.mu.Unlock()
		return line.N, nil
	}
	return 0, fmt.Errorf("publish a log line of job %q: %w: %d line numbers taken by others in a row", id, eventlog.ErrUnavailable, maxClaims)
}

// observeLine keeps a log line published by any node.
func (m *Manager) observeLine(u eventlog.Update) {
	if len(u.Topics) == 0 {
		return
	}
	id, ok := strings.CutPrefix(u.Topics[0], TopicPrefix)
	if id, ok = strings.CutSuffix(id, "/log"); !ok || !validID(id) {
		return
	}
	var line Line
	if err := json.Unmarshal([]byte(u.Data), &line); err != nil || line.N == 0 || len(line.Text) > MaxLineBytes {
		return
	}
	m.mu.Lock()
	if e, ok := m.jobs[id]; ok {
		e.log.add(line, m.cfg.LogLines)
	}
	m.mu.Unlock()
}

// LogPage is a page of a job's retained log.
type LogPage struct {
	// Lines are the page's lines, in order.
	Lines []Line
	// Dropped counts the lines asked for before Lines that are no longer
	// retained.
	Dropped uint64
	// Next is the number to ask for next.
	Next uint64
	// Final says the job has finished: no line will follow Next.
	Final bool
}

// Lines returns up to limit retained lines of job id numbered from on,
// with how many asked for are no longer retained.
func (m *Manager) Lines(id string, from uint64, limit int) (LogPage, error) {
	page, _, err := m.linesAfter(id, max(from, 1)-1, limit)
	return page, err
}

// linesAfter returns a page of the lines numbered above n, and a channel
// closed when the job has a new line.
func (m *Manager) linesAfter(id string, n uint64, limit int) (LogPage, <-chan struct{}, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	e, err := m.lookup(id)
	if err != nil {
		return LogPage{}, nil, err
	}
	var p LogPage
	p.Lines, p.Dropped = e.log.after(n, limit)
	p.Next = n + p.Dropped + 1
	if k := len(p.Lines); k > 0 {
		p.Next = p.Lines[k-1].N + 1
	}
	p.Final = e.snap.State.Final() && p.Next > e.log.last
	return p, e.log.changed(), nil
}

// tailStart returns the number after which job id's last tail lines begin.
func (m *Manager) tailStart(id string, tail int) (uint64, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	e, err := m.lookup(id)
	if err != nil {
		return 0, err
	}
	return e.log.tailStart(tail), nil
}
