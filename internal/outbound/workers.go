package outbound

import (
	"context"
	"sync"
)

// Workers runs the goroutines that deliver, and stops them together. The
// zero Workers is ready to use; it is safe for concurrent use.
type Workers struct {
	mu      sync.Mutex
	stopped bool
	cancels map[*int]context.CancelFunc
	wg      sync.WaitGroup
}

// Go runs fn in a goroutine with a context that ends at Stop, or when the
// returned stop is called. Once Stop has begun it runs nothing and returns
// false.
func (w *Workers) Go(fn func(ctx context.Context)) (stop context.CancelFunc, ok bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.stopped {
		return nil, false
	}
	if w.cancels == nil {
		w.cancels = map[*int]context.CancelFunc{}
	}
	ctx, cancel := context.WithCancel(context.Background())
	key := new(int)
	w.cancels[key] = cancel
	w.wg.Add(1)
	go func() {
		defer w.wg.Done()
		defer func() {
			w.mu.Lock()
			delete(w.cancels, key)
			w.mu.Unlock()
			cancel()
		}()
		fn(ctx)
	}()
	return cancel, true
}

// Stop ends the contexts of every goroutine Go started and waits for them
// to return.
func (w *Workers) Stop() {
	w.mu.Lock()
	w.stopped = true
	for _, cancel := range w.cancels {
		cancel()
	}
	w.mu.Unlock()
	w.wg.Wait()
}
