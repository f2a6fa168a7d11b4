package jobs

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"
)

// FuzzLogAPI posts arbitrary bodies to a job's log and reads it back with
// arbitrary positions: every answer is a known status, refusals are one
// line, and the retained lines are numbered in order, each within
// MaxLineBytes and valid text.
func FuzzLogAPI(f *testing.F) {
	f.Add(false, "one\ntwo\r\nthree", "1", "", "")
	f.Add(true, `{"lines":["a","b\nc"]}`, "", "5", "a/log/2")
	f.Add(true, `{"lines":"x"}`, "x", "-1", "a/log/")
	f.Add(false, "\xff\xfe\n\n", "0", "99999999999999999999", "a/log/0")
	f.Add(false, strings.Repeat("é", MaxLineBytes), "18446744073709551615", "", "b/log/1")
	m, err := NewManager(Config{Publisher: discard{}, MinInterval: time.Nanosecond, LogLines: 50})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { m.Close() })
	h := m.Handler(tokens{})
	f.Fuzz(func(t *testing.T, asJSON bool, body, from, tail, lastID string) {
		m.mu.Lock()
		clear(m.jobs)
		m.mu.Unlock()
		m.Create(t.Context(), Spec{ID: "a"})
		req := httptest.NewRequest("POST", "/api/jobs/a/log", strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer pub")
		req.Header.Set("Content-Type", map[bool]string{false: "text/plain", true: "application/json"}[asJSON])
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		oneLine(t, w)
		q := url.Values{}
		if from != "" {
			q.Set("from", from)
		}
		if tail != "" {
			q.Set("tail", tail)
		}
		q.Set("lastEventID", lastID)
		req = httptest.NewRequest("GET", "/api/jobs/a/log?"+q.Encode(), nil)
		w = httptest.NewRecorder()
		h.ServeHTTP(w, req)
		oneLine(t, w)
		page, _ := m.Lines("a", 0, 100)
		for i, l := range page.Lines {
			if len(l.Text) > MaxLineBytes || strings.ContainsAny(l.Text, "\n") || !strings.EqualFold(l.Text, strings.ToValidUTF8(l.Text, "")) ||
				i > 0 && l.N != page.Lines[i-1].N+1 {
				t.Fatalf("retained line %d is %d %q", i, l.N, l.Text)
			}
		}
	})
}

// oneLine fails unless w holds a success or a one-line refusal.
func oneLine(t *testing.T, w *httptest.ResponseRecorder) {
	t.Helper()
	switch w.Code {
	case http.StatusOK:
	case http.StatusBadRequest, http.StatusRequestEntityTooLarge:
		if strings.Count(strings.TrimSpace(w.Body.String()), "\n") > 0 {
			t.Fatalf("refusal on more than one line: %q", w.Body.String())
		}
	default:
		t.Fatalf("status %d: %s", w.Code, w.Body.String())
	}
}
