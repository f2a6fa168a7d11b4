package natslog_test

import (
	"context"
	"fmt"

	"github.com/heraldhub/herald/eventlog"
	"github.com/heraldhub/herald/eventlog/natslog"
)

// Open connects to NATS and creates the JetStream stream (or updates its
// limits) from a URL naming the stream, how many updates it keeps and for
// how long. Every node of a cluster opens the same stream; an update
// appended on one is followed by all. (This example needs a NATS server
// with JetStream, so it is compiled but not run.)
func ExampleOpen() {
	ctx := context.Background()
	log, err := natslog.Open(ctx, "nats://127.0.0.1:4222?stream=HERALD&retain=100000&retain_age=24h", natslog.Options{})
	if err != nil {
		fmt.Println(err) // wraps eventlog.ErrUnavailable if NATS does not answer
		return
	}
	defer log.Close()

	u, err := log.Append(ctx, eventlog.Update{Topics: []string{"status"}, Data: "idle"})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("appended", u.ID)
}
