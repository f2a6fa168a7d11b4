package boltlog

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
	"go.uber.org/goleak"

	"github.com/heraldhub/herald/eventlog"
	"github.com/heraldhub/herald/eventlog/logtest"
)

func TestMain(m *testing.M) {
	if os.Getenv(crashChildEnv) != "" {
		crashChild()
		return
	}
	goleak.VerifyTestMain(m)
}

func TestConformance(t *testing.T) {
	// Synced appends wait for the disk, one fsync each: on a busy machine
	// the suite's 1,200 appends within one replay take longer than its
	// default bound.
	defer func(d time.Duration) { logtest.Timeout = d }(logtest.Timeout)
	logtest.Timeout = 30 * time.Second
	for _, noSync := range []bool{false, true} {
		t.Run(fmt.Sprint("NoSync=", noSync), func(t *testing.T) {
			logtest.Run(t, func(t *testing.T, retain int) eventlog.Log {
				return openTest(t, filepath.Join(t.TempDir(), "herald.db"), Options{RetainCount: retain, NoSync: noSync})
			})
		})
	}
}

// openTest opens a log at path and closes it when t ends.
func openTest(t testing.TB, path string, opts Options) *Log {
	t.Helper()
	l, err := Open(path, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

// clock is a settable time source.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

func mustAppend(t testing.TB, l eventlog.Log, id string) eventlog.Update {
	t.Helper()
	u, err := l.Append(context.Background(), eventlog.Update{ID: id, Topics: []string{"t"}, Data: "data " + id})
	if err != nil {
		t.Fatalf("Append(%q): %v", id, err)
	}
	return u
}

func since(t testing.TB, l eventlog.Log, id string) ([]string, error) {
	t.Helper()
	var got []string
	_, err := l.Since(context.Background(), id, func(u eventlog.Update) bool {
		got = append(got, u.ID)
		return true
	})
	return got, err
}

func mustSince(t testing.TB, l eventlog.Log, id string) []string {
	t.Helper()
	got, err := since(t, l, id)
	if err != nil {
		t.Fatalf("Since(%q): %v", id, err)
	}
	return got
}

// eventually polls cond, which reads the log, until it holds or 5 s pass:
// for work the writer does on its own, with no event to await.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("after 5s: %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestRestartKeepsUpdatesIDsAndSeq(t *testing.T) {
	path := filepath.Join(t.TempDir(), "data", "herald.db")
	l, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	var before []eventlog.Update
	for i := range 5 {
		id := ""
		if i%2 == 0 {
			id = fmt.Sprint("custom-", i)
		}
		before = append(before, mustAppend(t, l, id))
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}

	l = openTest(t, path, Options{})
	for i, u := range before {
		if got, want := mustSince(t, l, u.ID), ids(before[i+1:]); !slices.Equal(got, want) {
			t.Fatalf("after restart, Since(%q) = %q, want %q", u.ID, got, want)
		}
	}
	var replayed []eventlog.Update
	l.Since(context.Background(), eventlog.Earliest, func(u eventlog.Update) bool { replayed = append(replayed, u); return true })
	for i := range before {
		if d := diffUpdate(replayed[i], before[i]); d != "" {
			t.Fatalf("after restart, update %d: %s", i, d)
		}
	}
	for _, u := range before {
		if _, err := l.Append(context.Background(), eventlog.Update{ID: u.ID, Topics: []string{"t"}}); !errors.Is(err, eventlog.ErrDuplicateID) {
			t.Fatalf("after restart, Append with retained id %q: err %v, want ErrDuplicateID", u.ID, err)
		}
	}
	after := mustAppend(t, l, "")
	if after.Seq != before[len(before)-1].Seq+1 {
		t.Fatalf("after restart, Seq %d, want %d", after.Seq, before[len(before)-1].Seq+1)
	}
	if slices.Contains(ids(before), after.ID) {
		t.Fatalf("after restart, generated id %q repeats one from before", after.ID)
	}
}

func TestRestartResumesTailsFromTheLastSeenID(t *testing.T) {
	path := filepath.Join(t.TempDir(), "herald.db")
	l, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	seen := make(chan eventlog.Update, 10)
	done, err := l.Follow(context.Background(), func(u eventlog.Update) { seen <- u })
	if err != nil {
		t.Fatal(err)
	}
	mustAppend(t, l, "a")
	last := mustAppend(t, l, "b")
	for range 2 {
		select {
		case <-seen:
		case <-time.After(5 * time.Second):
			t.Fatal("tail did not see the updates")
		}
	}
	l.Close()
	<-done

	l = openTest(t, path, Options{})
	mustAppend(t, l, "c")
	if got := mustSince(t, l, last.ID); !slices.Equal(got, []string{"c"}) {
		t.Fatalf("resuming after %q across a restart gave %q, want [c]", last.ID, got)
	}
}

func TestRetentionByAgeDropsOldUpdatesOnAppend(t *testing.T) {
	c := &clock{now: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
	l, err := open(filepath.Join(t.TempDir(), "herald.db"), Options{RetainAge: time.Hour}, c.Now, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	mustAppend(t, l, "old-1")
	mustAppend(t, l, "old-2")
	c.Advance(30 * time.Minute)
	mustAppend(t, l, "mid")
	c.Advance(31 * time.Minute) // old-* are 61 minutes old, mid 31
	mustAppend(t, l, "new")
	if got, want := mustSince(t, l, eventlog.Earliest), []string{"mid", "new"}; !slices.Equal(got, want) {
		t.Fatalf("retained %q, want %q", got, want)
	}
	for _, id := range []string{"old-1", "old-2"} {
		if _, err := since(t, l, id); !errors.Is(err, eventlog.ErrUnknownID) {
			t.Fatalf("Since(%q) expired: err %v, want ErrUnknownID", id, err)
		}
	}
	// An expired id is forgotten, so it may be used again.
	if u := mustAppend(t, l, "old-1"); u.Seq != 5 {
		t.Fatalf("reused id got Seq %d, want 5", u.Seq)
	}
}

func TestRetentionByAgeDropsUpdatesWhenNobodyPublishes(t *testing.T) {
	c := &clock{now: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
	path := filepath.Join(t.TempDir(), "herald.db")
	l, err := open(path, Options{RetainAge: time.Minute}, c.Now, time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	mustAppend(t, l, "a")
	mustAppend(t, l, "b")
	c.Advance(2 * time.Minute)
	eventually(t, "expired updates are still retained", func() bool { return len(mustSince(t, l, eventlog.Earliest)) == 0 })
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	// Seq continues even though nothing was left to read it from.
	l = openTest(t, path, Options{})
	if u := mustAppend(t, l, ""); u.Seq != 3 {
		t.Fatalf("after everything expired and a restart, Seq %d, want 3", u.Seq)
	}
}

func TestRetentionByCountCatchesUpInChunksAfterReopen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "herald.db")
	l, err := Open(path, Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	const n = 2*trimChunk + 100
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			for i := range n / 4 {
				mustAppend(t, l, fmt.Sprint(w, "-", i))
			}
		})
	}
	wg.Wait()
	var last eventlog.Update
	l.Since(context.Background(), eventlog.Earliest, func(u eventlog.Update) bool { last = u; return true })
	l.Close()

	l = openTest(t, path, Options{RetainCount: 10, NoSync: true})
	eventually(t, "retention did not catch up with a smaller count", func() bool {
		// A replay may be overtaken by the trimming it watches.
		got, err := since(t, l, eventlog.Earliest)
		if err != nil && !errors.Is(err, eventlog.ErrUnknownID) {
			t.Fatal(err)
		}
		return err == nil && len(got) == 10
	})
	got := mustSince(t, l, eventlog.Earliest)
	if got[9] != last.ID {
		t.Fatalf("kept %q, want the last 10 ending with %q", got, last.ID)
	}
}

func TestOpenRefusesBadFilesNamingThem(t *testing.T) {
	dir := t.TempDir()
	validLog := filepath.Join(dir, "valid.db")
	l, err := Open(validLog, Options{})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 200 {
		mustAppend(t, l, fmt.Sprint(strings.Repeat("x", 200), i))
	}
	l.Close()
	valid, err := os.ReadFile(validLog)
	if err != nil {
		t.Fatal(err)
	}
	garbage := make([]byte, 64<<10)
	for i := range garbage {
		garbage[i] = byte(i*7 + i/13)
	}
	otherBolt := filepath.Join(dir, "other.db")
	db, err := bolt.Open(otherBolt, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	db.Update(func(tx *bolt.Tx) error { _, err := tx.CreateBucket([]byte("users")); return err })
	db.Close()
	other, _ := os.ReadFile(otherBolt)

	tests := []struct {
		name    string
		content []byte
		want    string
	}{
		{"Garbage", garbage, "corrupt"},
		{"Text", []byte("not a database\n"), "corrupt"},
		{"AnotherBoltDatabase", other, "not a Herald event log"},
		{"HeaderOnly", valid[:8192], "corrupt"},
		{"ScrambledMetaPages", scramble(valid, 0, 8192), "corrupt"},
		{"ScrambledDataPages", scramble(valid, 16384, len(valid)), "corrupt"},
		{"Truncated", valid[:len(valid)/2], "corrupt"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "herald.db")
			if err := os.WriteFile(path, tt.content, 0o600); err != nil {
				t.Fatal(err)
			}
			l, err := Open(path, Options{})
			if err == nil {
				l.Close()
				t.Fatal("Open accepted the file")
			}
			t.Log(err)
			if !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Open: %v; want an error naming %s and saying %q", err, path, tt.want)
			}
			after, _ := os.ReadFile(path)
			if !slices.Equal(after, tt.content) {
				t.Fatal("Open changed the file it refused")
			}
		})
	}
}

