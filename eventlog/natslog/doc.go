// Package natslog is an eventlog.Log on a NATS JetStream stream, for a
// cluster of Herald nodes that share one log.
//
// Every node appends to the same stream and follows it, so an update
// published on any node reaches the subscribers of every node, and an id
// handed out by one node resumes a subscriber on any other. A log is opened
// from a URL, "nats://HOST:PORT?stream=NAME&retain=N&retain_age=D" (see
// Open).
//
// # Layout in JetStream
//
// The stream (default "HERALD") captures the subjects NAME.>, keeps at
// most retain messages (oldest discarded) and, with retain_age, none older
// than that, on file storage. Each update is one message on the subject
// NAME.<hash>, where <hash> is the unpadded base64url SHA-256 of its id;
// the body is the data and headers carry the id and type (percent-encoded,
// since header values lose leading and trailing white space), topics
// (JSON), retry, private flag and time.
//
// # What it guarantees
//
//   - Order: Seq is the stream sequence JetStream assigns, totally ordered
//     across every node publishing to the stream.
//   - Unique ids, atomically: each update is published with the
//     expectation that its subject holds no message yet
//     (Nats-Expected-Last-Subject-Sequence: 0), so JetStream refuses a
//     duplicate, and stores nothing for it, even when several nodes
//     publish the same id at once. Once retention drops every update with
//     an id, the id can be used again. The same subject finds an id's
//     sequence when a subscriber resumes: that of its first retained
//     message (a direct get of the subject's next message from sequence
//     1); the id header is compared too, so a hash collision reads as an
//     unknown id. Generated ids are random UUIDs, unique across nodes.
//   - Reused ids (eventlog.Update.ReuseID): the update is published on its
//     id's subject without the expectation, so the subject holds every
//     retained update with that id, in order. A resume from the id starts
//     after the first of them; once retention drops it, after the next.
//     Streams written before reused ids existed hold one message per
//     subject, the first, and read unchanged.
//   - Replays use an ordered consumer from the id's own sequence and check
//     that sequences follow one another: if retention overtakes a replay,
//     Since ends with eventlog.ErrUnknownID rather than skip updates.
//   - Durability is JetStream's: an update is acknowledged once the stream
//     has stored it (on a replicated stream, once a quorum has); file
//     storage survives a server restart.
//   - Outages: the client does not buffer publications while disconnected,
//     and an append waits at most 3 seconds for the stream's
//     acknowledgement, so it fails quickly with eventlog.ErrUnavailable
//     instead of being acknowledged and lost. The converse cannot be ruled
//     out: an append whose acknowledgement is lost is reported unavailable
//     yet stored; a publisher that retries with its own id then gets
//     eventlog.ErrDuplicateID. Tails use ordered consumers, which resume
//     after the last sequence delivered once the connection comes back
//     (the client reconnects every 250ms, forever, and pings the server
//     every 10 seconds to notice one that stopped answering). If
//     retention dropped updates a tail had not delivered, it logs an error
//     and goes on.
package natslog
