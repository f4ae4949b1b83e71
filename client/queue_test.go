package client

import (
	"bytes"
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/metlog/metlog/message"
)

// recordingTransport keeps what the writer writes.
type recordingTransport struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (t *recordingTransport) connect() error { return nil }
func (t *recordingTransport) write(data []byte, start int, ends []int) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf.Write(data[start:ends[len(ends)-1]])
	return len(ends), nil
}
func (t *recordingTransport) broken() <-chan struct{} { return nil }
func (t *recordingTransport) interrupt()              {}
func (t *recordingTransport) close() error            { return nil }
func (t *recordingTransport) datagram() bool          { return false }

// The client frames straight into its queue when the queue's lock is free,
// and encodes on its own and copies when another goroutine holds the lock.
// Both paths must deliver the same, intact messages in order.
func TestQueueFramingPaths(t *testing.T) {
	rt := &recordingTransport{}
	q := newAsyncSender(rt, SenderConfig{QueueBytes: 1 << 20, CloseTimeout: time.Second,
		ReconnectMin: time.Millisecond, ReconnectMax: time.Second, Linger: time.Microsecond}, nil)
	c, err := New(Config{Logger: "paths", Output: q})
	if err != nil {
		t.Fatal(err)
	}
	if c.queue != q {
		t.Fatal("the client does not frame into its own queue")
	}
	c.Incr("uncontended")

	q.mu.Lock() // another goroutine holds the queue: the next call must not wait for it to encode
	done := make(chan struct{})
	go func() {
		c.Incr("contended")
		close(done)
	}()
	time.Sleep(20 * time.Millisecond) // let it reach the queue's lock
	q.mu.Unlock()
	<-done
	c.Incr("after")

	if err := c.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	sc := message.NewFrameScanner(bytes.NewReader(rt.buf.Bytes()), 0)
	var names []string
	for sc.Next() {
		var m message.Message
		if err := m.Unmarshal(sc.Message()); err != nil {
			t.Fatal(err)
		}
		name, _ := m.GetString("name")
		names = append(names, name)
	}
	if got := strings.Join(names, ","); got != "uncontended,contended,after" || sc.Discarded() != 0 {
		t.Fatalf("delivered %s (discarded %d bytes)", got, sc.Discarded())
	}
	if st := c.Stats(); st.Sent != 3 || st.Failed != 0 || st.Dropped != 0 {
		t.Fatalf("stats %+v", st)
	}
	_ = c.Close()
}
