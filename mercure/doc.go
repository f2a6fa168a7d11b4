// Package mercure serves the Mercure protocol over HTTP on top of a hub:
// subscribing with GET (or QUERY) and publishing with POST at
// /.well-known/mercure, JWT authorization, discovery and CORS.
//
// One endpoint speaks both Mercure 0.x and 1.0, classified per request: a
// subscription with topic= is 0.x (URI templates, the lastEventID cursor,
// the Last-Event-ID response header); one with match=, match_exact= or
// match_urlpattern= is 1.0 (exact and URL pattern matchers, QUERY,
// last_event_id, Mercure-Last-Event-ID, no token in the URL). Tokens of
// either format are judged by one policy (internal/authz), and every
// publication gets the 1.0 checks of its fields.
//
// Every rejection is a 4xx (or 503 when the log is unreachable) with a
// one-line plain-text reason a user can act on; a rejected request changes
// nothing.
package mercure
