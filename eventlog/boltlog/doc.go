// Package boltlog is Herald's embedded, durable event log: an
// eventlog.Log kept in a single bbolt file, for a hub that runs as one
// node and must not forget what it published when it restarts.
//
// # Durability
//
// Append returns only after the transaction holding the update has
// committed and, by default, been synced to disk (fdatasync): an
// acknowledged update survives a crash of the process or of the machine.
// Concurrent appends are grouped: a single writer goroutine commits every
// append waiting when it becomes free in one transaction and one sync, so
// many publishers share the cost of each sync (see BENCHMARKS.md, "The event logs").
//
// With Options.NoSync the sync is skipped. Appends are then acknowledged
// once the operating system has the data; they still survive the process
// being killed (SIGKILL included), but a crash of the machine or a power
// loss can lose the most recently acknowledged updates and can leave the
// file corrupt, in which case Open refuses it. Use NoSync for throughput
// when recent history may be lost, never when acknowledged means kept.
//
// # What survives a restart
//
// Everything retained: updates, their ids (publisher-supplied or
// generated), the id index used by Since and duplicate detection, and the
// Seq counter, which continues where it left off (even if retention had
// dropped every update). Generated ids are time-ordered random UUIDs
// (version 7, "urn:uuid:…"), unique across restarts and files. Tails do
// not survive: Follow anew.
//
// # Retention
//
// The log keeps the last Options.RetainCount updates (DefaultRetainCount
// by default) and, if Options.RetainAge is set, only those appended within
// it. Expired updates are deleted, oldest first, in bounded chunks inside
// the writer's own transactions, and on a timer when nobody publishes, so
// publishers never wait for a large cleanup. Ids of deleted updates are
// forgotten: Since with one gives ErrUnknownID, and the id may be used
// again.
//
// # Reused ids
//
// An update appended with eventlog.Update.ReuseID and an id already
// retained is stored like any other; the ids bucket keeps pointing at the
// id's first retained occurrence, which Since resumes after, and the
// reused bucket records the later ones. When retention deletes the first
// occurrence, the next retained one takes its place, so the id resolves
// to it; once none is retained the id is forgotten as above.
//
// # Files
//
// Open creates the file and its parent directories if missing. It refuses
// a file that is corrupt, that is not a Herald event log, or that another
// process holds open, with an error naming the file; it never resets one.
// The layout (buckets "meta", "updates" keyed by Seq, "ids" and, once an
// id is reused, "reused") is described in boltlog.go and the record
// encoding in record.go. Files written before reused ids existed read
// unchanged. A file's format marker stays "herald-eventlog-1" until an id
// is first reused in it, when it becomes "herald-eventlog-2", which an
// older Herald refuses as an unknown format.
package boltlog
