package redislog

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/heraldhub/herald/eventlog"
	"github.com/heraldhub/herald/eventlog/logtest"
	"github.com/heraldhub/herald/internal/tcpproxy"
	"github.com/redis/go-redis/v9"
)

func TestOpenReadsTheURL(t *testing.T) {
	tests := []struct {
		name       string
		url        string
		opts       Options
		stream     string
		retain     int
		addr       string
		db         int
		dial, read time.Duration
	}{
		{"defaults", "redis://127.0.0.1:6379", Options{}, "herald", DefaultRetain, "127.0.0.1:6379", 0, defaultDialTimeout, defaultIOTimeout},
		{"stream, retain and db from the URL", "redis://h:1/3?stream=s1&retain=50", Options{}, "s1", 50, "h:1", 3, defaultDialTimeout, defaultIOTimeout},
		{"options win over the URL", "redis://h:1/0?stream=s1&retain=50", Options{Stream: "s2", Retain: 7}, "s2", 7, "h:1", 0, defaultDialTimeout, defaultIOTimeout},
		{"timeouts from the URL", "redis://h:1/0?dial_timeout=5s&read_timeout=7s", Options{}, "herald", DefaultRetain, "h:1", 0, 5 * time.Second, 7 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ro, opts, err := parseURL(tt.url, tt.opts)
			if err != nil {
				t.Fatal(err)
			}
			if opts.Stream != tt.stream || opts.Retain != tt.retain || opts.Logger == nil {
				t.Errorf("stream %q, retain %d, logger %v; want %q, %d and a logger", opts.Stream, opts.Retain, opts.Logger, tt.stream, tt.retain)
			}
			if ro.Addr != tt.addr || ro.DB != tt.db || ro.DialTimeout != tt.dial || ro.ReadTimeout != tt.read {
				t.Errorf("addr %s db %d dial %v read %v; want %s %d %v %v", ro.Addr, ro.DB, ro.DialTimeout, ro.ReadTimeout, tt.addr, tt.db, tt.dial, tt.read)
			}
			if ro.MaxRetries != -1 {
				t.Errorf("MaxRetries %d: a failed append must never be resent", ro.MaxRetries)
			}
		})
	}
}

func TestOpenRejectsABadURL(t *testing.T) {
	for _, raw := range []string{
		"http://127.0.0.1:6379",
		"redis://127.0.0.1:6379/0?retain=0",
		"redis://127.0.0.1:6379/0?retain=many",
		"redis://127.0.0.1:6379/0?retian=5",
		"redis://127.0.0.1:6379/notadb",
		"redis://%zz",
	} {
		if _, err := Open(context.Background(), raw, Options{}); err == nil || errors.Is(err, eventlog.ErrUnavailable) {
			t.Errorf("Open(%q) = %v, want a URL error", raw, err)
		}
	}
}

func TestMaxRetriesInTheURLIsOverridden(t *testing.T) {
	ro, _, err := parseURL("redis://h:1/0?max_retries=5", Options{})
	if err != nil {
		t.Fatal(err)
	}
	if ro.MaxRetries != -1 {
		t.Errorf("MaxRetries %d, want -1", ro.MaxRetries)
	}
}

func FuzzParseURL(f *testing.F) {
	for _, s := range []string{
		"redis://127.0.0.1:6379/0?stream=herald&retain=10",
		"rediss://user:pw@h:1/2?stream=a%20b",
		"redis://h:1/0?dial_timeout=5s&max_retries=3",
		"redis://h/0?retain=-1", "redis://", "redis://:@/?&&", "unix:///tmp/r.sock",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		ro, opts, err := parseURL(raw, Options{})
		if err != nil {
			return
		}
		if opts.Stream == "" || opts.Retain <= 0 || ro.MaxRetries != -1 {
			t.Fatalf("parseURL(%q): stream %q retain %d max retries %d", raw, opts.Stream, opts.Retain, ro.MaxRetries)
		}
	})
}

func TestEntryIDMapsToSeqAndTime(t *testing.T) {
	tests := []struct {
		id  string
		seq uint64
		ok  bool
	}{
		{"0-1", 1, true},
		{"1-0", 1 << 20, true},
		{"1700000000000-5", 1700000000000<<20 | 5, true},
		{"1-1048575", 1<<20 | 1048575, true},
		{"1-1048576", 0, false},
		{"17592186044415-0", 17592186044415 << 20, true},
		{"17592186044416-0", 0, false},
		{"1", 0, false},
		{"-1", 0, false},
		{"a-1", 0, false},
		{"1-2-3", 0, false},
	}
	for _, tt := range tests {
		seq, _, err := parseEntryID(tt.id)
		if (err == nil) != tt.ok || seq != tt.seq {
			t.Errorf("parseEntryID(%q) = %d, %v; want %d, ok %v", tt.id, seq, err, tt.seq, tt.ok)
		}
	}
}

func FuzzParseEntryID(f *testing.F) {
	for _, s := range []string{"0-1", "1-0", "1700000000000-5", "1-1048576", "18446744073709551615-0", "17592186044416-0", "x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, id string) {
		seq, tm, err := parseEntryID(id)
		if err != nil {
			return
		}
		ms, n := seq>>20, seq&(1<<20-1)
		if back := strconv.FormatUint(ms, 10) + "-" + strconv.FormatUint(n, 10); !sameEntryID(back, id) {
			t.Fatalf("parseEntryID(%q) = %d, which maps back to %q", id, seq, back)
		}
		if tm.UnixMilli() != int64(ms) {
			t.Fatalf("parseEntryID(%q): time %v, want %d ms", id, tm, ms)
		}
	})
}

