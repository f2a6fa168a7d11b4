// Package redislog is an eventlog.Log on Redis Streams, for a cluster of
// Herald nodes that share one log.
//
// Every node appends to the same stream and follows it, so an update
// published on any node reaches the subscribers of every node, and an id
// handed out by one node resumes a subscriber on any other.
//
// # What it guarantees
//
//   - Order: Redis assigns each entry a stream id, strictly increasing; Seq
//     is derived from it (milliseconds << 20 | sequence), so it is totally
//     ordered across nodes.
//   - Atomic appends: one Lua script checks the id for uniqueness, adds
//     the entry, records its id in an index hash and trims the stream to
//     the retained count (exactly, removing trimmed ids from the index).
//     A duplicate id is refused even when several nodes append it at once.
//   - Durability is Redis's: an update is acknowledged once Redis has it in
//     memory; whether it survives a Redis restart depends on the server's
//     persistence settings (AOF with appendfsync always for the strongest).
//   - Outages: a command that cannot reach Redis fails at once with
//     eventlog.ErrUnavailable and is never retried behind the caller's back
//     (a retried append could be stored twice), so a publisher is never
//     told "ok" for an update that was not stored. Tails retry with backoff
//     and resume after the last entry they delivered, without a gap.
package redislog
