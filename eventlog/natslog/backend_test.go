package natslog

import (
	"context"
	"errors"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/heraldhub/herald/eventlog"
	"github.com/heraldhub/herald/eventlog/logtest"
	"github.com/heraldhub/herald/internal/tcpproxy"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

func TestOpenReadsTheURL(t *testing.T) {
	tests := []struct {
		name   string
		url    string
		opts   Options
		server string
		stream string
		retain int
		age    time.Duration
	}{
		{"defaults", "nats://127.0.0.1:4222", Options{}, "nats://127.0.0.1:4222", "HERALD", DefaultRetain, 0},
		{"stream and limits from the URL", "nats://h:1?stream=s-1&retain=50&retain_age=2h", Options{}, "nats://h:1", "s-1", 50, 2 * time.Hour},
		{"options win over the URL", "nats://h:1?stream=s1&retain=50&retain_age=2h", Options{Stream: "s2", Retain: 7, RetainAge: time.Minute}, "nats://h:1", "s2", 7, time.Minute},
		{"credentials are kept", "nats://u:p@h:1?stream=s", Options{}, "nats://u:p@h:1", "s", DefaultRetain, 0},
		{"tls", "tls://h:1", Options{}, "tls://h:1", "HERALD", DefaultRetain, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			server, opts, err := parseURL(tt.url, tt.opts)
			if err != nil {
				t.Fatal(err)
			}
			if server != tt.server || opts.Stream != tt.stream || opts.Retain != tt.retain || opts.RetainAge != tt.age || opts.Logger == nil {
				t.Errorf("got %s, stream %q, retain %d, age %v, logger %v; want %s, %q, %d, %v and a logger",
					server, opts.Stream, opts.Retain, opts.RetainAge, opts.Logger, tt.server, tt.stream, tt.retain, tt.age)
			}
		})
	}
}

func TestOpenRejectsABadURL(t *testing.T) {
	for _, raw := range []string{
		"http://127.0.0.1:4222",
		"nats://?stream=x",
		"nats://127.0.0.1:4222?retain=0",
		"nats://127.0.0.1:4222?retain=many",
		"nats://127.0.0.1:4222?retain_age=forever",
		"nats://127.0.0.1:4222?retian=5",
		"nats://127.0.0.1:4222?stream=a.b",
		"nats://127.0.0.1:4222?stream=a*",
		"nats://%zz",
	} {
		if _, err := Open(context.Background(), raw, Options{}); err == nil || errors.Is(err, eventlog.ErrUnavailable) {
			t.Errorf("Open(%q) = %v, want a URL error", raw, err)
		}
	}
}

func FuzzParseURL(f *testing.F) {
	for _, s := range []string{
		"nats://127.0.0.1:4222?stream=HERALD&retain=10&retain_age=1h",
		"tls://u:p@h:1?stream=a%20b", "nats://h?stream=a.b", "nats://", "nats://:@/?&&", "nats://h:1#x",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		server, opts, err := parseURL(raw, Options{})
		if err != nil {
			return
		}
		if !validStreamName(opts.Stream) || opts.Retain <= 0 || opts.RetainAge < 0 {
			t.Fatalf("parseURL(%q): stream %q retain %d age %v", raw, opts.Stream, opts.Retain, opts.RetainAge)
		}
		if again, _, err := parseURL(server, Options{}); err != nil || again != server {
			t.Fatalf("parseURL(%q) gave server %q, which reads back as %q, %v", raw, server, again, err)
		}
	})
}

func TestOpenCreatesTheStreamWithItsLimits(t *testing.T) {
	name := logtest.UniqueName(t)
	l, err := Open(context.Background(), "nats://"+natsAddr+"?stream="+name+"&retain=7&retain_age=1h", Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		l.Close()
		removeStream(t, name)
	})
	info, err := l.stream.Info(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	c := info.Config
	if c.MaxMsgs != 7 || c.MaxAge != time.Hour || c.Storage != jetstream.FileStorage || c.Discard != jetstream.DiscardOld {
		t.Errorf("stream config: max msgs %d, max age %v, storage %v, discard %v; want 7, 1h, file, old", c.MaxMsgs, c.MaxAge, c.Storage, c.Discard)
	}
	// A second node with other limits updates them.
	again, err := Open(context.Background(), "nats://"+natsAddr+"?stream="+name+"&retain=9", Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer again.Close()
	if info, err = l.stream.Info(t.Context()); err != nil || info.Config.MaxMsgs != 9 {
		t.Errorf("after a second Open with retain=9: %v, %v", info.Config.MaxMsgs, err)
	}
}

func TestOpenFailsFastWithErrUnavailableWhenNothingListens(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	start := time.Now()
	if _, err := Open(context.Background(), "nats://"+addr+"?stream=x", Options{}); !errors.Is(err, eventlog.ErrUnavailable) {
		t.Fatalf("Open: %v, want ErrUnavailable", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("Open took %v to fail", d)
	}
}

func TestPingFollowsTheBackend(t *testing.T) {
	p, err := tcpproxy.Start(natsAddr)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	l := open(t, p.Addr(), logtest.UniqueName(t), 0)
	if err := l.Ping(t.Context()); err != nil {
		t.Fatalf("Ping with NATS up: %v", err)
	}
	p.Cut()
	waitFor(t, "Ping to fail with ErrUnavailable", func() bool { return errors.Is(l.Ping(t.Context()), eventlog.ErrUnavailable) })
	if err := p.Restore(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "Ping to succeed after the outage", func() bool { return l.Ping(t.Context()) == nil })
}

// waitFor polls cond until it holds, failing t after 20 seconds.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(20 * time.Second); !cond(); {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestCloseDuringAnOutageStopsTheTail(t *testing.T) {
	p, err := tcpproxy.Start(natsAddr)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	name := logtest.UniqueName(t)
	direct := open(t, natsAddr, name, 0) // removes the stream at the end
	l, err := Open(context.Background(), "nats://"+p.Addr()+"?stream="+name, Options{})
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan eventlog.Update, 1)
	done, err := l.Follow(t.Context(), func(u eventlog.Update) { got <- u })
	if err != nil {
		t.Fatal(err)
	}
	if _, err := direct.Append(t.Context(), eventlog.Update{Topics: []string{"t"}}); err != nil {
		t.Fatal(err)
	}
	<-got
	p.Cut()
	waitFor(t, "the log to notice the outage", func() bool { return l.Ping(t.Context()) != nil })
	closed := make(chan error, 1)
	start := time.Now()
	go func() { closed <- l.Close() }()
	select {
	case <-closed:
		t.Logf("Close took %v", time.Since(start))
	case <-time.After(15 * time.Second):
		t.Fatal("Close did not return while NATS was cut off")
	}
	<-done
}

