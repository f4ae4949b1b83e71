package forward

import (
	"net"
	"testing"
	"time"
)

// TestPeerClosed: the state check sees the peer's FIN and RST without
// reading, and nothing else.
func TestPeerClosed(t *testing.T) {
	for _, tc := range []struct {
		name  string
		close func(c *net.TCPConn)
	}{
		{"fin", func(c *net.TCPConn) { c.Close() }},
		{"rst", func(c *net.TCPConn) { _ = c.SetLinger(0); c.Close() }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			defer ln.Close()
			client, err := net.Dial("tcp", ln.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			defer client.Close()
			server, err := ln.Accept()
			if err != nil {
				t.Fatal(err)
			}
			rc, err := client.(*net.TCPConn).SyscallConn()
			if err != nil {
				t.Fatal(err)
			}
			if _, err := server.Write([]byte("data the client has not read")); err != nil {
				t.Fatal(err)
			}
			if peerClosed(rc) {
				t.Fatal("an open connection is reported closed")
			}
			tc.close(server.(*net.TCPConn))
			deadline := time.Now().Add(5 * time.Second)
			for !peerClosed(rc) {
				if time.Now().After(deadline) {
					t.Fatal("the close is not seen")
				}
				time.Sleep(time.Millisecond)
			}
		})
	}
}
