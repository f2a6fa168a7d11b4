package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
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
	if out != "message [urn:7]: x\n" { // events carry the id resumed from
		t.Fatalf("text output %q", out)
	}
}

func TestSubFailsWithAOneLineReason(t *testing.T) {
	srv, _ := sseServer(t, "data: only one\n\n")
	broken := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "topic missing", http.StatusBadRequest)
	}))
	defer broken.Close()
	html := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		io.WriteString(w, "<html>\n<body>hello</body>\n</html>\n")
	}))
	defer html.Close()
	failing := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "boom\nat line 2", http.StatusInternalServerError)
	}))
	defer failing.Close()
	gone := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusNoContent)
	}))
	defer gone.Close()
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
		{"not an event stream", []string{"sub", html.URL}, `Content-Type "text/html"`},
		{"server error", []string{"sub", failing.URL}, "500 Internal Server Error: boom"},
		{"204 before the count", []string{"sub", "--count", "1", gone.URL}, "ended after 0 of 1"},
		{"nothing listens, no reconnect", []string{"sub", "--no-reconnect", "http://" + closedAddr(t)}, "connection refused"},
	}
	for _, tt := range tests {
		code, out, errOut := runCmd(t, tt.args...)
		if strings.Contains(errOut, "goroutine ") || (out != "" && !strings.HasPrefix(out, "message: only one")) {
			t.Errorf("%s: stdout %q, stderr %q; want no stack trace and nothing but events on stdout", tt.name, out, errOut)
		}
		if code == 0 || !strings.Contains(errOut, tt.want) || strings.Count(strings.TrimSpace(errOut), "\n") > 0 {
			t.Errorf("%s: exit %d, stderr %q; want non-zero and one line mentioning %q", tt.name, code, errOut, tt.want)
		}
	}
}

// closedAddr returns a loopback address nothing listens on.
func closedAddr(t *testing.T) string {
	t.Helper()
	srv := httptest.NewServer(http.NotFoundHandler())
	addr := srv.Listener.Addr().String()
	srv.Close()
	return addr
}

func TestSubNeedsExactlyOneURL(t *testing.T) {
	for _, args := range [][]string{{"sub"}, {"sub", "http://a", "http://b"}} {
		if code, out, errOut := runCmd(t, args...); code != 2 || out != "" || !strings.Contains(errOut, "usage: herald sub") {
			t.Errorf("%q: exit %d, stdout %q, stderr %q; want 2 and the usage", args, code, out, errOut)
		}
	}
}

func TestSubTakesTheTokenFromHERALD_TOKEN(t *testing.T) {
	srv, headers := sseServer(t, "data: x\n\n")
	t.Setenv("HERALD_TOKEN", "from-env")
	if code, _, errOut := runCmd(t, "sub", "--count", "1", srv.URL); code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	if h := <-headers; h.Get("Authorization") != "Bearer from-env" {
		t.Fatalf("Authorization %q, want the token of HERALD_TOKEN", h.Get("Authorization"))
	}
	if code, _, errOut := runCmd(t, "sub", "--count", "1", "--token", "from-flag", srv.URL); code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	if h := <-headers; h.Get("Authorization") != "Bearer from-flag" {
		t.Fatalf("Authorization %q, want --token to win over HERALD_TOKEN", h.Get("Authorization"))
	}
	_, _, errOut := runCmd(t, "sub", "-h")
	if strings.Contains(errOut, "from-env") {
		t.Fatalf("help output shows the token: %s", errOut)
	}
}

func TestSubAcceptsFlagsAfterTheURL(t *testing.T) {
	srv, _ := sseServer(t, "id: 3\ndata: x\n\n")
	code, out, errOut := runCmd(t, "sub", srv.URL, "--format", "json", "--count", "1")
	if code != 0 || out != `{"type":"message","data":"x","id":"3"}`+"\n" {
		t.Fatalf("exit %d, stdout %q, stderr %q", code, out, errOut)
	}
}

func TestSubReconnectsWithLastEventIDAfterADrop(t *testing.T) {
	var mu sync.Mutex
	var lastIDs []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		lastIDs = append(lastIDs, r.Header.Get("Last-Event-ID"))
		n := len(lastIDs)
		mu.Unlock()
		w.Header().Set("Content-Type", "text/event-stream")
		if n == 1 {
			io.WriteString(w, "retry: 10\nid: 1\ndata: one\n\nid: 2\ndata: two\n\ndata: cut")
			w.(http.Flusher).Flush()
			panic(http.ErrAbortHandler) // drop the connection mid-event
		}
		io.WriteString(w, "id: 3\nevent: progress\ndata: three\ndata: lines\n\n")
	}))
	defer srv.Close()
	code, out, errOut := runCmd(t, "sub", "--count", "3", "--timeout", "10s", srv.URL)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	want := "message [1]: one\nmessage [2]: two\nprogress [3]: three\n    lines\n"
	if out != want {
		t.Fatalf("stdout %q, want %q", out, want)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(lastIDs) != 2 || lastIDs[0] != "" || lastIDs[1] != "2" {
		t.Fatalf("Last-Event-ID per request %q, want none then 2", lastIDs)
	}
	if !strings.Contains(errOut, "reconnecting") {
		t.Errorf("stderr %q does not tell about the reconnection", errOut)
	}
}

func TestSubNoReconnectStopsAtTheEndOfTheStream(t *testing.T) {
	srv, headers := sseServer(t, "data: a\n\ndata: b\n\n")
	code, out, errOut := runCmd(t, "sub", "--no-reconnect", "--format", "json", srv.URL)
	if code != 0 || strings.Count(out, "\n") != 2 {
		t.Fatalf("exit %d, stdout %q, stderr %q; want two events and exit 0", code, out, errOut)
	}
	if n := len(headers); n != 1 {
		t.Fatalf("%d requests, want 1", n)
	}
}

func TestSubTimeoutWithoutCountListensThenExitsZero(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		io.WriteString(w, "data: a\n\n")
		w.(http.Flusher).Flush()
		<-r.Context().Done()
	}))
	defer srv.Close()
	code, out, errOut := runCmd(t, "sub", "--timeout", "200ms", srv.URL)
	if code != 0 || out != "message: a\n" {
		t.Fatalf("exit %d, stdout %q, stderr %q", code, out, errOut)
	}
}
