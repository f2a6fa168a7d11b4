// Package natslog is an eventlog.Log on a NATS JetStream stream, for a
// cluster of Herald nodes that share one log.
//
// # What it guarantees
//
//   - Order: Seq is the stream sequence JetStream assigns, totally ordered
//     across every node publishing to the stream.
//   - Unique ids, atomically: each update is published on a subject derived
//     from a hash of its id, with the expectation that the subject holds no
//     message yet (Nats-Expected-Last-Subject-Sequence: 0); JetStream
//     refuses a duplicate even when several nodes publish it at once. The
//     same subject finds an id's sequence when a subscriber resumes.
//   - Retention: the stream keeps at most the configured count (MaxMsgs,
//     oldest discarded) and, if set, drops updates older than the configured
//     age (MaxAge). Storage is on file.
//   - Durability is JetStream's: an update is acknowledged once the stream
//     has stored it (on a replicated stream, once a quorum has).
//   - Outages: the client does not buffer publications while disconnected,
//     so an append fails quickly with eventlog.ErrUnavailable instead of
//     being acknowledged and lost. Tails use ordered consumers, which resume
//     after the last sequence delivered when the connection comes back.
package natslog
