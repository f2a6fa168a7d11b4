// Package eventlog defines the log every Herald node appends updates to and
// follows: the one source of truth for what was published, in what order.
//
// A Log assigns each update its position (Seq) and id, keeps a bounded,
// retained history that subscribers replay after reconnecting (Since), and
// offers a live tail (Follow) from which every hub node fans updates out.
// Several implementations exist: Memory (in this package, for tests and
// ephemeral use), boltlog (the embedded default), redislog and natslog (for
// clusters). All of them pass the conformance suite in eventlog/logtest.
package eventlog
