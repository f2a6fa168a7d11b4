package eventlog

import (
	"context"
	"errors"
	"time"
)

// Earliest, passed to Since as the id, replays every retained update.
const Earliest = "earliest"

// Errors that callers of a Log act on. Implementations wrap them, so test
// with errors.Is.
var (
	// ErrUnknownID reports an id that is not in the log: it was never
	// appended, or retention has dropped it.
	ErrUnknownID = errors.New("unknown or expired event id")
	// ErrDuplicateID reports an Append whose publisher-supplied id is
	// already retained in the log.
	ErrDuplicateID = errors.New("event id already in use")
	// ErrClosed reports use of a log after Close.
	ErrClosed = errors.New("event log closed")
	// ErrUnavailable reports that the log's backend cannot be reached; the
	// operation did not happen and may be retried.
	ErrUnavailable = errors.New("event log unavailable")
)

// Update is one published message, as stored in the log.
type Update struct {
	// Seq is the update's position, assigned by Append: strictly
	// increasing in log order and never reused within one log.
	Seq uint64
	// ID is the update's event id. Append keeps a publisher-supplied id
	// (which must be unique among retained updates, unless ReuseID is set)
	// or assigns a unique one.
	// Ids never contain CR, LF or NUL and are never Earliest.
	ID string
	// Topics are the update's topics; the first is canonical.
	Topics []string
	// Data is the payload, sent as the event's data.
	Data string
	// Type is the event type; empty means the default, "message".
	Type string
	// Retry, if positive, is the reconnection delay sent with the event.
	Retry time.Duration
	// Private updates reach only subscribers authorized for one of Topics.
	Private bool
	// Time is when the update was appended, set by Append.
	Time time.Time
	// ReuseID, passed to Append, accepts an ID that is already retained
	// (Mercure 1.0 allows reused ids): the update is stored and sent with
	// that ID, and a resume from the ID resumes after its first retained
	// occurrence. Without it a retained ID gives ErrDuplicateID. When
	// retention drops an id's first occurrence, the id resolves to its next
	// retained one. ReuseID is not stored: updates read back have it false.
	ReuseID bool
}

// Log is an ordered, retained, followable sequence of updates. All methods
// are safe for concurrent use.
type Log interface {
	// Append makes u durable (as far as the implementation promises),
	// assigns its Seq, Time and, if empty, its ID, and returns the stored
	// update. Appends from many goroutines (or nodes) are totally ordered.
	// A non-empty u.ID that is already retained gives ErrDuplicateID,
	// unless u.ReuseID is set; an unreachable backend gives
	// ErrUnavailable. On error nothing is stored. The stored update's
	// ReuseID is false.
	Append(ctx context.Context, u Update) (Update, error)

	// Since calls fn for each retained update after the one whose ID is id
	// (the first retained one, if the id was reused), or for every
	// retained update if id is Earliest, in log order, until
	// fn returns false or the end of the log as of the call is reached. It
	// returns ErrUnknownID, having called fn for nothing, if id is not
	// retained. fn must not retain the update's Topics slice past the call
	// unless the implementation documents otherwise.
	//
	// On success Since also returns from, the update whose ID is id (the
	// zero Update for Earliest), under the same rule for its Topics. The
	// updates with a Seq at or below from.Seq are id's and those before
	// it, and every update fn is passed is above it. A reader that switches
	// from Since to a tail skips the tail's updates at or below from.Seq,
	// so that it never repeats the resume point, even when the replay is
	// empty and the tail has not read that update yet (on a log shared by
	// several nodes, it may not have).
	Since(ctx context.Context, id string, fn func(Update) bool) (from Update, err error)

	// Follow starts a live tail at the log's current end and returns once it
	// is positioned: every update appended after Follow returns, by any
	// writer sharing the log, is then passed to fn, in log order, with no
	// gap and no repeat, from a single goroutine, until ctx is done or the
	// log is closed. A tail rides out backend outages, resuming where it
	// left off. done is closed when the tail has stopped and fn will not
	// be called again. fn should not block for long: the tail waits for it.
	Follow(ctx context.Context, fn func(Update)) (done <-chan struct{}, err error)

	// Close releases the log's resources and stops its tails. Appends,
	// replays and follows after Close return ErrClosed.
	Close() error
}

// Pinger is implemented by logs whose backend can be unreachable. Ping
// returns nil when the backend answers, for readiness checks.
type Pinger interface {
	Ping(ctx context.Context) error
}
