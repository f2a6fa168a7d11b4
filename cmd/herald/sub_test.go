package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// sseServer answers every request with body as an event stream, and
// records the requests' headers.
func sseServer(t *testing.T, body string) (*httptest.Server, chan http.Header) {
	t.Helper()
	headers := make(chan http.Header, 10)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		headers <- r.Header.Clone()
		w.Header().Set("Content-Type", "text/event-stream")
		fmt.Fprint(w, body)
	}))
	t.Cleanup(srv.Close)
	return srv, headers
}

func runCmd(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	code = run(t.Context(), args, &out, &errb)
	return code, out.String(), errb.String()
}

func TestSubPrintsOneJSONObjectPerEvent(t *testing.T) {
	srv, _ := sseServer(t, "id: 1\ndata: a\n\nevent: progress\ndata: line 1\ndata: line 2\n\n: comment\nid\ndata: \"quoted\" <b>\n\n")
	code, out, errOut := runCmd(t, "sub", "--format", "json", "--count", "3", srv.URL)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	want := []map[string]string{
		{"type": "message", "data": "a", "id": "1"},
		{"type": "progress", "data": "line 1\nline 2", "id": "1"},
		{"type": "message", "data": "\"quoted\" <b>", "id": ""},
	}
	if len(lines) != len(want) {
		t.Fatalf("stdout has %d lines, want %d:\n%s", len(lines), len(want), out)
	}
	for i, line := range lines {
		var got map[string]string
		if err := json.Unmarshal([]byte(line), &got); err != nil {
			t.Fatalf("line %d is not a JSON object of strings: %q", i, line)
		}
		if fmt.Sprint(got) != fmt.Sprint(want[i]) {
			t.Errorf("line %d: %v, want exactly %v", i, got, want[i])
		}
	}
}

func TestSubSendsHeadersTokenAndLastEventID(t *testing.T) {
	srv, headers := sseServer(t, "data: x\n\n")
	code, out, errOut := runCmd(t, "sub", "--count", "1", "--token", "tok", "--header", "X-Trace: 42", "--last-event-id", "urn:7", srv.URL)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	h := <-headers
	if h.Get("Authorization") != "Bearer tok" || h.Get("X-Trace") != "42" || h.Get("Last-Event-ID") != "urn:7" {
		t.Fatalf("request headers %v", h)
	}
	if out != "message: x\n" {
		t.Fatalf("text output %q", out)
	}
}

func TestSubFailsWithAOneLineReason(t *testing.T) {
	srv, _ := sseServer(t, "data: only one\n\n")
	broken := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "topic missing", http.StatusBadRequest)
	}))
	defer broken.Close()
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"count not reached in time", []string{"sub", "--count", "2", "--timeout", "300ms", srv.URL}, "timed out"},
		{"count not reached before the end", []string{"sub", "--count", "2", "--no-reconnect", srv.URL}, "ended after 1 of 2"},
		{"HTTP error", []string{"sub", broken.URL}, "400 Bad Request: topic missing"},
		{"bad URL", []string{"sub", "localhost:8080"}, "invalid URL"},
		{"bad format", []string{"sub", "--format", "xml", srv.URL}, "--format"},
		{"bad header", []string{"sub", "--header", "nocolon", srv.URL}, "--header"},
	}
	for _, tt := range tests {
		code, _, errOut := runCmd(t, tt.args...)
		if code == 0 || !strings.Contains(errOut, tt.want) || strings.Count(strings.TrimSpace(errOut), "\n") > 0 {
			t.Errorf("%s: exit %d, stderr %q; want non-zero and one line mentioning %q", tt.name, code, errOut, tt.want)
		}
	}
}
