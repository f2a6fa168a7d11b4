// Package client subscribes to any Server-Sent Events URL and keeps the
// subscription alive the way a browser's EventSource does.
//
// Subscribe calls a function for each event, in order, on the caller's
// goroutine. Between streams it reconnects: it sends the last event id it
// saw as Last-Event-ID, waits the reconnection time the server set with
// retry, and backs off exponentially, with jitter, after failed attempts.
// It stops for good when the server answers 204 No Content, and reports an
// error, without retrying, for any other status than 200 or a Content-Type
// other than text/event-stream. Cancelling its context ends it at once,
// with no goroutine left behind.
//
//	err := client.Subscribe(ctx, "https://hub.example/.well-known/mercure?topic=orders/1",
//		client.Options{Header: http.Header{"Authorization": {"Bearer " + token}}},
//		func(ev sse.Event) error {
//			fmt.Println(ev.Type, ev.ID, ev.Data)
//			return nil
//		})
package client
