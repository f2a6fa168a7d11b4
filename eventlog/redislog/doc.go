// Package redislog is an eventlog.Log on Redis Streams, for a cluster of
// Herald nodes that share one log.
//
// Every node appends to the same stream and follows it, so an update
// published on any node reaches the subscribers of every node, and an id
// handed out by one node resumes a subscriber on any other. A log is opened
// from a URL, "redis://HOST:PORT/DB?stream=NAME&retain=N" (see Open).
//
// # Layout in Redis
//
// The stream key (default "herald") holds one entry per update, with the
// fields id, topics (a JSON array), data, type, retry (milliseconds) and
// private ("1" or "0"). The hash Stream+":ids" maps each retained update's
// id to its stream id; it is what makes ids unique and what Since resumes
// from. An id appended again with eventlog.Update.ReuseID keeps its index
// entry, the first occurrence, and the hash Stream+":reused" lists its
// later stream ids, oldest first; when retention removes an id's first
// occurrence, the next one takes its place in the index, so the id
// resolves to it. Streams written before reused ids existed read
// unchanged. All these keys must live on one Redis server (not Redis
// Cluster).
//
// # What it guarantees
//
//   - Order: Redis assigns each entry a stream id "ms-n", strictly
//     increasing across every node; Seq is ms<<20 | n, so it is too, and
//     Time is ms. An append that would get an n of 2^20 or more (only
//     possible if Redis's clock stepped far back under heavy load) is
//     refused and stores nothing.
//   - Atomic appends: one Lua script checks the id against the index, adds
//     the entry, records its id and trims the stream to the retained count,
//     exactly (oldest first, removing their ids from the index). A
//     duplicate id is refused, unless reused, even when several nodes
//     append it at once; an id can be used again once retention has
//     dropped every update with it. Generated ids
//     are random UUIDs, unique across nodes.
//   - Replays: Since checks, in the same command that reads each chunk,
//     that the entry it resumes after is still retained; if retention
//     overtakes a replay it ends with eventlog.ErrUnknownID rather than
//     skip updates.
//   - Durability is Redis's: an update is acknowledged once Redis has it in
//     memory; whether it survives a Redis restart depends on the server's
//     persistence settings (AOF with appendfsync always for the strongest).
//   - Outages: a command that cannot reach Redis fails with
//     eventlog.ErrUnavailable within the dial or read timeout (1s and 2s
//     by default) and is never resent behind the caller's back (a resent
//     append could be stored twice), so a publisher is never told "ok" for
//     an update that was not stored. The converse cannot be ruled out: if
//     the connection drops after Redis ran an append but before its reply
//     arrived, the append is reported unavailable yet stored; a publisher
//     that retries with its own id then gets eventlog.ErrDuplicateID.
//     Tails retry with backoff (50ms doubling to 5s) and resume after the
//     last entry they delivered, without a gap, as long as retention still
//     holds what they missed (if not, they log an error and go on).
package redislog
