package boltlog

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"

	"github.com/heraldhub/herald/eventlog"
)

// DefaultRetainCount is how many updates a log retains when
// Options.RetainCount is zero or less.
const DefaultRetainCount = 100_000

// Options configure a Log. The zero value is ready to use: it retains the
// last DefaultRetainCount updates of any age and syncs every commit to
// disk.
type Options struct {
	// RetainCount is how many of the most recent updates are kept;
	// zero or less means DefaultRetainCount.
	RetainCount int
	// RetainAge, if positive, also drops updates appended longer ago than
	// this. Zero or less keeps updates of any age.
	RetainAge time.Duration
	// NoSync skips the fsync after each commit: appends are much faster,
	// and a crash of the machine (not of the process) may lose the last
	// acknowledged updates or corrupt the file. See the package doc.
	NoSync bool
	// Logger receives the log's own problems (failed background trims).
	// Nil discards them.
	Logger *slog.Logger
}

// Tuning, measured with the package's benchmarks (BENCHMARKS.md, "The event logs").
const (
	maxBatch    = 1024 // appends committed in one transaction at most
	readChunk   = 256  // updates read per read transaction by Since and Follow
	trimChunk   = 1024 // updates deleted per transaction by retention at most
	appendFill  = 0.9  // bbolt page fill for keys that mostly grow at the end
	minTrimTick = 10 * time.Millisecond
	maxTrimTick = time.Minute
	fileMode    = 0o600
	dirMode     = 0o750
	formatName  = "herald-eventlog-1"
	// formatReused marks a file that holds the reused bucket: an older
	// Herald, which does not know it, refuses the file as of an unknown
	// format rather than as corrupt. Files without reused ids keep
	// formatName, and both read the same way.
	formatReused = "herald-eventlog-2"
)

// lockTimeout is how long Open waits for another process to release the
// file (a variable so tests need not wait).
var lockTimeout = 2 * time.Second

var (
	bucketMeta    = []byte("meta")
	bucketUpdates = []byte("updates") // Seq (8 bytes, big-endian) -> record
	bucketIDs     = []byte("ids")     // id -> Seq (8 bytes, big-endian) of its first retained update
	bucketReused  = []byte("reused")  // id, NUL, Seq (8 bytes, big-endian) -> empty: its later updates (ReuseID)
	keyFormat     = []byte("format")  // in meta: formatName
	keyNext       = []byte("next")    // in meta: the Seq the next append gets
)

// Log is an eventlog.Log stored in one bbolt file. Appends from all
// goroutines go to a single writer that commits them in batches; Since
// and Follow read committed updates in short read transactions, never
// holding one while calling fn. The updates passed to fn are decoded
// copies: fn may keep them, Topics included.
type Log struct {
	path string
	db   *bolt.DB
	opts Options
	now  func() time.Time
	log  *slog.Logger

	reqs       chan *request // unbuffered: a request is either taken by the writer or not sent
	quit       chan struct{} // closed by Close
	writerDone chan struct{}
	closed     atomic.Bool
	tails      sync.WaitGroup
	overtaken  atomic.Uint64

	mu      sync.Mutex
	last    uint64        // Seq of the last committed update, 0 if none ever
	changed chan struct{} // closed (and replaced) after each commit and on Close

	// Owned by the writer goroutine.
	next     uint64 // Seq of the next append
	first    uint64 // Seq of the oldest retained update; next if none
	trimTick time.Duration
}

var _ eventlog.Log = (*Log)(nil)

// request is one Append waiting for the writer.
type request struct {
	ctx  context.Context
	u    eventlog.Update
	done chan result // buffered: the writer never waits for the caller
}

type result struct {
	u   eventlog.Update
	err error
}

// Open opens the log stored at path, creating the file and its parent
// directories if missing, and starts its writer. Seq and ids continue
// where the file left off. A file that is not a Herald event log, is
// corrupt or cannot be read gives an error naming it; it is never reset.
// A file held open by another process gives an error after a short wait.
func Open(path string, opts Options) (*Log, error) {
	return open(path, opts, time.Now, 0)
}

