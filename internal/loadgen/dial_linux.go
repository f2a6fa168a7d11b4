package loadgen

import (
	"syscall"

	"golang.org/x/sys/unix"
)

// bindLate asks the kernel to choose a dialled socket's source port at
// connect(2), from the whole four-tuple, rather than at bind(2) from the
// source address alone. Bound early, a port still in TIME_WAIT from the
// previous run's connections cannot be chosen again, and back-to-back runs
// of 10,000 subscribers from one address run out of ports; chosen at
// connect, such a port is reused on loopback (net.ipv4.tcp_tw_reuse).
func bindLate(_, _ string, c syscall.RawConn) error {
	var opErr error
	err := c.Control(func(fd uintptr) {
		opErr = unix.SetsockoptInt(int(fd), unix.IPPROTO_IP, unix.IP_BIND_ADDRESS_NO_PORT, 1)
	})
	if err != nil {
		return err
	}
	return opErr
}
