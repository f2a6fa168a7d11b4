package sse_test

import (
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/heraldhub/herald/sse"
)

// Encoding an event gives the exact bytes to write to a text/event-stream
// response: one line per field, one data line per line of the data, and
// a blank line that ends the event. %q shows every byte.
func ExampleAppendEvent() {
	frame, err := sse.AppendEvent(nil, &sse.Event{
		ID:    "42",
		Type:  "status",
		Data:  "starting data query…\nstage 1 of 3",
		Retry: 2 * time.Second,
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("%q\n", frame)
	fmt.Print(string(frame))
	// Output:
	// "id: 42\nevent: status\nretry: 2000\ndata: starting data query…\ndata: stage 1 of 3\n\n"
	// id: 42
	// event: status
	// retry: 2000
	// data: starting data query…
	// data: stage 1 of 3
}

// Several frames share one buffer: encode each event once and write the
// same bytes to every client. A comment line is a heartbeat that keeps an
// idle stream open through proxies; clients ignore it.
func ExampleAppendComment() {
	var buf []byte
	buf = sse.AppendComment(buf, "keep-alive")
	buf, _ = sse.AppendEvent(buf, &sse.Event{Data: "idle"})
	fmt.Printf("%q\n", buf)
	// Output:
	// ": keep-alive\ndata: idle\n\n"
}

// Fields the format cannot carry are refused before anything is written.
func ExampleAppendEvent_invalid() {
	_, err := sse.AppendEvent(nil, &sse.Event{ID: "a\nb", Data: "x"})
	fmt.Println(errors.Is(err, sse.ErrInvalidID))
	// Output:
	// true
}

// A Decoder reads events from any io.Reader, as a browser's EventSource
// would: comments are skipped, data lines are joined with newlines, the
// last event id carries over to the events that do not set one, and an
// event not ended by a blank line is discarded at the end of the stream.
func ExampleDecoder() {
	stream := strings.NewReader(": welcome\n" +
		"id: 1\nevent: status\ndata: starting data query…\n\n" +
		"data: line one\ndata: line two\n\n" +
		"id: 2\nretry: 500\ndata: idle\n\n" +
		"data: cut off, never dispatched\n")
	dec := sse.NewDecoder(stream)
	for {
		ev, err := dec.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			fmt.Println("error:", err)
			return
		}
		fmt.Printf("id=%s type=%s retry=%v data=%q\n", ev.ID, ev.Type, ev.Retry, ev.Data)
	}
	fmt.Println("resume with Last-Event-ID:", dec.LastEventID())
	// Output:
	// id=1 type=status retry=0s data="starting data query…"
	// id=1 type=message retry=0s data="line one\nline two"
	// id=2 type=message retry=500ms data="idle"
	// resume with Last-Event-ID: 2
}