// open is Open with an injectable clock and background trim interval
// (zero: derived from RetainAge).
func open(path string, opts Options, now func() time.Time, trimTick time.Duration) (*Log, error) {
	if opts.RetainCount <= 0 {
		opts.RetainCount = DefaultRetainCount
	}
	if opts.RetainAge < 0 {
		opts.RetainAge = 0
	}
	l := &Log{
		path:       path,
		opts:       opts,
		now:        now,
		log:        opts.Logger,
		reqs:       make(chan *request),
		quit:       make(chan struct{}),
		writerDone: make(chan struct{}),
		changed:    make(chan struct{}),
		trimTick:   trimTick,
	}
	if l.log == nil {
		l.log = slog.New(slog.DiscardHandler)
	}
	if l.trimTick == 0 && opts.RetainAge > 0 {
		l.trimTick = min(max(opts.RetainAge/8, minTrimTick), maxTrimTick)
	}
	if err := os.MkdirAll(filepath.Dir(path), dirMode); err != nil {
		return nil, fmt.Errorf("boltlog: create the directory for %s: %w", path, err)
	}
	if err := l.load(); err != nil {
		return nil, err
	}
	go l.write()
	return l, nil
}

// load opens the file, checks every stored update and reads where the
// log stands. A corrupt file can make bbolt panic or fault on its mapping:
// that is reported as an error too (leaving the file's descriptor open,
// as bbolt's state is then unknown).
func (l *Log) load() (err error) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("boltlog: open %s: the file is corrupt (%v); move it away to start an empty log", l.path, p)
		}
	}()
	db, err := bolt.Open(l.path, fileMode, &bolt.Options{
		Timeout:      lockTimeout,
		NoSync:       l.opts.NoSync,
		FreelistType: bolt.FreelistMapType,
	})
	switch {
	case errors.Is(err, berrors.ErrTimeout):
		return fmt.Errorf("boltlog: open %s: the file is in use by another process", l.path)
	case errors.Is(err, berrors.ErrInvalid), errors.Is(err, berrors.ErrChecksum), errors.Is(err, berrors.ErrVersionMismatch):
		return fmt.Errorf("boltlog: open %s: the file is corrupt or not an event log (%w); move it away to start an empty log", l.path, err)
	case err != nil:
		return fmt.Errorf("boltlog: open %s: %w", l.path, err)
	}
	l.db = db
	fresh := false
	err = db.View(func(tx *bolt.Tx) error {
		if tx.Bucket(bucketMeta) == nil {
			fresh = true
			return tx.ForEach(func(name []byte, _ *bolt.Bucket) error {
				return fmt.Errorf("not a Herald event log (it holds bucket %q)", name)
			})
		}
		return l.check(tx)
	})
	if err == nil && fresh {
		err = db.Update(l.create)
	}
	if err != nil {
		db.Close()
		return fmt.Errorf("boltlog: open %s: %w", l.path, err)
	}
	l.last = l.next - 1
	return nil
}

// check verifies an existing log in tx, reading every update and id, and
// sets l.next and l.first.
func (l *Log) check(tx *bolt.Tx) error {
	meta := tx.Bucket(bucketMeta)
	if f := meta.Get(keyFormat); string(f) != formatName && string(f) != formatReused {
		return fmt.Errorf("unknown format %q, want %q or %q (is it from a newer Herald?)", f, formatName, formatReused)
	}
	ups, ids, next := tx.Bucket(bucketUpdates), tx.Bucket(bucketIDs), meta.Get(keyNext)
	reused := tx.Bucket(bucketReused)
	if ups == nil || ids == nil || len(next) != 8 {
		return errors.New("the file is corrupt: an event log with missing parts")
	}
	l.next = binary.BigEndian.Uint64(next)
	l.first = l.next
	n, indexed := 0, 0
	err := ups.ForEach(func(k, v []byte) error {
		if len(k) != 8 {
			return fmt.Errorf("the file is corrupt: update key %x", k)
		}
		seq := binary.BigEndian.Uint64(k)
		if n == 0 {
			l.first = seq
		}
		if seq != l.first+uint64(n) || seq >= l.next {
			return fmt.Errorf("the file is corrupt: update %d out of sequence", seq)
		}
		u, err := decodeRecord(seq, v)
		if err != nil {
			return fmt.Errorf("the file is corrupt: %w", err)
		}
		switch s := ids.Get([]byte(u.ID)); {
		case string(s) == string(k):
			indexed++
		case len(s) != 8 || binary.BigEndian.Uint64(s) >= seq || reused == nil || reused.Get(reusedKey(nil, u.ID, k)) == nil:
			return fmt.Errorf("the file is corrupt: id of update %d not indexed", seq)
		}
		n++
		return nil
	})
	if err != nil {
		return err
	}
	if got := ids.Stats().KeyN; got != indexed {
		return fmt.Errorf("the file is corrupt: %d ids for %d first occurrences", got, indexed)
	}
	if reused != nil {
		if got := reused.Stats().KeyN; got != n-indexed {
			return fmt.Errorf("the file is corrupt: %d reused ids for %d reusing updates", got, n-indexed)
		}
	}
	return nil
}

