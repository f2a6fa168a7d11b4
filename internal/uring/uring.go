package uring

import "errors"

// ErrUnsupported reports a platform without io_uring.
var ErrUnsupported = errors.New("io_uring is not supported on this platform")
