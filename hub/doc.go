// Package hub fans updates out to subscribers: the heart of Herald.
//
// A Hub publishes by appending to an eventlog.Log and delivers by following
// that log's live tail, so one node and a cluster of nodes sharing a log take
// the same path. Each update is encoded to its SSE frame once; the same bytes
// are queued for every matching subscriber. Each subscriber has a bounded
// queue, drained with one write for everything queued: by the goroutine
// serving its HTTP request, or, for an HTTP/1.1 stream detached from
// net/http, by a flusher shared by many streams. An update after a quiet
// spell is written at once; while updates keep coming, a stream is written
// at most once per batch window (Config.BatchWindow), so under load each
// write carries several updates. A subscriber whose queue
// overflows is disconnected rather than waited for: it reconnects with its
// last event id and catches up from the log, so no publisher is slowed and
// nothing is lost while the log retains it.
//
// The hub is the fan-out core: topics, subscriptions, their queues, and
// the switch from replay to live. Detached streams are served by its
// connection engine, package hub/detach, behind a small interface (a
// stream takes its subscriber's queue); the rules both serving modes
// follow, batching, heartbeats and when a client is too slow, are that
// package's Policy.
//
// Subscribers select topics with Selectors: Mercure 0.x selectors (an
// exact topic or a URI template, ParseSelector) and Mercure 1.0 matchers
// (exact or WHATWG URL Pattern, ParseMatcher) alike, "*" matching every
// topic; one index evaluates each distinct compiled selector once per
// update for all its subscribers.
//
// Embedding a hub in a Go net/http server takes two calls: New, and Stream
// from a handler (package mercure provides the full protocol handler).
// Publishing from Go is one call: Publish.
package hub
