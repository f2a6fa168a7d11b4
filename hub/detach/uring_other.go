//go:build !linux

package detach

// batch is unavailable without io_uring: newBatch always fails.
type batch struct{}

func newBatch() (*batch, error) { return nil, ErrUnsupported }

func (b *batch) close() {}

func (e *Engine) writeBatches(*flusher, []*Stream) bool { return true }
