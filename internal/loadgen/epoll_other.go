//go:build !linux

package loadgen

import (
	"context"
	"errors"
	"net/url"
	"sync/atomic"
	"time"
)

const defaultReader = ReaderGoroutines

// epollReader is Linux only.
type epollReader struct{}

func newEpollReader(int, int, bool, time.Duration, *histogram, *atomic.Int64, chan<- struct{}, func(error)) (*epollReader, error) {
	return nil, errors.New("the epoll reader needs Linux: use the goroutines reader")
}

func (*epollReader) open(context.Context, int, *url.URL, string, *sub) error { return nil }

func (*epollReader) close() {}

func (*epollReader) usesRing() bool { return false }
