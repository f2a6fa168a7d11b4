package redislog_test

import (
	"context"
	"fmt"

	"github.com/heraldhub/herald/eventlog"
	"github.com/heraldhub/herald/eventlog/redislog"
)

// Open connects to Redis from a URL naming the database, the stream key
// and how many updates it keeps. Every node of a cluster opens the same
// stream; an update appended on one is followed by all. (This example
// needs a Redis server, so it is compiled but not run.)
func ExampleOpen() {
	ctx := context.Background()
	log, err := redislog.Open(ctx, "redis://127.0.0.1:6379/0?stream=herald&retain=100000", redislog.Options{})
	if err != nil {
		fmt.Println(err) // wraps eventlog.ErrUnavailable if Redis does not answer
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