// create lays out a new, empty log in tx.
func (l *Log) create(tx *bolt.Tx) error {
	meta, err := tx.CreateBucket(bucketMeta)
	if err != nil {
		return err
	}
	if _, err := tx.CreateBucket(bucketUpdates); err != nil {
		return err
	}
	if _, err := tx.CreateBucket(bucketIDs); err != nil {
		return err
	}
	if err := meta.Put(keyFormat, []byte(formatName)); err != nil {
		return err
	}
	l.next, l.first = 1, 1
	return meta.Put(keyNext, seqKey(1))
}

// Append stores u and returns it with Seq, Time and, if u.ID is empty, a
// time-ordered random UUID URN (version 7, "urn:uuid:…") as ID. It returns once the transaction
// holding u has committed (and, unless NoSync, reached the disk), or with
// ErrDuplicateID (a retained u.ID without u.ReuseID), an invalid-id error, ErrClosed, ctx's error if ctx ends
// before the writer takes u, or an error wrapping ErrUnavailable if the
// commit fails; on error nothing is stored.
func (l *Log) Append(ctx context.Context, u eventlog.Update) (eventlog.Update, error) {
	if err := ctx.Err(); err != nil {
		return eventlog.Update{}, err
	}
	if l.closed.Load() {
		return eventlog.Update{}, eventlog.ErrClosed
	}
	if err := checkID(u.ID); err != nil {
		return eventlog.Update{}, err
	}
	r := &request{ctx: ctx, u: u, done: make(chan result, 1)}
	select {
	case l.reqs <- r:
	case <-l.quit:
		return eventlog.Update{}, eventlog.ErrClosed
	case <-ctx.Done():
		return eventlog.Update{}, ctx.Err()
	}
	// The writer answers every request it took, within one commit.
	res := <-r.done
	return res.u, res.err
}

// Since implements eventlog.Log.Since. It reads readChunk updates per
// read transaction and calls fn between them, so fn may Append. If
// retention drops an update before the replay reaches it, Since returns
// an error wrapping ErrUnknownID.
func (l *Log) Since(ctx context.Context, id string, fn func(eventlog.Update) bool) (eventlog.Update, error) {
	if l.closed.Load() {
		return eventlog.Update{}, eventlog.ErrClosed
	}
	end := l.lastCommitted()
	var from eventlog.Update
	var after uint64
	err := l.view(func(tx *bolt.Tx) error {
		if id == eventlog.Earliest {
			k, _ := tx.Bucket(bucketUpdates).Cursor().First()
			if k == nil {
				after = end
			} else {
				after = binary.BigEndian.Uint64(k) - 1
			}
			return nil
		}
		v := tx.Bucket(bucketIDs).Get([]byte(id))
		if len(v) != 8 {
			return fmt.Errorf("since %q: %w", id, eventlog.ErrUnknownID)
		}
		after = binary.BigEndian.Uint64(v)
		var err error
		from, err = readAt(tx, after)
		return err
	})
	if err != nil {
		return eventlog.Update{}, err
	}
	var buf []eventlog.Update
	for after < end {
		if err := ctx.Err(); err != nil {
			return eventlog.Update{}, err
		}
		if buf, err = l.read(buf[:0], after, end); err != nil {
			return eventlog.Update{}, fmt.Errorf("since %q: %w", id, err)
		}
		for _, u := range buf {
			if !fn(u) {
				return from, nil
			}
		}
		after = buf[len(buf)-1].Seq
	}
	return from, nil
}

// Follow implements eventlog.Log.Follow: the tail is woken by each commit
// of this Log (it does not see appends made through another Log on the
// same file, which bbolt's lock prevents anyway). fn must not call Close.
// A tail whose next update is dropped by retention before it reads it
// stops, closing done; Overtaken counts such tails.
func (l *Log) Follow(ctx context.Context, fn func(eventlog.Update)) (<-chan struct{}, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed.Load() {
		return nil, eventlog.ErrClosed
	}
	done := make(chan struct{})
	l.tails.Add(1)
	go l.tail(ctx, l.last, fn, done)
	return done, nil
}

