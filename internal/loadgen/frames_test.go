package loadgen

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

// recorder is a frameSink that keeps what it was given.
type recorder struct {
	code    int
	status  string
	updates []string
}

func (r *recorder) headers(code int, status string) error {
	r.code, r.status = code, status
	if code != 200 {
		return fmt.Errorf("subscribe: %s", status)
	}
	return nil
}

func (r *recorder) update(seq, sent int64) { r.updates = append(r.updates, fmt.Sprint(seq, "@", sent)) }

// chunked encodes body in chunks of at most n bytes, with a chunk
// extension on the first.
func chunked(body string, n int) string {
	var b strings.Builder
	for i := 0; i < len(body); i += n {
		part := body[i:min(len(body), i+n)]
		ext := ""
		if i == 0 {
			ext = ";name=value"
		}
		fmt.Fprintf(&b, "%x%s\r\n%s\r\n", len(part), ext, part)
	}
	return b.String()
}

const events = ": comment\n\nid: 1\ndata: 0 1796227004934000296 xxxx\n\nevent: x\ndata: 1 2000\ndata: 99 99\n\n" +
	"data:warm-up\n\ndata: 2 3000 yy\r\n\r\ndatabase: 7 7\n\ndata: 3 4000\n\n"

var wantUpdates = []string{"0@1796227004934000296", "1@2000", "2@3000", "3@4000"}

// feedSplit feeds response to a new parser in pieces of n bytes.
func feedSplit(response string, n int) (*recorder, error) {
	var p streamParser
	r := &recorder{}
	for i := 0; i < len(response); i += n {
		if err := p.feed([]byte(response[i:min(len(response), i+n)]), r); err != nil {
			return r, err
		}
	}
	return r, nil
}

func TestParserReadsEveryUpdateWhereverTheStreamIsSplit(t *testing.T) {
	plain := "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n\r\n" + events
	chunkedResp := "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Type: text/event-stream\r\n\r\n" + chunked(events, 7)
	for name, resp := range map[string]string{"plain": plain, "chunked": chunkedResp} {
		for n := 1; n <= len(resp); n++ {
			r, err := feedSplit(resp, n)
			if err != nil || r.code != 200 || fmt.Sprint(r.updates) != fmt.Sprint(wantUpdates) {
				t.Fatalf("%s in pieces of %d: code %d, updates %v, error %v; want 200 and %v", name, n, r.code, r.updates, err, wantUpdates)
			}
		}
	}
}

func TestParserStopsAtTheLastChunkAndOnARefusal(t *testing.T) {
	resp := "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + chunked("data: 5 6\n\n", 4) + "0\r\n\r\n"
	if r, err := feedSplit(resp, 3); !errors.Is(err, errStreamEnded) || fmt.Sprint(r.updates) != "[5@6]" {
		t.Fatalf("updates %v, error %v; want 5@6 then the end of the stream", r.updates, err)
	}
	if _, err := feedSplit("HTTP/1.1 503 Service Unavailable\r\nContent-Length: 5\r\n\r\nfull\n", 5); err == nil || err.Error() != "subscribe: 503 Service Unavailable" {
		t.Fatalf("error %v, want the refusal with its status", err)
	}
	for _, bad := range []string{"garbage\r\n\r\n", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabXY"} {
		if _, err := feedSplit(bad, 1); err == nil {
			t.Errorf("%q parsed without an error", bad)
		}
	}
}

func FuzzParser(f *testing.F) {
	f.Add("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"+chunked(events, 5), 3)
	f.Add("HTTP/1.1 200 OK\r\n\r\n"+events, 1)
	f.Fuzz(func(t *testing.T, resp string, n int) {
		n = 1 + abs(n)%64
		whole, errWhole := feedSplit(resp, max(1, len(resp)))
		split, errSplit := feedSplit(resp, n)
		if (errWhole == nil) != (errSplit == nil) || fmt.Sprint(whole.updates) != fmt.Sprint(split.updates) {
			t.Fatalf("whole: %v %v; in pieces of %d: %v %v", whole.updates, errWhole, n, split.updates, errSplit)
		}
	})
}

func abs(n int) int {
	if n < 0 {
		return -n
	}
	return n
}
