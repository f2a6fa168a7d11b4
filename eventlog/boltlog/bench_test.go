package boltlog

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/heraldhub/herald/eventlog"
)

// benchUpdate is a typical small update: one topic, 100 bytes of data.
var benchUpdate = eventlog.Update{Topics: []string{"https://example.com/books/1"}, Data: strings.Repeat("d", 100)}

// publish appends b.N updates from publishers goroutines and reports
// appends/s.
func publish(b *testing.B, publishers int, add func() error) {
	b.Helper()
	var next atomic.Int64
	var wg sync.WaitGroup
	b.ResetTimer()
	for range publishers {
		wg.Go(func() {
			for next.Add(1) <= int64(b.N) {
				if err := add(); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "appends/s")
}

func BenchmarkAppend(b *testing.B) {
	for _, noSync := range []bool{false, true} {
		for _, publishers := range []int{1, 64} {
			b.Run(fmt.Sprintf("sync=%v/publishers=%d", !noSync, publishers), func(b *testing.B) {
				l, err := Open(filepath.Join(b.TempDir(), "herald.db"), Options{NoSync: noSync})
				if err != nil {
					b.Fatal(err)
				}
				defer l.Close()
				b.ReportAllocs()
				publish(b, publishers, func() error {
					_, err := l.Append(context.Background(), benchUpdate)
					return err
				})
			})
		}
	}
}

// BenchmarkBBoltBatch does the same writes as BenchmarkAppend through
// bbolt's own DB.Batch (default 10 ms delay, 1000 per batch), the
// alternative to the log's writer goroutine.
func BenchmarkBBoltBatch(b *testing.B) {
	for _, publishers := range []int{1, 64} {
		b.Run(fmt.Sprintf("sync=true/publishers=%d", publishers), func(b *testing.B) {
			db, err := bolt.Open(filepath.Join(b.TempDir(), "batch.db"), 0o600, nil)
			if err != nil {
				b.Fatal(err)
			}
			defer db.Close()
			db.Update(func(tx *bolt.Tx) error {
				tx.CreateBucket(bucketUpdates)
				tx.CreateBucket(bucketIDs)
				return nil
			})
			publish(b, publishers, func() error {
				return db.Batch(func(tx *bolt.Tx) error {
					ups := tx.Bucket(bucketUpdates)
					seq, _ := ups.NextSequence()
					u := benchUpdate
					u.ID, u.Seq = eventlog.NewTimeID(time.Now()), seq
					if err := ups.Put(seqKey(seq), appendRecord(nil, &u)); err != nil {
						return err
					}
					return tx.Bucket(bucketIDs).Put([]byte(u.ID), seqKey(seq))
				})
			})
		})
	}
}

// fill appends n updates to a fresh log retaining them all.
func fill(b *testing.B, n int) string {
	b.Helper()
	path := filepath.Join(b.TempDir(), "herald.db")
	l, err := Open(path, Options{NoSync: true, RetainCount: n})
	if err != nil {
		b.Fatal(err)
	}
	var wg sync.WaitGroup
	for range 16 {
		wg.Go(func() {
			for range n / 16 {
				if _, err := l.Append(context.Background(), benchUpdate); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	if err := l.Close(); err != nil {
		b.Fatal(err)
	}
	return path
}

func BenchmarkSince(b *testing.B) {
	const n = 100_000
	l, err := Open(fill(b, n), Options{RetainCount: n})
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	b.ReportAllocs()
	b.ResetTimer()
	total := 0
	for b.Loop() {
		if _, err := l.Since(context.Background(), eventlog.Earliest, func(eventlog.Update) bool { total++; return true }); err != nil {
			b.Fatal(err)
		}
	}
	if total != b.N*n {
		b.Fatalf("replayed %d updates, want %d", total, b.N*n)
	}
	b.ReportMetric(float64(total)/b.Elapsed().Seconds(), "updates/s")
}

func BenchmarkOpen(b *testing.B) {
	const n = 100_000
	path := fill(b, n)
	b.ResetTimer()
	for b.Loop() {
		l, err := Open(path, Options{RetainCount: n})
		if err != nil {
			b.Fatal(err)
		}
		l.Close()
	}
	b.ReportMetric(n, "updates")
}
