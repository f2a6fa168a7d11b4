// Package client subscribes to any Server-Sent Events URL and keeps the
// subscription alive the way a browser's EventSource does: it reconnects
// after the stream ends or the network fails, sends the last event id it
// saw as Last-Event-ID, waits the reconnection time the server set with
// retry (backing off with jitter after failures), stops for good when the
// server answers 204 No Content, and reports an error, without retrying,
// for any other status than 200 or a Content-Type other than
// text/event-stream.
package client
