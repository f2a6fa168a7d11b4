package main

import (
	"log/slog"
	"os"
	"os/signal"
	"sync"
	"syscall"
)

// handleHangup answers SIGHUP (systemd's ExecReload, a terminal closing)
// until the returned stop is called, which waits for it to end. Without a
// handler SIGHUP would end the hub and every stream with it; herald serve
// reads its settings and keys once, at start, so there is nothing to
// reload yet, and it says so.
func handleHangup(logger *slog.Logger) (stop func()) {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-hup:
				logger.Warn("SIGHUP: nothing to reload; herald serve reads its settings and keys at start, restart it to change them")
			case <-done:
				return
			}
		}
	}()
	return func() {
		signal.Stop(hup)
		close(done)
		wg.Wait()
	}
}
