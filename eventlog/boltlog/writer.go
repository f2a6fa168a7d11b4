package boltlog

import (
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/heraldhub/herald/eventlog"
)

// write is the writer goroutine: it takes the appends waiting when it is
// free (up to maxBatch), commits them in one transaction, which also trims
// a bounded chunk of expired updates, and answers each. While it commits,
// new appends queue up for the next batch, so the commit (and fsync) cost
// is shared by everyone who published meanwhile. When there is nothing to
// append it trims on its own: at once if retention is behind, and every
// trimTick if updates expire by age.
func (l *Log) write() {
	defer close(l.writerDone)
	var tick <-chan time.Time
	if l.trimTick > 0 {
		t := time.NewTicker(l.trimTick)
		defer t.Stop()
		tick = t.C
	}
	behind := l.overLimit()
	batch := make([]*request, 0, maxBatch)
	for {
		var r *request
		if behind {
			select {
			case r = <-l.reqs:
			case <-l.quit:
				return
			default:
				behind = l.trimOnly()
				continue
			}
		} else {
			select {
			case r = <-l.reqs:
			case <-tick:
				behind = l.trimOnly()
				continue
			case <-l.quit:
				return
			}
		}
		batch = append(batch[:0], r)
	more:
		for len(batch) < maxBatch {
			select {
			case r := <-l.reqs:
				batch = append(batch, r)
			default:
				break more
			}
		}
		behind = l.commit(batch)
		clear(batch)
	}
}

// commit stores batch in one transaction and answers every request in it.
// It reports whether retention is still behind.
func (l *Log) commit(batch []*request) (behind bool) {
	now := l.now().Round(0)
	res := make([]result, len(batch))
	size := 0
	for _, r := range batch {
		size += recordSize(&r.u) + 2*(len(r.u.ID)+1+8) + 2*len("urn:uuid:00000000-0000-4000-8000-000000000000")
	}
	// Keys and values must stay valid until the commit: they all live in
	// one arena sized up front, so appending never moves them.
	// (Were it to grow anyway, earlier slices keep the old array.)
	arena := make([]byte, 0, size)
	next, first := l.next, l.first
	err := l.db.Update(func(tx *bolt.Tx) error {
		ups, ids, meta := tx.Bucket(bucketUpdates), tx.Bucket(bucketIDs), tx.Bucket(bucketMeta)
		// Both keys grow (Seq, and mostly time-ordered ids): fill pages.
		ups.FillPercent, ids.FillPercent = appendFill, appendFill
		for i, r := range batch {
			if err := r.ctx.Err(); err != nil {
				res[i].err = err
				continue
			}
			u, reuse := r.u, false
			u.ReuseID = false
			if u.ID == "" {
				u.ID = eventlog.NewTimeID(now)
				for ids.Get([]byte(u.ID)) != nil { // a publisher chose this very UUID
					u.ID = eventlog.NewTimeID(now)
				}
			} else if ids.Get([]byte(u.ID)) != nil {
				if !r.u.ReuseID {
					res[i].err = fmt.Errorf("append %q: %w", u.ID, eventlog.ErrDuplicateID)
					continue
				}
				reuse = true
			}
			u.Seq, u.Time = next, now
			start := len(arena)
			arena = binary.BigEndian.AppendUint64(arena, u.Seq)
			key := arena[start:len(arena):len(arena)]
			start = len(arena)
			if reuse {
				arena = reusedKey(arena, u.ID, key)
			} else {
				arena = append(arena, u.ID...)
			}
			id := arena[start:len(arena):len(arena)]
			start = len(arena)
			arena = appendRecord(arena, &u)
			if err := ups.Put(key, arena[start:len(arena):len(arena)]); err != nil {
				return err
			}
			if err := index(tx, reuse, id, key); err != nil {
				return err
			}
			next++
			res[i].u = u
		}
		if err := meta.Put(keyNext, seqKey(next)); err != nil {
			return err
		}
		var err error
		if first, behind, err = l.trim(tx, now, first, next); err != nil {
			return err
		}
		if next == l.next && first == l.first {
			return errNoChange
		}
		return nil
	})
	if errors.Is(err, errNoChange) {
		err = nil
	}
	if err != nil {
		err = fmt.Errorf("%w: commit to %s: %w", eventlog.ErrUnavailable, l.path, err)
		l.log.Warn("event log commit failed", "err", err, "appends", len(batch))
		for i := range res {
			if res[i].err == nil {
				res[i] = result{err: err}
			}
		}
		behind = false
	} else {
		l.next, l.first = next, first
		l.notify()
	}
	for i, r := range batch {
		r.done <- res[i]
	}
	return behind
}

