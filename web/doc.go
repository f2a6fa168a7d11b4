// Package web serves Herald's pages from the binary itself (go:embed, no
// build step): the landing page, which is the classic "Update Data" status
// demo done right, and herald.js, the browser helper (an ES module) that
// follows a job or any topic over EventSource, reopens the stream if the
// browser gives up, drops stale snapshots by seq, and renders a
// <herald-progress> element with stage, bar, percent, a counting-down ETA,
// the final state and a visible "reconnecting…".
//
// The demo's data query runs on the server over a dataset generated at
// start-up from a fixed seed, in three weighted stages (loading, filtering
// by the page's bounding box, aggregating), and reports them through the
// jobs package on topics "jobs/demo-…", so every tab sees the same status,
// a reload mid-query shows the current stage at once (the hub sends the
// job's snapshot first), and a click while a query runs joins it. The
// browser needs no token: the server publishes. At most one query runs at a
// time on each node.
package web