// tail passes every update after Seq after to fn until ctx is done, the
// log is closed or retention overtakes it.
func (l *Log) tail(ctx context.Context, after uint64, fn func(eventlog.Update), done chan<- struct{}) {
	defer l.tails.Done()
	defer close(done)
	var buf []eventlog.Update
	for {
		l.mu.Lock()
		changed, end := l.changed, l.last
		l.mu.Unlock()
		if l.closed.Load() {
			return
		}
		if after == end {
			select {
			case <-ctx.Done():
				return
			case <-changed:
				continue
			}
		}
		var err error
		if buf, err = l.read(buf[:0], after, end); err != nil {
			if !errors.Is(err, eventlog.ErrClosed) {
				l.log.Warn("event log tail stopped", "err", err)
			}
			return
		}
		for _, u := range buf {
			if ctx.Err() != nil || l.closed.Load() {
				return
			}
			fn(u)
		}
		after = buf[len(buf)-1].Seq
	}
}

// read appends to dst up to readChunk updates with Seq in (after, end],
// which must be non-empty, in one read transaction. It fails with an
// error wrapping ErrUnknownID if the update after after is no longer
// retained.
func (l *Log) read(dst []eventlog.Update, after, end uint64) ([]eventlog.Update, error) {
	err := l.view(func(tx *bolt.Tx) error {
		c := tx.Bucket(bucketUpdates).Cursor()
		k, v := c.Seek(seqKey(after + 1))
		if k == nil || binary.BigEndian.Uint64(k) != after+1 {
			l.overtaken.Add(1)
			return fmt.Errorf("update %d was dropped by retention before it was read: %w", after+1, eventlog.ErrUnknownID)
		}
		for ; k != nil && len(dst) < readChunk; k, v = c.Next() {
			seq := binary.BigEndian.Uint64(k)
			if seq > end {
				break
			}
			u, err := decodeRecord(seq, v)
			if err != nil {
				return err
			}
			dst = append(dst, u)
		}
		return nil
	})
	return dst, err
}

// readAt decodes the update stored at seq, within tx.
func readAt(tx *bolt.Tx, seq uint64) (eventlog.Update, error) {
	v := tx.Bucket(bucketUpdates).Get(seqKey(seq))
	if v == nil {
		return eventlog.Update{}, fmt.Errorf("update %d was dropped by retention: %w", seq, eventlog.ErrUnknownID)
	}
	return decodeRecord(seq, v)
}

// view runs fn in a read transaction, reporting a closed database as
// ErrClosed.
func (l *Log) view(fn func(*bolt.Tx) error) error {
	err := l.db.View(fn)
	if errors.Is(err, berrors.ErrDatabaseNotOpen) {
		return eventlog.ErrClosed
	}
	return err
}

// lastCommitted returns the Seq of the last committed update.
func (l *Log) lastCommitted() uint64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.last
}

// Overtaken returns how many tails and replays have stopped because
// retention dropped an update before they read it.
func (l *Log) Overtaken() uint64 { return l.overtaken.Load() }

// Path returns the file the log is stored in.
func (l *Log) Path() string { return l.path }

// Close waits for the writer to finish the transaction in progress,
// fails appends not yet taken with ErrClosed, stops every tail, waits for
// them and closes the file. Calling Close again does nothing and returns
// nil.
func (l *Log) Close() error {
	if !l.closed.CompareAndSwap(false, true) {
		return nil
	}
	close(l.quit)
	<-l.writerDone
	l.mu.Lock()
	close(l.changed)
	l.mu.Unlock()
	l.tails.Wait()
	if err := l.db.Close(); err != nil {
		return fmt.Errorf("boltlog: close %s: %w", l.path, err)
	}
	return nil
}

// checkID returns an error if a publisher-supplied id cannot be stored:
// one eventlog.CheckID refuses, or one too long to be a bbolt key.
func checkID(id string) error {
	if err := eventlog.CheckID(id); err != nil {
		return err
	}
	if len(id) > maxIDLen {
		return fmt.Errorf("append: id of %d bytes, the limit is %d", len(id), maxIDLen)
	}
	return nil
}

// maxIDLen is the longest id stored: its key in the reused bucket, the
// longest, must fit a bbolt key.
const maxIDLen = bolt.MaxKeySize - 1 - 8

// reusedKey appends to dst the key, in the reused bucket, of the update
// with id whose Seq key is seq: id, NUL (which no id contains), seq.
func reusedKey(dst []byte, id string, seq []byte) []byte {
	dst = append(dst, id...)
	dst = append(dst, 0)
	return append(dst, seq...)
}

// seqKey returns the key of the update with Seq seq.
func seqKey(seq uint64) []byte { return binary.BigEndian.AppendUint64(nil, seq) }
