//go:build linux

package forward

import (
	"syscall"
	"unsafe"
)

// tcpEstablished is TCP_ESTABLISHED of linux/tcp_states.h.
const tcpEstablished = 1

// peerClosed reports whether the TCP socket has left the ESTABLISHED
// state: the peer's FIN (CLOSE_WAIT) or RST (CLOSE) has arrived. It reads
// tcpi_state with getsockopt(TCP_INFO), which, unlike a read, neither
// consumes data nor waits for the reader goroutine's lock on the socket.
// When the state cannot be read it reports false: the write will tell.
func peerClosed(rc syscall.RawConn) bool {
	var info syscall.TCPInfo
	var errno syscall.Errno
	err := rc.Control(func(fd uintptr) {
		size := uint32(unsafe.Sizeof(info))
		_, _, errno = syscall.Syscall6(syscall.SYS_GETSOCKOPT, fd, syscall.IPPROTO_TCP, syscall.TCP_INFO,
			uintptr(unsafe.Pointer(&info)), uintptr(unsafe.Pointer(&size)), 0)
	})
	if err != nil {
		return true // the socket is closed
	}
	return errno == 0 && info.State != tcpEstablished
}
