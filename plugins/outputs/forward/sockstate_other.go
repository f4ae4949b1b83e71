//go:build !linux

package forward

import "syscall"

// peerClosed cannot read the socket's state on this system; the reader
// goroutine alone notices a peer that closed the connection.
func peerClosed(syscall.RawConn) bool { return false }
