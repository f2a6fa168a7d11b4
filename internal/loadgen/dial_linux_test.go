package loadgen

import (
	"net"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

func TestSubscribersFromASourceAddressTakeTheirPortAtConnect(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	d := net.Dialer{Timeout: 5 * time.Second, LocalAddr: &net.TCPAddr{IP: net.ParseIP("127.0.0.2")}, Control: bindLate}
	conn, err := d.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if ip := conn.LocalAddr().(*net.TCPAddr).IP.String(); ip != "127.0.0.2" {
		t.Fatalf("dialled from %s, want 127.0.0.2", ip)
	}
	rc, err := conn.(*net.TCPConn).SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var v int
	var optErr error
	rc.Control(func(fd uintptr) {
		v, optErr = unix.GetsockoptInt(int(fd), unix.IPPROTO_IP, unix.IP_BIND_ADDRESS_NO_PORT)
	})
	if optErr != nil || v != 1 {
		t.Fatalf("IP_BIND_ADDRESS_NO_PORT = %d (%v), want 1: the port would be chosen at bind, where TIME_WAIT ports are not reused", v, optErr)
	}
}