// sameEntryID reports whether two "ms-n" ids name the same entry, ignoring
// leading zeros and a leading '+' that strconv accepts.
func sameEntryID(a, b string) bool {
	pa, qa, _ := strings.Cut(a, "-")
	pb, qb, _ := strings.Cut(b, "-")
	num := func(s string) uint64 { v, _ := strconv.ParseUint(s, 10, 64); return v }
	return num(pa) == num(pb) && num(qa) == num(qb)
}

func TestOpenFailsFastWithErrUnavailableWhenNothingListens(t *testing.T) {
	addr := closedPort(t)
	start := time.Now()
	_, err := Open(context.Background(), "redis://"+addr+"/0?stream=x", Options{})
	if !errors.Is(err, eventlog.ErrUnavailable) {
		t.Fatalf("Open: %v, want ErrUnavailable", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("Open took %v to fail", d)
	}
}

// closedPort returns a loopback address nothing listens on.
func closedPort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

func TestPingFollowsTheBackend(t *testing.T) {
	p, err := tcpproxy.Start(redisAddr)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	l := open(t, p.Addr(), logtest.UniqueName(t), 0)
	if err := l.Ping(t.Context()); err != nil {
		t.Fatalf("Ping with Redis up: %v", err)
	}
	p.Cut()
	if err := l.Ping(t.Context()); !errors.Is(err, eventlog.ErrUnavailable) {
		t.Fatalf("Ping with Redis cut off: %v, want ErrUnavailable", err)
	}
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
	p, err := tcpproxy.Start(redisAddr)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	name := logtest.UniqueName(t)
	l, err := Open(context.Background(), "redis://"+p.Addr()+"/0?stream="+name, Options{})
	if err != nil {
		t.Fatal(err)
	}
	done, err := l.Follow(t.Context(), func(eventlog.Update) {})
	if err != nil {
		t.Fatal(err)
	}
	p.Cut()
	closed := make(chan error, 1)
	go func() { closed <- l.Close() }()
	select {
	case <-closed:
	case <-time.After(15 * time.Second):
		t.Fatal("Close did not return while Redis was cut off")
	}
	<-done
}

func TestPublisherIDCanBeReusedOnceRetentionDropsIt(t *testing.T) {
	l := open(t, redisAddr, logtest.UniqueName(t), 2)
	ctx := t.Context()
	for _, id := range []string{"x", "y", "z", "x"} {
		if _, err := l.Append(ctx, eventlog.Update{ID: id, Topics: []string{"t"}}); err != nil {
			t.Fatalf("Append(%q): %v", id, err)
		}
	}
	if n := l.rdb.HLen(ctx, l.ids).Val(); n != 2 {
		t.Errorf("the id index holds %d ids, want the 2 retained", n)
	}
}

func TestAppendRefusesAStreamIDBeyondSeqRangeAndStoresNothing(t *testing.T) {
	l := open(t, redisAddr, logtest.UniqueName(t), 0)
	ctx := t.Context()
	// An entry ahead of Redis's clock, at the last sequence a Seq can
	// hold: the next entry Redis generates gets sequence 2^20.
	ahead := fmt.Sprintf("%d-%d", time.Now().Add(10*time.Minute).UnixMilli(), 1<<20-1)
	if err := l.rdb.XAdd(ctx, &redis.XAddArgs{Stream: l.stream, ID: ahead, Values: []any{"id", "ahead", "topics", `["t"]`}}).Err(); err != nil {
		t.Fatal(err)
	}
	_, err := l.Append(ctx, eventlog.Update{ID: "next", Topics: []string{"t"}})
	if err == nil || errors.Is(err, eventlog.ErrUnavailable) || errors.Is(err, eventlog.ErrDuplicateID) {
		t.Fatalf("Append after %s: %v, want a Seq range error", ahead, err)
	}
	if n := l.rdb.XLen(ctx, l.stream).Val(); n != 1 {
		t.Errorf("the stream holds %d entries, want only the one added before", n)
	}
	if l.rdb.HExists(ctx, l.ids, "next").Val() {
		t.Error("the refused id is in the index")
	}
}

func FuzzDecode(f *testing.F) {
	f.Add("1700000000000-1", "urn:x", `["a","b"]`, "data", "progress", "1500", "1")
	f.Add("1-1048576", "", `[`, "", "", "-1", "0")
	f.Add("0-0", " id ", `null`, "", "", "9223372036854775807", "x")
	f.Fuzz(func(t *testing.T, entry, id, topics, data, typ, retry, private string) {
		m := redis.XMessage{ID: entry, Values: map[string]any{"id": id, "topics": topics, "data": data, "type": typ, "retry": retry, "private": private}}
		u, err := decode(m)
		if err != nil {
			return
		}
		if seq, _, _ := parseEntryID(entry); u.Seq != seq || u.ID != id || u.Data != data || u.Type != typ || u.Retry < 0 || u.Private != (private == "1") {
			t.Fatalf("decode(%+v) = %+v", m, u)
		}
	})
}
