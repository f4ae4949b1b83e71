package netin

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/metlog/metlog/pipeline"
	"github.com/metlog/metlog/pipeline/pipelinetest"
)

// TestMaxConnections: with max_connections = 2 a third connection is
// closed at once and counted; once one closes, a new one is served.
func TestMaxConnections(t *testing.T) {
	for _, network := range []string{"tcp", "unix"} {
		t.Run(network, func(t *testing.T) {
			p, out, addr := startStream(t, network, formatHeka, "max_connections = 2\n")
			in := pipelinetest.Plugin(t, p, "in").(interface{ Connections() int })
			c1, c2 := dial(t, network, addr), dial(t, network, addr)
			write(t, c1, frameOf("one"))
			write(t, c2, frameOf("two"))
			out.Wait(t, 2)
			if n := in.Connections(); n != 2 {
				t.Fatalf("%d connections, want 2", n)
			}
			c3 := dial(t, network, addr)
			_ = c3.SetReadDeadline(time.Now().Add(5 * time.Second))
			if n, err := c3.Read(make([]byte, 1)); err == nil {
				t.Fatalf("the third connection is open: read %d bytes", n)
			} else if errors.Is(err, os.ErrDeadlineExceeded) {
				t.Fatal("the third connection was not closed")
			}
			waitCounts(t, p, "in", counts{Errors: 1})

			c1.Close()
			pipelinetest.Eventually(t, func() bool { return in.Connections() == 1 }, "the closed connection to be forgotten")
			c4 := dial(t, network, addr)
			write(t, c4, frameOf("four"))
			if got := out.Wait(t, 3); got[2].Payload != "four" {
				t.Fatalf("got %+v", got[2])
			}
			checkCounts(t, p, "in", counts{Errors: 1})
		})
	}
}

// TestStopNoLeak stops pipelines with open connections, one of them
// blocked in Deliver on a full blocking queue, and checks that every
// goroutine ends and the unix socket file goes.
func TestStopNoLeak(t *testing.T) {
	before := runtime.NumGoroutine()
	sock := socketPath(t)
	p := pipelinetest.Run(t, `
[tcp]
type = "tcp_input"
address = "127.0.0.1:0"

[lines]
type = "tcp_input"
address = "127.0.0.1:0"
format = "plain"

[unix]
type = "unix_input"
address = "`+sock+`"

[udp]
type = "udp_input"
address = "127.0.0.1:0"
readers = 3

[slow]
type = "capture_output"
message_matcher = "TRUE"
when_full = "block"
queue_size = 1
batch_size = 1
delay = "1h"
`)
	var conns []net.Conn
	for i := range 3 {
		c := dial(t, "tcp", addrOf(t, p, "tcp"))
		if i == 0 { // enough to block in Deliver: the output never finishes
			write(t, c, frameOf("1"), frameOf("2"), frameOf("3"), frameOf("4"))
		}
		conns = append(conns, c)
	}
	conns = append(conns, dial(t, "tcp", addrOf(t, p, "lines")), dial(t, "unix", sock))
	write(t, dial(t, "udp", addrOf(t, p, "udp")), frameOf("udp"))
	tcp := pipelinetest.Plugin(t, p, "tcp").(*TCP)
	pipelinetest.Eventually(t, func() bool { return tcp.Connections() == 3 }, "connections to be served")
	if _, err := os.Stat(sock); err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	_ = p.Shutdown(ctx) // the output drops what it holds at the deadline
	for _, c := range conns {
		_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
		if _, err := c.Read(make([]byte, 1)); err != io.EOF && !isReset(err) {
			t.Fatalf("connection still open after Stop: %v", err)
		}
	}
	if _, err := os.Stat(sock); !os.IsNotExist(err) {
		t.Fatalf("socket file left behind: %v", err)
	}
	for _, c := range conns {
		c.Close()
	}
	pipelinetest.Eventually(t, func() bool { return runtime.NumGoroutine() <= before },
		"goroutines to end after Stop")
}