// trimOnly runs a transaction that only applies retention, and reports
// whether it is still behind.
func (l *Log) trimOnly() (behind bool) {
	first := l.first
	err := l.db.Update(func(tx *bolt.Tx) error {
		var err error
		if first, behind, err = l.trim(tx, l.now(), first, l.next); err == nil && first == l.first {
			return errNoChange
		}
		return err
	})
	if errors.Is(err, errNoChange) {
		return false
	}
	if err != nil {
		l.log.Warn("event log trim failed", "err", err, "path", l.path)
		return false
	}
	l.first = first
	return behind
}

// trim deletes, oldest first, up to trimChunk updates that are beyond
// RetainCount or older than RetainAge, in tx. It returns the new oldest
// retained Seq and whether more should go.
func (l *Log) trim(tx *bolt.Tx, now time.Time, first, next uint64) (newFirst uint64, behind bool, err error) {
	excess := int64(next-first) - int64(l.opts.RetainCount)
	var cutoff time.Time
	if l.opts.RetainAge > 0 {
		cutoff = now.Add(-l.opts.RetainAge)
	}
	if excess <= 0 && cutoff.IsZero() {
		return first, false, nil
	}
	ups := tx.Bucket(bucketUpdates)
	type doomed struct{ key, id []byte }
	var drop []doomed
	c := ups.Cursor()
	for k, v := c.First(); k != nil && len(drop) < trimChunk; k, v = c.Next() {
		if int64(len(drop)) >= excess {
			t, err := recordTime(v)
			if err != nil {
				return first, false, fmt.Errorf("update %d: %w", binary.BigEndian.Uint64(k), err)
			}
			if cutoff.IsZero() || !t.Before(cutoff) {
				break
			}
		}
		id, err := recordID(v)
		if err != nil {
			return first, false, fmt.Errorf("update %d: %w", binary.BigEndian.Uint64(k), err)
		}
		drop = append(drop, doomed{key: append([]byte(nil), k...), id: append([]byte(nil), id...)})
	}
	for _, d := range drop {
		if err := ups.Delete(d.key); err != nil {
			return first, false, err
		}
		if err := unindex(tx, d.id, d.key); err != nil {
			return first, false, err
		}
		first = binary.BigEndian.Uint64(d.key) + 1
	}
	if len(drop) == 0 {
		return first, false, nil
	}
	return first, len(drop) == trimChunk, nil
}

// index records, in tx, that the update at key has the id in idKey: as
// the id's first occurrence in the ids bucket, or, with reuse, as a later
// one in the reused bucket (idKey is then its reusedKey), which the first
// reuse in a file creates, marking the file's format.
func index(tx *bolt.Tx, reuse bool, idKey, key []byte) error {
	if !reuse {
		return tx.Bucket(bucketIDs).Put(idKey, key)
	}
	reused := tx.Bucket(bucketReused)
	if reused == nil {
		var err error
		if reused, err = tx.CreateBucket(bucketReused); err != nil {
			return err
		}
		if err := tx.Bucket(bucketMeta).Put(keyFormat, []byte(formatReused)); err != nil {
			return err
		}
	}
	return reused.Put(idKey, []byte{})
}

// unindex forgets, in tx, that the update at key, which retention drops,
// had id. Updates go oldest first, so it is the id's first retained
// occurrence: the id's next occurrence, if any, takes its place in the ids
// bucket; if none, the id is free again.
func unindex(tx *bolt.Tx, id, key []byte) error {
	ids, reused := tx.Bucket(bucketIDs), tx.Bucket(bucketReused)
	if s := ids.Get(id); len(s) != 8 || string(s) != string(key) {
		// Not the id's first occurrence, which retention going oldest
		// first never meets: just let no key of it linger.
		if reused == nil {
			return nil
		}
		return reused.Delete(reusedKey(nil, string(id), key))
	}
	if reused != nil {
		prefix := reusedKey(nil, string(id), nil)
		if k, _ := reused.Cursor().Seek(prefix); len(k) == len(prefix)+8 && string(k[:len(prefix)]) == string(prefix) {
			k = append([]byte(nil), k...) // the cursor's key is not ours past the Delete
			if err := reused.Delete(k); err != nil {
				return err
			}
			return ids.Put(id, k[len(prefix):])
		}
	}
	return ids.Delete(id)
}

// overLimit reports whether more updates are retained than RetainCount
// allows (as after reopening with a smaller count).
func (l *Log) overLimit() bool {
	return l.next-l.first > uint64(l.opts.RetainCount)
}

// notify publishes the writer's new end to tails and replays.
func (l *Log) notify() {
	l.mu.Lock()
	l.last = l.next - 1
	close(l.changed)
	l.changed = make(chan struct{})
	l.mu.Unlock()
}

// errNoChange rolls back a transaction that stored and trimmed nothing,
// sparing the fsync.
var errNoChange = errors.New("nothing to commit")
