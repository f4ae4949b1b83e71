package client

import (
	"bytes"
	"fmt"
	"math"
	"sync"

	"github.com/metlog/metlog/message"
)

// Capture is a Sender that keeps what it is sent in memory, decoded, so
// tests can assert on the messages an application emits:
//
//	capture := client.NewCapture()
//	c, _ := client.New(client.Config{Output: capture})
//	c.Incr("hits")
//	msgs := capture.Messages()
//
// It decodes framed protobuf (verifying nothing) and metlog JSON alike.
type Capture struct {
	mu   sync.Mutex
	msgs []*message.Message
	raw  [][]byte
	errs []error
}

// NewCapture returns an empty Capture.
func NewCapture() *Capture { return &Capture{} }

// Send decodes b and keeps the message and a copy of the bytes. Bytes that
// do not decode are kept too, and the error is returned.
func (c *Capture) Send(b []byte) error {
	raw := bytes.Clone(b)
	m, err := decodeEncoded(raw)
	c.mu.Lock()
	defer c.mu.Unlock()
	c.raw = append(c.raw, raw)
	if err != nil {
		c.errs = append(c.errs, err)
		return err
	}
	c.msgs = append(c.msgs, m)
	return nil
}

// decodeEncoded decodes one message as a Client encodes it.
func decodeEncoded(b []byte) (*message.Message, error) {
	m := new(message.Message)
	if len(b) > 0 && b[0] == message.RecordSeparator {
		// No size limit: a client may be configured to send more than a
		// router accepts by default, and a frame cut short must read as
		// truncated, not as announcing more than len(b) bytes.
		_, msg, n, err := message.ParseFrame(b, math.MaxInt)
		if err != nil {
			return nil, err
		}
		if n != len(b) {
			return nil, fmt.Errorf("capture: %d bytes after the frame", len(b)-n)
		}
		return m, m.Unmarshal(msg)
	}
	return m, message.DecodeMetlogJSON(bytes.TrimRight(b, "\n"), m)
}

// Close does nothing; a Capture keeps its messages after Close.
func (c *Capture) Close() error { return nil }

// Datagram reports true: each Send is one whole message.
func (c *Capture) Datagram() bool { return true }

// Messages returns the messages captured so far, oldest first.
func (c *Capture) Messages() []*message.Message {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]*message.Message(nil), c.msgs...)
}

// Raw returns the encoded bytes captured so far, oldest first.
func (c *Capture) Raw() [][]byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([][]byte(nil), c.raw...)
}

// Errors returns the decoding errors met so far.
func (c *Capture) Errors() []error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]error(nil), c.errs...)
}

// Reset forgets everything captured.
func (c *Capture) Reset() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.msgs, c.raw, c.errs = nil, nil, nil
}
