// Package push delivers updates to backends that cannot hold an SSE
// connection: a push subscription names a callback URL and topic
// selectors, and Herald POSTs each matching update to it (through package
// internal/outbound: signed, retried, allowlisted), in log order, at least
// once.
//
// Everything a subscription is lives in the event log, on the reserved
// private topic TopicPrefix+id: its definition when it is created, a
// cursor record (the last delivered event id) after each delivery, and
// records of its pauses, resumptions and deletion. A node rebuilds its
// subscriptions by replaying the log at start (Recover) and resumes each
// from its cursor, so a crash repeats at most the deliveries in flight and
// loses none. The topics are under the hub's path, where no publisher may
// publish, and a subscription's secret is sealed with a key only the node
// that created it holds (Config.SecretKey).
//
// In a cluster the node that created a subscription delivers it; every
// node knows it (from the log) and answers for it. Taking over the
// subscriptions of a node that is gone for good is not done: recreate them
// on another node.
package push
