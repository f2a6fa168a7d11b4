//go:build !linux

package loadgen

import "syscall"

// bindLate does nothing where IP_BIND_ADDRESS_NO_PORT does not exist.
func bindLate(_, _ string, _ syscall.RawConn) error { return nil }