// scramble returns a copy of b with bytes [from, to) overwritten.
func scramble(b []byte, from, to int) []byte {
	b = slices.Clone(b)
	for i := from; i < to; i++ {
		b[i] ^= 0x5a
	}
	return b
}

func TestOpenRefusesAFileInUse(t *testing.T) {
	old := lockTimeout
	lockTimeout = 50 * time.Millisecond
	t.Cleanup(func() { lockTimeout = old })
	path := filepath.Join(t.TempDir(), "herald.db")
	openTest(t, path, Options{})
	l, err := Open(path, Options{})
	if err == nil {
		l.Close()
		t.Fatal("a second Open of the same file succeeded")
	}
	if !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), "in use") {
		t.Fatalf("second Open: %v; want an error naming the file and saying it is in use", err)
	}
}

func TestOpenReportsAnUnusablePath(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "file")
	os.WriteFile(file, nil, 0o600)
	for _, path := range []string{dir, filepath.Join(file, "herald.db")} {
		l, err := Open(path, Options{})
		if err == nil {
			l.Close()
			t.Fatalf("Open(%q) succeeded", path)
		}
		if !strings.Contains(err.Error(), path) && !strings.Contains(err.Error(), file) {
			t.Fatalf("Open(%q): %v; want the path named", path, err)
		}
	}
}

