package boltlog

import (
	"context"
	"path/filepath"
	"slices"
	"testing"

	bolt "go.etcd.io/bbolt"

	"github.com/heraldhub/herald/eventlog"
)

func TestRestartKeepsReusedIDsAndTheirNextOccurrence(t *testing.T) {
	path := filepath.Join(t.TempDir(), "herald.db")
	l, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	mustAppend(t, l, "x")
	mustAppend(t, l, "y")
	if got := fileFormat(t, l); got != formatName {
		t.Fatalf("format %q before any reuse, want %q (readable by an older Herald)", got, formatName)
	}
	for _, data := range []string{"C", "D"} {
		if _, err := l.Append(context.Background(), eventlog.Update{ID: "x", Topics: []string{"t"}, Data: data, ReuseID: true}); err != nil {
			t.Fatalf("Append reusing %q: %v", "x", err)
		}
	}
	if got := fileFormat(t, l); got != formatReused {
		t.Fatalf("format %q after a reuse, want %q", got, formatReused)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}

	l, err = Open(path, Options{})
	if err != nil {
		t.Fatalf("reopening a file with reused ids: %v", err)
	}
	if got, want := mustSince(t, l, "x"), []string{"y", "x", "x"}; !slices.Equal(got, want) {
		t.Fatalf("after restart, Since(x) = %q, want %q", got, want)
	}
	l.Close()

	// Reopened with a smaller count, retention drops x's first occurrence
	// and y: x resolves to its next occurrence, C.
	l = openTest(t, path, Options{RetainCount: 2})
	eventually(t, "retention did not catch up with a smaller count", func() bool {
		got, err := since(t, l, eventlog.Earliest)
		return err == nil && len(got) == 2
	})
	var resumed []string
	from, err := l.Since(context.Background(), "x", func(u eventlog.Update) bool { resumed = append(resumed, u.Data); return true })
	if err != nil || from.Data != "C" || !slices.Equal(resumed, []string{"D"}) {
		t.Fatalf("Since(x) once its first occurrence is gone: from %q, yielded %q, err %v; want from C, [D]", from.Data, resumed, err)
	}
	l.Close()
	l = openTest(t, path, Options{RetainCount: 2})
	if got := mustSince(t, l, "x"); len(got) != 1 {
		t.Fatalf("after another restart, Since(x) = %q, want D only", got)
	}
}

// fileFormat reads the format marker of l's file.
func fileFormat(t *testing.T, l *Log) string {
	t.Helper()
	var f string
	if err := l.db.View(func(tx *bolt.Tx) error {
		f = string(tx.Bucket(bucketMeta).Get(keyFormat))
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return f
}
