package eventlog_test

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/heraldhub/herald/eventlog"
)

// A log assigns each appended update its position (Seq) and, unless the
// publisher chose one, a unique id; Since replays what came after an id,
// which is how a subscriber that reconnects with Last-Event-ID catches up.
// Since also returns the update the replay resumed from.
func Example() {
	ctx := context.Background()
	log := eventlog.NewMemory(1000) // retain the last 1,000 updates
	defer log.Close()

	for _, u := range []eventlog.Update{
		{ID: "s1", Topics: []string{"status"}, Data: "starting data query…"},
		{ID: "s2", Topics: []string{"status"}, Data: "stage 1 of 3"},
		{Topics: []string{"status"}, Data: "idle"}, // no id: the log makes one
	} {
		stored, err := log.Append(ctx, u)
		if err != nil {
			fmt.Println(err)
			return
		}
		fmt.Println("appended seq", stored.Seq, "generated id:", strings.HasPrefix(stored.ID, "urn:uuid:"))
	}

	from, err := log.Since(ctx, "s1", func(u eventlog.Update) bool {
		fmt.Printf("replay seq %d: %s\n", u.Seq, u.Data)
		return true // false stops the replay
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("resumed after", from.ID, "at seq", from.Seq)
	// Output:
	// appended seq 1 generated id: false
	// appended seq 2 generated id: false
	// appended seq 3 generated id: true
	// replay seq 2: stage 1 of 3
	// replay seq 3: idle
	// resumed after s1 at seq 1
}

// Since with an id the log does not hold (never appended, or dropped by
// retention) calls fn for nothing and returns ErrUnknownID; Earliest
// replays every retained update. A duplicate id is refused.
func ExampleMemory_Since() {
	ctx := context.Background()
	log := eventlog.NewMemory(2) // keeps only the last two updates
	defer log.Close()
	for _, id := range []string{"a", "b", "c"} {
		log.Append(ctx, eventlog.Update{ID: id, Topics: []string{"t"}, Data: id})
	}
	_, err := log.Since(ctx, "a", func(eventlog.Update) bool { return true })
	fmt.Println("since a:", errors.Is(err, eventlog.ErrUnknownID))

	log.Since(ctx, eventlog.Earliest, func(u eventlog.Update) bool {
		fmt.Println("retained:", u.ID)
		return true
	})

	_, err = log.Append(ctx, eventlog.Update{ID: "c", Topics: []string{"t"}})
	fmt.Println("append c again:", errors.Is(err, eventlog.ErrDuplicateID))
	// Output:
	// since a: true
	// retained: b
	// retained: c
	// append c again: true
}

// Follow starts a live tail at the end of the log: every update appended
// after it returns is passed to fn, in order, from the tail's goroutine.
// Cancelling the context stops the tail; done is closed once it has.
func ExampleMemory_Follow() {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	log := eventlog.NewMemory(0)
	defer log.Close()

	log.Append(ctx, eventlog.Update{ID: "before", Topics: []string{"t"}, Data: "not seen by the tail"})

	tail := make(chan eventlog.Update, 10) // fn must not block for long
	done, err := log.Follow(ctx, func(u eventlog.Update) { tail <- u })
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, data := range []string{"one", "two"} {
		log.Append(ctx, eventlog.Update{Topics: []string{"t"}, Data: data})
	}
	for range 2 {
		u := <-tail
		fmt.Println("followed seq", u.Seq, u.Data)
	}
	cancel()
	<-done
	fmt.Println("tail stopped")
	// Output:
	// followed seq 2 one
	// followed seq 3 two
	// tail stopped
}
