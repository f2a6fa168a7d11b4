package loadgen

// Kinds of exactly-once violation a sequence reports.
const (
	// Duplicate is an update received a second time.
	Duplicate = "duplicate"
	// Gap is a jump forward: the updates between were not received (yet).
	Gap = "gap"
	// OutOfOrder is an update received after a later one, or before the
	// subscriber's first.
	OutOfOrder = "out-of-order"
)

// sequence checks one subscriber's deliveries against the exactly-once
// promise: from the first update it receives, every later update once, in
// order of their sequence numbers. It is not safe for concurrent use.
type sequence struct {
	started bool
	first   int64
	next    int64 // one past the highest sequence number received
	// missing holds the numbers skipped by a gap that have not arrived
	// since.
	missing    map[int64]bool
	deliveries int64
	duplicates int64
	outOfOrder int64
}

// see records the delivery of update seq and returns the kind of violation
// it is, or "" if it is the next one expected.
func (s *sequence) see(seq int64) string {
	s.deliveries++
	switch {
	case !s.started:
		s.started, s.first, s.next = true, seq, seq+1
		return ""
	case seq == s.next:
		s.next++
		return ""
	case seq > s.next:
		if s.missing == nil {
			s.missing = map[int64]bool{}
		}
		for n := s.next; n < seq; n++ {
			s.missing[n] = true
		}
		s.next = seq + 1
		return Gap
	case s.missing[seq]:
		delete(s.missing, seq)
		s.outOfOrder++
		return OutOfOrder
	case seq < s.first:
		s.outOfOrder++
		return OutOfOrder
	default:
		s.duplicates++
		return Duplicate
	}
}

// gaps returns how many updates, from the first received to the last of
// published ones (numbered from 0), never arrived.
func (s *sequence) gaps(published int64) int64 {
	if !s.started {
		return 0
	}
	return int64(len(s.missing)) + max(0, published-s.next)
}
