package forward_test

import (
	"context"
	"net"
	"sync"
	"syscall"
	"testing"

	"github.com/metlog/metlog/message"
	"github.com/metlog/metlog/pipeline"
	"github.com/metlog/metlog/plugins/outputs/forward"
)

// TestTCPPeerResetsDuringWrite: the server resets the connection while a
// batch is being written. Deliver fails; the retry (as the pipeline makes
// it) sends that batch again, whole, on a new connection, and the next
// batch follows. The first connection carries a prefix of the batch; the
// second exactly the batch and the next: duplicates only of the batch in
// flight, nothing lost.
func TestTCPPeerResetsDuringWrite(t *testing.T) {
	if testing.Short() {
		t.Skip("writes 16 MB")
	}
	// A small receive buffer, inherited by accepted connections, so that
	// the 16 MB batch cannot fit in the socket buffers and its write is
	// still going on when the server resets.
	lc := net.ListenConfig{Control: func(network, address string, c syscall.RawConn) error {
		var serr error
		err := c.Control(func(fd uintptr) {
			serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 16<<10)
		})
		if err != nil {
			return err
		}
		return serr
	}}
	ln, err := lc.Listen(context.Background(), "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()

	const resetAfter = 50
	batch := bigMessages(1000, 16<<10)
	next := testMessages(10, "next")
	var mu sync.Mutex
	got := [2][]*message.Message{}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := range 2 {
			c, err := ln.Accept()
			if err != nil {
				t.Error(err)
				return
			}
			sc := message.NewFrameScanner(c, 0)
			for sc.Next() {
				m := &message.Message{}
				if err := m.Unmarshal(sc.Message()); err != nil {
					t.Error(err)
				}
				mu.Lock()
				got[i] = append(got[i], m)
				n := len(got[i])
				mu.Unlock()
				if i == 0 && n == resetAfter {
					_ = c.(*net.TCPConn).SetLinger(0) // close with a RST
					break
				}
				if i == 1 && n == len(batch)+len(next) {
					break
				}
			}
			c.Close()
		}
	}()

	out := forward.NewTCP()
	out.Address = ln.Addr().String()
	metrics := &pipeline.Metrics{}
	set := &pipeline.Settings{Name: "fwd", Metrics: metrics, Global: pipeline.Global{MaxMessageSize: 64 << 10}}
	if err := out.Start(context.Background(), set); err != nil {
		t.Fatal(err)
	}
	defer out.Stop(context.Background())
	ctx := context.Background()
	err = out.Deliver(ctx, batch)
	if err == nil || pipeline.IsPermanent(err) {
		t.Fatalf("Deliver of the batch being reset = %v, want a retryable error", err)
	}
	t.Log(err)
	if err := out.Deliver(ctx, batch); err != nil {
		t.Fatalf("retry: %v", err)
	}
	if err := out.Deliver(ctx, next); err != nil {
		t.Fatal(err)
	}
	wg.Wait()

	first, second := got[0], got[1]
	if len(first) != resetAfter {
		t.Fatalf("first connection: %d messages, want %d", len(first), resetAfter)
	}
	for i, m := range first {
		if !m.Equal(batch[i]) {
			t.Fatalf("first connection, message %d is not the batch's", i)
		}
	}
	want := append(append([]*message.Message(nil), batch...), next...)
	if len(second) != len(want) {
		t.Fatalf("second connection: %d messages, want %d", len(second), len(want))
	}
	for i, m := range second {
		if !m.Equal(want[i]) {
			t.Fatalf("second connection, message %d: payload %.20q, want %.20q", i, m.Payload, want[i].Payload)
		}
	}
}
