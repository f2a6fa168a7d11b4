package loadgen

import (
	"context"
	"net"
	"net/url"
	"testing"
)

// A stream whose opening fails while its context is being cancelled
// returns the error; the cancellation closes the connection it dialled,
// never a nil one (run with -race: the two used to share a variable).
func TestOpenStreamFailingAsItsContextEnds(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close() // no response: reading it fails at once
		}
	}()
	u, _ := url.Parse("http://" + ln.Addr().String() + "/events")
	for range 300 {
		ctx, cancel := context.WithCancel(t.Context())
		go cancel()
		if _, _, err := openStream(ctx, u, "", ""); err == nil {
			t.Fatal("opened a stream the server closed at once")
		}
		cancel()
	}
}