func TestPublisherIDCanBeReusedOnceRetentionDropsIt(t *testing.T) {
	l := open(t, natsAddr, logtest.UniqueName(t), 2)
	for _, id := range []string{"x", "y", "z", "x"} {
		if _, err := l.Append(t.Context(), eventlog.Update{ID: id, Topics: []string{"t"}}); err != nil {
			t.Fatalf("Append(%q): %v", id, err)
		}
	}
}

// appendMany appends n updates with generated ids.
func appendMany(t *testing.T, l eventlog.Log, n int) []eventlog.Update {
	t.Helper()
	out := make([]eventlog.Update, n)
	for i := range out {
		u, err := l.Append(context.Background(), eventlog.Update{Topics: []string{"t"}, Data: strconv.Itoa(i)})
		if err != nil {
			t.Fatal(err)
		}
		out[i] = u
	}
	return out
}

func TestReplaysAndTailsLeaveNoConsumerBehind(t *testing.T) {
	l := open(t, natsAddr, logtest.UniqueName(t), 0)
	stored := appendMany(t, l, 10)
	for range 5 {
		if _, err := l.Since(t.Context(), stored[2].ID, func(eventlog.Update) bool { return true }); err != nil {
			t.Fatal(err)
		}
		if _, err := l.Since(t.Context(), eventlog.Earliest, func(eventlog.Update) bool { return false }); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithCancel(t.Context())
	done, err := l.Follow(ctx, func(eventlog.Update) {})
	if err != nil {
		t.Fatal(err)
	}
	cancel()
	<-done
	info, err := l.stream.Info(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if n := info.State.Consumers; n != 0 {
		t.Errorf("%d consumers left on the stream after the replays and the tail ended, want 0", n)
	}
}

func FuzzHeaderRoundTrip(f *testing.F) {
	f.Add(" padded ", " t ", "書籍/1", int64(1500), true)
	f.Add("a%41", "\tx", " t ", int64(0), false)
	f.Add("id", "", "", int64(-5), false)
	f.Fuzz(func(t *testing.T, id, typ, topic string, retryMS int64, private bool) {
		if eventlog.CheckID(id) != nil || id == "" || !utf8.ValidString(topic) {
			t.Skip()
		}
		u := eventlog.Update{ID: id, Type: typ, Topics: []string{topic}, Data: "d", Private: private,
			Retry: time.Duration(retryMS) * time.Millisecond, Time: time.Unix(0, 1700000000123456789)}
		h := encodeHeader(u)
		for k, vs := range h {
			for _, v := range vs {
				if strings.TrimSpace(v) != v || strings.ContainsAny(v, "\r\n\x00") {
					t.Fatalf("header %s: %q would not survive the wire", k, v)
				}
			}
		}
		got, err := decodeHeader(7, h, []byte(u.Data), time.Time{})
		if err != nil {
			t.Fatal(err)
		}
		want := u
		want.Seq = 7
		if want.Retry < time.Millisecond {
			want.Retry = 0
		}
		want.Retry = want.Retry.Truncate(time.Millisecond)
		if got.ID != want.ID || got.Type != want.Type || got.Topics[0] != want.Topics[0] || got.Private != want.Private ||
			got.Retry != want.Retry || !got.Time.Equal(want.Time) || got.Seq != 7 || got.Data != "d" {
			t.Fatalf("round trip of %+v gave %+v", want, got)
		}
	})
}

func FuzzDecodeHeader(f *testing.F) {
	f.Add("urn:x", `["a"]`, "progress", "1500", "1700000000000000000")
	f.Add("%zz", `[`, "%", "-1", "x")
	f.Add("", `null`, "", "9223372036854775807", "")
	f.Fuzz(func(t *testing.T, id, topics, typ, retry, stamp string) {
		h := nats.Header{}
		h.Set(hID, id)
		h.Set(hTopics, topics)
		h.Set(hType, typ)
		h.Set(hRetry, retry)
		h.Set(hTime, stamp)
		u, err := decodeHeader(1, h, nil, time.Unix(0, 0))
		if err == nil && (u.ID == "" || u.Retry < 0) {
			t.Fatalf("decodeHeader accepted id %q retry %v", u.ID, u.Retry)
		}
	})
}