func isReset(err error) bool {
	return err != nil && (strings.Contains(err.Error(), "reset") || errors.Is(err, net.ErrClosed))
}

// TestStopWithoutStart checks that Stop is safe without Start and twice.
func TestStopWithoutStart(t *testing.T) {
	for _, in := range []pipeline.Stopper{NewUDP(), NewTCP(), NewUnix()} {
		for range 2 {
			if err := in.Stop(context.Background()); err != nil {
				t.Fatal(err)
			}
		}
		if err := in.(pipeline.Input).Run(context.Background(), nil); err == nil {
			t.Fatal("Run without Start succeeded")
		}
	}
}

// TestUnixSocketFile checks the socket file: its mode, a stale one
// replaced, a regular file or a live socket left alone.
func TestUnixSocketFile(t *testing.T) {
	t.Run("mode", func(t *testing.T) {
		for _, mode := range []os.FileMode{0o660, 0o600, 0o666} {
			sock := socketPath(t)
			runInput(t, "[in]\ntype = \"unix_input\"\naddress = \""+sock+"\"\nsocket_mode = \""+fmt.Sprintf("%04o", mode)+"\"\n")
			fi, err := os.Stat(sock)
			if err != nil {
				t.Fatal(err)
			}
			if fi.Mode().Perm() != mode || fi.Mode()&os.ModeSocket == 0 {
				t.Fatalf("socket mode %v, want %v", fi.Mode(), mode)
			}
		}
	})
	t.Run("stale", func(t *testing.T) {
		sock := socketPath(t)
		l, err := net.Listen("unix", sock)
		if err != nil {
			t.Fatal(err)
		}
		l.(*net.UnixListener).SetUnlinkOnClose(false)
		l.Close() // a dead process's socket
		_, out := runInput(t, "[in]\ntype = \"unix_input\"\naddress = \""+sock+"\"\n")
		write(t, dial(t, "unix", sock), sentinel())
		out.Wait(t, 1)
	})
	t.Run("regular-file", func(t *testing.T) {
		sock := socketPath(t)
		if err := os.WriteFile(sock, []byte("precious"), 0o600); err != nil {
			t.Fatal(err)
		}
		_, err := pipelinetest.Start(t, "[in]\ntype = \"unix_input\"\naddress = \""+sock+"\"\n")
		if err == nil || !strings.Contains(err.Error(), "is not a socket") {
			t.Fatalf("started over a regular file: %v", err)
		}
		if b, _ := os.ReadFile(sock); string(b) != "precious" {
			t.Fatal("the file was changed")
		}
	})
	t.Run("in-use", func(t *testing.T) {
		sock := socketPath(t)
		l, err := net.Listen("unix", sock)
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		go func() { // accept the probe
			if c, err := l.Accept(); err == nil {
				c.Close()
			}
		}()
		_, err = pipelinetest.Start(t, "[in]\ntype = \"unix_input\"\naddress = \""+sock+"\"\n")
		if err == nil || !strings.Contains(err.Error(), "another process is listening") {
			t.Fatalf("took over a live socket: %v", err)
		}
	})
}

// TestIdleTimeout checks that a silent connection is closed.
func TestIdleTimeout(t *testing.T) {
	p, out, addr := startStream(t, "tcp", formatHeka, "idle_timeout = \"400ms\"\n")
	in := pipelinetest.Plugin(t, p, "in").(*TCP)
	busy, idle := dial(t, "tcp", addr), dial(t, "tcp", addr)
	write(t, idle, frameOf("then silence"))
	done := make(chan struct{})
	go func() { // keeps talking, more often than the timeout
		defer close(done)
		for i := range 16 {
			if _, err := busy.Write(frameOf("busy")); err != nil {
				t.Errorf("busy connection: write %d: %v", i, err)
				return
			}
			time.Sleep(50 * time.Millisecond)
		}
	}()
	_ = idle.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := idle.Read(make([]byte, 1)); err != io.EOF {
		t.Fatalf("idle connection: %v, want EOF", err)
	}
	<-done
	out.Wait(t, 17)
	if n := in.Connections(); n != 1 {
		t.Fatalf("%d connections, want the busy one", n)
	}
	checkCounts(t, p, "in", counts{})
}

