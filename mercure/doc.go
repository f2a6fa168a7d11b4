// Package mercure serves the Mercure protocol over HTTP on top of a hub:
// subscribing with GET and publishing with POST at /.well-known/mercure,
// JWT authorization, discovery and CORS.
//
// Every rejection is a 4xx (or 503 when the log is unreachable) with a
// one-line plain-text reason a user can act on; a rejected request changes
// nothing.
package mercure
