// Package web serves herald.js from the binary itself (go:embed, no build
// step): the browser helper (an ES module) that follows a job or any topic
// over EventSource, reopens the stream if the browser gives up, drops
// stale snapshots by seq, and renders a <herald-progress> element with
// stage, bar, percent, a counting-down ETA, the final state and a visible
// "reconnecting…". The node's landing page, which uses it, is
// internal/demo.
package web
