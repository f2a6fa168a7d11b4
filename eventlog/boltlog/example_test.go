package boltlog_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/heraldhub/herald/eventlog"
	"github.com/heraldhub/herald/eventlog/boltlog"
)

// Open creates the file (and its directories) on first use. An appended
// update is on disk when Append returns, so it survives a restart: the
// reopened log replays it, and Seq continues where it left off.
func ExampleOpen() {
	dir, err := os.MkdirTemp("", "herald-example-")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "data", "herald.db")
	ctx := context.Background()

	log, err := boltlog.Open(path, boltlog.Options{RetainCount: 10_000})
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, data := range []string{"starting data query…", "idle"} {
		u, err := log.Append(ctx, eventlog.Update{Topics: []string{"status"}, Data: data})
		if err != nil {
			fmt.Println(err)
			return
		}
		fmt.Println("appended seq", u.Seq)
	}
	log.Close()

	// After a restart.
	log, err = boltlog.Open(path, boltlog.Options{RetainCount: 10_000})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer log.Close()
	log.Since(ctx, eventlog.Earliest, func(u eventlog.Update) bool {
		fmt.Printf("kept seq %d: %s\n", u.Seq, u.Data)
		return true
	})
	u, _ := log.Append(ctx, eventlog.Update{Topics: []string{"status"}, Data: "back"})
	fmt.Println("appended seq", u.Seq)
	// Output:
	// appended seq 1
	// appended seq 2
	// kept seq 1: starting data query…
	// kept seq 2: idle
	// appended seq 3
}
