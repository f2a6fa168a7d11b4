package node

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

func TestTokensInTheQueryAreAcceptedOnlyForSubscribing(t *testing.T) {
	n := startNode(t, Config{SubscriberKey: subscriberKey})
	pub := token(t, publisherKey, []string{"*"}, nil)
	sub := token(t, subscriberKey, nil, []string{"*"})
	n.call(t, "POST", "/api/jobs", pub, `{"id":"q","private":true}`)
	form := url.Values{"topic": {"a"}, "data": {"x"}}.Encode()
	cases := []struct {
		name, method, path, ctype, body string
	}{
		{"publish", "POST", "/.well-known/mercure?authorization=" + pub, "application/x-www-form-urlencoded", form},
		{"create a job", "POST", "/api/jobs?authorization=" + pub, "application/json", `{"id":"new"}`},
		{"report progress", "POST", "/api/jobs/q/progress?authorization=" + pub, "application/json", `{"done":1}`},
		{"cancel a job", "POST", "/api/jobs/q/cancel?authorization=" + sub, "", ""},
		{"read a private job", "GET", "/api/jobs/q?authorization=" + sub, "", ""},
	}
	for _, tt := range cases {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequest(tt.method, n.http.URL+tt.path, strings.NewReader(tt.body))
			if tt.ctype != "" {
				req.Header.Set("Content-Type", tt.ctype)
			}
			resp, err := n.http.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusUnauthorized || !strings.Contains(string(b), "Authorization: Bearer") {
				t.Errorf("%d %q, want 401 saying to send the token in the Authorization header", resp.StatusCode, b)
			}
		})
	}
	// A subscriber's EventSource has no other way to send its token.
	n.subscribe(t, "topic=jobs/q&authorization="+sub, nil)
}

func TestRefusalIsNotHeldBackByASlowBody(t *testing.T) {
	n := startNode(t, Config{SubscriberKey: subscriberKey})
	pub := token(t, publisherKey, []string{"jobs/other"}, nil)
	n.call(t, "POST", "/api/jobs", token(t, publisherKey, []string{"*"}, nil), `{"id":"q"}`)
	cases := []struct {
		name, path, auth, ctype string
		status                  int
	}{
		{"publish with a forged token", "/.well-known/mercure", "Bearer not.a.token", "application/x-www-form-urlencoded", 401},
		{"publish without a token", "/.well-known/mercure", "", "application/x-www-form-urlencoded", 401},
		{"create a job with a forged token", "/api/jobs", "Bearer not.a.token", "application/json", 401},
		{"report progress without a token", "/api/jobs/q/progress", "", "application/json", 401},
		{"report progress to a job the token may not", "/api/jobs/q/progress", "Bearer " + pub, "application/json", 403},
	}
	for _, tt := range cases {
		t.Run(tt.name, func(t *testing.T) {
			c, err := net.Dial("tcp", n.http.Listener.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			// Headers announce 64 KiB of body; a few bytes come, then
			// nothing: the answer must not wait for the rest.
			head := fmt.Sprintf("POST %s HTTP/1.1\r\nHost: x\r\nContent-Type: %s\r\nContent-Length: 65536\r\n", tt.path, tt.ctype)
			if tt.auth != "" {
				head += "Authorization: " + tt.auth + "\r\n"
			}
			if _, err := io.WriteString(c, head+"\r\n{\"id\":"); err != nil {
				t.Fatal(err)
			}
			c.SetReadDeadline(time.Now().Add(5 * time.Second))
			resp, err := http.ReadResponse(bufio.NewReader(c), nil)
			if err != nil {
				t.Fatalf("no answer while the body trickles: %v", err)
			}
			resp.Body.Close()
			if resp.StatusCode != tt.status {
				t.Errorf("status %d, want %d", resp.StatusCode, tt.status)
			}
		})
	}
}

func TestCancellingWithAValidTokenWithoutTheJobIsForbiddenNotUnauthorized(t *testing.T) {
	n := startNode(t, Config{SubscriberKey: subscriberKey})
	n.call(t, "POST", "/api/jobs", token(t, publisherKey, []string{"*"}, nil), `{"id":"report","private":true}`)
	cases := []struct{ name, token string }{
		{"a subscriber token for other topics", token(t, subscriberKey, nil, []string{"orders/{id}"})},
		{"a publisher token for other jobs", token(t, publisherKey, []string{"jobs/other"}, nil)},
	}
	for _, tt := range cases {
		t.Run(tt.name, func(t *testing.T) {
			st, body := n.call(t, "POST", "/api/jobs/report/cancel", tt.token, "")
			if st != http.StatusForbidden || !strings.HasPrefix(body, "not allowed") || strings.Contains(body, "signature") {
				t.Errorf("%d %q, want 403 \"not allowed: …\" without a word about signatures", st, body)
			}
		})
	}
}
