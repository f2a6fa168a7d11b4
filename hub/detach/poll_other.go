//go:build !linux

package detach

// newPoller reports that detaching is unsupported on this platform:
// streams are then served by one goroutine each.
func newPoller(_, _ func(token uint64)) (poller, error) { return nil, ErrUnsupported }

func writevFD(uintptr, [][]byte, int) (int, error) { return 0, ErrUnsupported }
