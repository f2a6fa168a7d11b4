// Package demo is the node's landing page: the classic "Update Data"
// status demo done right, built on herald.js (package web).
//
// The demo's data query runs on the server over a dataset generated at
// start-up from a fixed seed, in three weighted stages (loading, filtering
// by the page's bounding box, aggregating), and reports them through the
// jobs package on topics "jobs/demo-…", so every tab sees the same status,
// a reload mid-query shows the current stage at once (the hub sends the
// job's snapshot first), and a click while a query runs joins it. The
// browser needs no token: the server publishes. At most one query runs at a
// time on each node.
package demo
