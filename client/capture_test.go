package client

import (
	"bytes"
	"errors"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/metlog/metlog/message"
)

// A client writing to a Capture: the messages decode from either encoding,
// and Raw holds exactly the bytes the client encoded.
func TestCaptureEncodings(t *testing.T) {
	signer, err := message.NewSigner("ops", 1, message.SHA1, []byte("k"))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		cfg  SenderConfig
		want func(m *message.Message) []byte
	}{
		{"protobuf", SenderConfig{}, func(m *message.Message) []byte { return message.AppendFrame(nil, m, nil) }},
		{"protobuf signed", SenderConfig{HMAC: HMACConfig{Signer: "ops", KeyVersion: 1, Hash: "sha1", Key: "k"}},
			func(m *message.Message) []byte { return message.AppendFrame(nil, m, signer) }},
		{"json", SenderConfig{Encoder: "json"}, func(m *message.Message) []byte { return message.AppendMetlogJSON(nil, m) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			capt := NewCapture()
			tc.cfg.URL = "http://ignored" // Output replaces the sender
			c := newTestClient(t, Config{Output: capt, Sender: tc.cfg})
			sendRange(c, 0, 3)
			enc := "protobuf"
			if tc.cfg.Encoder == "json" {
				enc = "json"
			}
			checkMessages(t, capt.Messages(), enc, 0, 3)
			raw := capt.Raw()
			if len(raw) != 3 {
				t.Fatalf("Raw() holds %d messages, want 3", len(raw))
			}
			for i, b := range raw {
				if want := tc.want(testMessage(i)); !bytes.Equal(b, want) {
					t.Errorf("Raw()[%d] = %q, want %q", i, b, want)
				}
			}
			if errs := capt.Errors(); errs != nil {
				t.Errorf("Errors() = %v", errs)
			}
			checkStats(t, c, Stats{})
		})
	}
}

func TestCaptureErrors(t *testing.T) {
	frame := message.AppendFrame(nil, testMessage(1), nil)
	jsonLine := append(message.AppendMetlogJSON(nil, testMessage(2)), '\n')
	for _, tc := range []struct {
		name string
		in   []byte
		is   error  // the error wraps it, when set
		want string // the error's text
	}{
		{"empty", nil, nil, "metlog JSON: the input is empty"},
		{"garbage", []byte("garbage"), nil, "metlog JSON: invalid character 'g' at start of value"},
		{"JSON cut short", jsonLine[:20], nil, "metlog JSON: "},
		{"truncated frame", frame[:len(frame)-5], message.ErrShortFrame, message.ErrShortFrame.Error()},
		{"frame cut in its header", frame[:4], message.ErrShortFrame, message.ErrShortFrame.Error()},
		{"frame cut in its message", frame[:30], message.ErrShortFrame, message.ErrShortFrame.Error()},
		{"bytes after the frame", append(bytes.Clone(frame), "abc"...), nil, "capture: 3 bytes after the frame"},
		{"two frames", append(bytes.Clone(frame), frame...), nil, "capture: " + strconv.Itoa(len(frame)) + " bytes after the frame"},
		{"no unit separator", append([]byte{message.RecordSeparator, 2, 8, 0}, frame[4:]...), message.ErrBadFrame,
			"not a valid frame: no unit separator 0x1f after the 2-byte header"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			capt := NewCapture()
			if err := capt.Send(frame); err != nil {
				t.Fatal(err)
			}
			in := bytes.Clone(tc.in)
			err := capt.Send(in)
			if err == nil || (tc.is != nil && !errors.Is(err, tc.is)) || !bytes.HasPrefix([]byte(err.Error()), []byte(tc.want)) {
				t.Fatalf("Send(%q) = %v, want %q", tc.in, err, tc.want)
			}
			if errs := capt.Errors(); len(errs) != 1 || errs[0] != err {
				t.Errorf("Errors() = %v, want [%v]", errs, err)
			}
			// The bad bytes are kept, as a copy.
			for i := range in {
				in[i] = 'X'
			}
			if raw := capt.Raw(); len(raw) != 2 || !bytes.Equal(raw[0], frame) || !bytes.Equal(raw[1], tc.in) {
				t.Errorf("Raw() = %q, want the frame and %q", raw, tc.in)
			}
			if msgs := capt.Messages(); len(msgs) != 1 || !msgs[0].Equal(testMessage(1)) {
				t.Errorf("Messages() = %+v, want message 1 only", msgs)
			}
		})
	}
	// A JSON line ending with a newline, as streams carry, decodes.
	capt := NewCapture()
	if err := capt.Send(jsonLine); err != nil {
		t.Fatalf("Send(%q) = %v", jsonLine, err)
	}
	checkMessages(t, capt.Messages(), "json", 2, 3)
}

// A Capture decodes messages of any size a client may be configured to
// send, not only up to the 64 KiB a router accepts by default.
func TestCaptureLargeMessage(t *testing.T) {
	for _, enc := range encoders {
		capt := NewCapture()
		c := newTestClient(t, Config{Output: capt, MaxMessageSize: 1 << 20, Sender: SenderConfig{Encoder: enc}})
		m := testMessage(0)
		m.Payload = strings.Repeat("x", 100<<10)
		c.Send(m)
		msgs := capt.Messages()
		if len(msgs) != 1 || msgs[0].Payload != m.Payload || capt.Errors() != nil {
			t.Errorf("%s: captured %d messages, errors %v", enc, len(msgs), capt.Errors())
		}
		checkStats(t, c, Stats{})
	}
}

func TestCaptureReset(t *testing.T) {
	capt := NewCapture()
	_ = capt.Send(message.AppendFrame(nil, testMessage(0), nil))
	_ = capt.Send([]byte("garbage"))
	msgs, raw, errs := capt.Messages(), capt.Raw(), capt.Errors()
	capt.Reset()
	if m, r, e := capt.Messages(), capt.Raw(), capt.Errors(); m != nil || r != nil || e != nil {
		t.Errorf("after Reset: %v, %q, %v", m, r, e)
	}
	// What was returned before is not affected.
	if len(msgs) != 1 || len(raw) != 2 || len(errs) != 1 {
		t.Errorf("Reset changed earlier results: %v, %q, %v", msgs, raw, errs)
	}
	_ = capt.Send(message.AppendFrame(nil, testMessage(1), nil))
	checkMessages(t, capt.Messages(), "protobuf", 1, 2)
	// The slices returned are copies.
	capt.Messages()[0] = nil
	capt.Raw()[0] = nil
	checkMessages(t, capt.Messages(), "protobuf", 1, 2)
	if raw := capt.Raw(); raw[0] == nil {
		t.Error("Raw() returned the capture's own slice")
	}
	if err := capt.Close(); err != nil || !capt.Datagram() {
		t.Errorf("Close() = %v, Datagram() = %v; want nil, true", err, capt.Datagram())
	}
	checkMessages(t, capt.Messages(), "protobuf", 1, 2) // kept after Close
}

// A Capture is safe for concurrent use.
func TestCaptureConcurrent(t *testing.T) {
	capt := NewCapture()
	c := newTestClient(t, Config{Output: capt})
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 100 {
				c.Send(testMessage(g*100 + i))
				_ = capt.Messages()
			}
		})
	}
	wg.Wait()
	seen := make(map[int64]bool)
	for _, m := range capt.Messages() {
		seq, _ := m.GetInt("seq")
		seen[seq] = true
	}
	if len(seen) != 800 || len(capt.Raw()) != 800 {
		t.Errorf("%d distinct messages of %d captured, want 800", len(seen), len(capt.Raw()))
	}
}