// TestRunAgain checks that Run can be called again after it returned, as
// the pipeline does after a failure: the listener stays open.
func TestRunAgain(t *testing.T) {
	for _, in := range []interface {
		pipeline.Input
		pipeline.Starter
		pipeline.Stopper
		Addr() net.Addr
	}{NewTCP(), NewUDP()} {
		set := &pipeline.Settings{Name: "in", Logger: discardLogger(), Metrics: &pipeline.Metrics{}}
		set.Global.MaxMessageSize = 1024
		switch in := in.(type) {
		case *TCP:
			in.Address = "127.0.0.1:0"
		case *UDP:
			in.Address = "127.0.0.1:0"
		}
		if err := in.Start(context.Background(), set); err != nil {
			t.Fatal(err)
		}
		network := "tcp"
		if _, ok := in.(*UDP); ok {
			network = "udp"
		}
		d := &chanDeliverer{ch: make(chan string, 10)}
		for round := range 2 {
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() { done <- in.Run(ctx, d) }()
			write(t, dial(t, network, in.Addr().String()), frameOf("round"))
			select {
			case <-d.ch:
			case <-time.After(5 * time.Second):
				t.Fatalf("%s round %d: no message", network, round)
			}
			cancel()
			if err := <-done; err != nil {
				t.Fatal(err)
			}
		}
		if err := in.Stop(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
}

// TestIdleTimeoutCutsLine checks that a line the idle timeout cuts short
// is counted, not delivered.
func TestIdleTimeoutCutsLine(t *testing.T) {
	p, out, addr := startStream(t, "tcp", formatPlain, "idle_timeout = \"100ms\"\n")
	c := dial(t, "tcp", addr)
	write(t, c, []byte("whole\npartial"))
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Read(make([]byte, 1)); err != io.EOF {
		t.Fatalf("idle connection: %v, want EOF", err)
	}
	waitCounts(t, p, "in", counts{Decode: 1})
	if got := out.Wait(t, 1); len(got) != 1 || got[0].Payload != "whole" {
		t.Fatalf("got %+v", got)
	}
}

// TestReceiveBuffer checks that the receive buffer is set, and that a size
// the kernel caps is reported with the size granted.
func TestReceiveBuffer(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("the granted size is read on Linux only")
	}
	for _, tc := range []struct {
		size pipeline.ByteSize
		warn bool
	}{{64 << 10, false}, {1 << 30, true}} {
		var logs strings.Builder
		set := &pipeline.Settings{Name: "in", Logger: slog.New(slog.NewTextHandler(&logs, nil)), Metrics: &pipeline.Metrics{}}
		set.Global.MaxMessageSize = 64 << 10
		u := NewUDP()
		u.Address, u.ReceiveBuffer = "127.0.0.1:0", tc.size
		if err := u.Start(context.Background(), set); err != nil {
			t.Fatal(err)
		}
		got, ok := receiveBuffer(u.conn)
		u.Stop(context.Background())
		if !ok {
			t.Fatal("the receive buffer size is unknown")
		}
		warned := strings.Contains(logs.String(), "granted="+fmt.Sprint(got))
		if !tc.warn && (got < int(tc.size) || warned) {
			t.Fatalf("asked %d, granted %d, log %q", tc.size, got, logs.String())
		}
		if tc.warn && got < int(tc.size) != warned {
			t.Fatalf("asked %d, granted %d, log %q", tc.size, got, logs.String())
		}
	}
}
