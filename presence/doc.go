// Package presence implements the Mercure subscriptions API, in both
// dialects, for a whole cluster.
//
// A Tracker gives each subscription a random subscriber id and, when it
// arrives and when it leaves, appends one private subscription event per
// matcher to the log, in both shapes: the Mercure 1.0 one (topic
// /.well-known/mercure/subscriptions/{match_type}/{match}/{subscriber},
// plain JSON, SSE type "mercure") and the 0.x JSON-LD one (topic
// /.well-known/mercure/subscriptions/{topic}/{subscriber}). Every node
// follows the log and keeps the active subscriptions of all nodes from
// those events; its Handler answers GET /.well-known/mercure/subscriptions
// and below with that list and the event id to resume from.
//
// Each node also appends a private heartbeat every Config.Heartbeat. A node
// not heard of for three intervals is gone: the live node with the lowest
// id publishes the leave events of its subscribers, so they are reported
// gone within four intervals.
package presence
