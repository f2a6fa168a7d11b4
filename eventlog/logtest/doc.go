// Package logtest is the conformance suite every eventlog.Log
// implementation passes. A backend's tests call Run with a Factory that
// opens a fresh, empty log:
//
//	func TestConformance(t *testing.T) {
//		logtest.Run(t, func(t *testing.T, retain int) eventlog.Log {
//			l, err := boltlog.Open(filepath.Join(t.TempDir(), "herald.db"),
//				boltlog.Options{RetainCount: retain})
//			if err != nil {
//				t.Fatal(err)
//			}
//			return l
//		})
//	}
//
// Each subtest opens its own log, so a Factory may use the subtest's t to
// skip (a backend that is not reachable), to register cleanups, or to name
// its stream (see UniqueName). Run closes every log it opens.
//
// The suite checks what eventlog.Log promises: ordering and strictly
// increasing Seq, generated and publisher-supplied ids, duplicate,
// reused (eventlog.Update.ReuseID) and invalid ids, Since after every retained id, Earliest, unknown and
// expired ids, exact retention by count, many concurrent appenders, Follow
// positioned at its return, cancellation and Close, and that every Update
// field survives the round trip. Every wait is bounded (see Wait), so a
// broken backend fails rather than hangs; against the memory log the whole
// suite takes well under a second.
package logtest
