// Package web serves Herald's pages from the binary itself (go:embed, no
// build step): the landing page, which is the classic "Update Data" status
// demo done right, and herald.js, the browser helper that follows a job or
// any topic over EventSource and renders a <herald-progress> element.
//
// The demo's data query runs on the server over a dataset generated at
// start-up from a fixed seed, and reports its stages through the jobs
// package, so every tab sees the same status, a reload mid-query shows the
// current stage at once, and a click while a query runs joins it.
package web