func TestAppendFailsWithContextErrorWhenCancelledBeforeTheWriterTakesIt(t *testing.T) {
	l := openTest(t, filepath.Join(t.TempDir(), "herald.db"), Options{})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := l.Append(ctx, eventlog.Update{ID: "x", Topics: []string{"t"}}); !errors.Is(err, context.Canceled) {
		t.Fatalf("Append with a cancelled context: %v", err)
	}
	if got := mustSince(t, l, eventlog.Earliest); len(got) != 0 {
		t.Fatalf("a cancelled Append stored %q", got)
	}
}

func TestAppendsRacingCloseAreStoredOrFailWithErrClosed(t *testing.T) {
	path := filepath.Join(t.TempDir(), "herald.db")
	l, err := Open(path, Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var acked []string
	var wg sync.WaitGroup
	started := make(chan struct{}, 8)
	for w := range 8 {
		wg.Go(func() {
			for i := 0; i < 10_000; i++ {
				u, err := l.Append(context.Background(), eventlog.Update{ID: fmt.Sprint(w, "-", i), Topics: []string{"t"}})
				if errors.Is(err, eventlog.ErrClosed) {
					return
				}
				if err != nil {
					t.Errorf("Append: %v", err)
					return
				}
				mu.Lock()
				acked = append(acked, u.ID)
				mu.Unlock()
				if i == 10 {
					started <- struct{}{}
				}
			}
		})
	}
	for range 8 {
		<-started
	}
	l.Close()
	wg.Wait()
	l = openTest(t, path, Options{})
	stored := mustSince(t, l, eventlog.Earliest)
	slices.Sort(stored)
	slices.Sort(acked)
	if !slices.Equal(stored, acked) {
		t.Fatalf("stored %d updates, acknowledged %d: they differ", len(stored), len(acked))
	}
}

func ids(us []eventlog.Update) []string {
	out := make([]string, len(us))
	for i, u := range us {
		out[i] = u.ID
	}
	return out
}

func diffUpdate(got, want eventlog.Update) string {
	switch {
	case got.Seq != want.Seq || got.ID != want.ID:
		return fmt.Sprintf("Seq/ID %d/%q, want %d/%q", got.Seq, got.ID, want.Seq, want.ID)
	case !slices.Equal(got.Topics, want.Topics) || got.Data != want.Data || got.Type != want.Type:
		return fmt.Sprintf("got %+v, want %+v", got, want)
	case got.Retry != want.Retry || got.Private != want.Private || !got.Time.Equal(want.Time):
		return fmt.Sprintf("got %+v, want %+v", got, want)
	}
	return ""
}
