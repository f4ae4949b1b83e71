package httpin

import (
	"log"
	"net"
	"strings"
	"sync"

	"github.com/metlog/metlog/internal/ratelog"
)

// limitListener accepts at most cap(sem) connections at a time; Accept
// waits for one to close, leaving further clients in the kernel's backlog.
type limitListener struct {
	net.Listener
	sem       chan struct{}
	done      chan struct{}
	closeOnce sync.Once
}

func newLimitListener(ln net.Listener, n int) *limitListener {
	return &limitListener{Listener: ln, sem: make(chan struct{}, n), done: make(chan struct{})}
}

// Accept implements net.Listener.
func (l *limitListener) Accept() (net.Conn, error) {
	select {
	case l.sem <- struct{}{}:
	case <-l.done:
		return nil, net.ErrClosed
	}
	c, err := l.Listener.Accept()
	if err != nil {
		<-l.sem
		return nil, err
	}
	return &limitConn{Conn: c, release: func() { <-l.sem }}, nil
}

// Close implements net.Listener.
func (l *limitListener) Close() error {
	l.closeOnce.Do(func() { close(l.done) })
	return l.Listener.Close()
}

// limitConn gives its slot back when closed.
type limitConn struct {
	net.Conn
	once    sync.Once
	release func()
}

func (c *limitConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.release)
	return err
}

// CloseWrite half-closes the connection, which net/http does to let a
// client read an error response before the connection closes.
func (c *limitConn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}

// newServerLog returns the ErrorLog of the own server: its complaints (TLS
// handshake failures from scanners, say) are logged rate-limited.
func newServerLog(l *ratelog.Limiter) *log.Logger {
	return log.New(serverLog{l}, "", 0)
}

type serverLog struct{ l *ratelog.Limiter }

func (s serverLog) Write(p []byte) (int, error) {
	s.l.Warn("http-server", "HTTP server: "+strings.TrimSpace(string(p)))
	return len(p), nil
}
