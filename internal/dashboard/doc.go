// Package dashboard serves Herald's live dashboard: a page at /dashboard
// and the stream that feeds it, /dashboard/stream.
//
// A Dashboard samples its node once a second: the node's Prometheus
// registry (subscribers, updates, deliveries, slow-consumer disconnects,
// replays, log append latency), its jobs, and what it sees in the log's
// tail (Observe): the busiest topics over the last minute (a bounded
// space-saving count), the recent updates, and the reports of the other
// nodes. It keeps an hour of one-second samples. Every ReportEvery the node
// appends its own numbers as a private update on a reserved topic under
// TopicPrefix, so a dashboard on any node of a cluster shows the nodes
// heard of in the last 15 seconds.
//
// The page is public HTML; its data is not. The stream needs a token the
// node's publisher verifier accepts, in the Authorization header (the page
// reads it with fetch, since EventSource cannot send headers). The recent
// updates of a topic include its private ones only if that token's
// subscribe grants allow them (package internal/authz, the hub's one
// policy).
package dashboard
