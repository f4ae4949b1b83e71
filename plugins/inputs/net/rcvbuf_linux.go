package netin

import (
	"net"
	"syscall"
)

// receiveBuffer returns the receive buffer the kernel granted conn. Linux
// reports twice the size set (the rest is its bookkeeping), so the value
// is halved to compare with the configured size.
func receiveBuffer(conn *net.UDPConn) (int, bool) {
	rc, err := conn.SyscallConn()
	if err != nil {
		return 0, false
	}
	var size int
	var serr error
	if err := rc.Control(func(fd uintptr) {
		size, serr = syscall.GetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF)
	}); err != nil || serr != nil {
		return 0, false
	}
	return size / 2, true
}
