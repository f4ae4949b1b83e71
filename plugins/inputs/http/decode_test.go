package httpin

import (
	"bytes"
	"net/http"
	"os"
	"strings"
	"testing"

	"github.com/metlog/metlog/message"
)

// TestDecodeNDJSON checks line numbering, blank lines, CRLF and limits.
func TestDecodeNDJSON(t *testing.T) {
	for _, tc := range []struct {
		name   string
		body   string
		n      int // messages, when it decodes
		status int // else the status
		line   int // and the line
	}{
		{"empty", "", 0, 0, 0},
		{"blank lines", "\n \t\r\n\n", 0, 0, 0},
		{"one", `{"type":"a"}`, 1, 0, 0},
		{"crlf", "{\"type\":\"a\"}\r\n{\"type\":\"b\"}\r\n", 2, 0, 0},
		{"bom", "\xef\xbb\xbf{\"type\":\"a\"}\n", 1, 0, 0},
		{"bom later is an error", "{\"type\":\"a\"}\n\xef\xbb\xbf{\"type\":\"a\"}\n", 0, 400, 2},
		{"blank lines count", "\n\n{\"type\":\"a\"}\n\n{bad\n", 0, 400, 5},
		{"two objects on a line", `{"type":"a"} {"type":"b"}`, 0, 400, 1},
		{"too large", "{\"type\":\"a\"}\n{\"payload\":\"" + strings.Repeat("x", 300) + "\"}\n", 0, 413, 2},
		{"just fits", "{\"payload\":\"" + strings.Repeat("x", 256-14) + "\"}", 1, 0, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := decoder{maxMsg: 256}
			msgs, err := d.ndjson([]byte(tc.body), nil)
			switch {
			case tc.status == 0 && err != nil:
				t.Fatalf("error %v", err)
			case tc.status == 0 && len(msgs) != tc.n:
				t.Fatalf("%d messages, want %d", len(msgs), tc.n)
			case tc.status != 0 && (err == nil || err.status != tc.status || err.line != tc.line):
				t.Fatalf("error %+v, want status %d on line %d", err, tc.status, tc.line)
			}
		})
	}
}

// TestDecodeFramed checks frame numbering and offsets.
func TestDecodeFramed(t *testing.T) {
	m := &message.Message{Type: "t", Payload: "p", Severity: 6}
	one := message.AppendFrame(nil, m, nil)
	two := message.AppendFrame(bytes.Clone(one), m, nil)
	big := &message.Message{Type: "t", Payload: strings.Repeat("x", 300)}
	for _, tc := range []struct {
		name   string
		body   []byte
		n      int
		status int
		frame  int
		offset int
	}{
		{"two", two, 2, 0, 0, 0},
		{"cut", two[:len(two)-1], 0, 400, 2, len(one)},
		{"trailing byte", append(bytes.Clone(two), 0), 0, 400, 3, len(two)},
		{"too large", message.AppendFrame(bytes.Clone(one), big, nil), 0, http.StatusRequestEntityTooLarge, 2, len(one)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := decoder{maxMsg: 256}
			msgs, err := d.framed(tc.body, nil)
			switch {
			case tc.status == 0 && (err != nil || len(msgs) != tc.n):
				t.Fatalf("%d messages, error %v", len(msgs), err)
			case tc.status != 0 && (err == nil || err.status != tc.status || err.frame != tc.frame || err.offset != tc.offset):
				t.Fatalf("error %+v, want status %d, frame %d at %d", err, tc.status, tc.frame, tc.offset)
			}
		})
	}
}

func TestIsZlib(t *testing.T) {
	for b, want := range map[string]bool{"\x78\x9c": true, "\x78\x01": true, "\x78\xda": true, "\x78\x00": false, "\xff\xff": false, "\x78": false} {
		if isZlib([]byte(b)) != want {
			t.Errorf("isZlib(%q) = %v", b, !want)
		}
	}
}

// FuzzDecode feeds arbitrary bodies to both decoders: they must not panic,
// must name a line or frame inside the body when they refuse it, and must
// not return more messages than the body has lines or frames.
func FuzzDecode(f *testing.F) {
	if b, err := os.ReadFile("../../../message/testdata/metlogpy-udp.jsonl"); err == nil {
		f.Add(b)
	}
	for _, m := range []*message.Message{{Type: "counter", Payload: "1"}, {Type: "t", Logger: "l", Pid: 3}} {
		f.Add(message.AppendFrame(nil, m, nil))
		f.Add(append(message.AppendJSON(nil, m), '\n'))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		d := decoder{maxMsg: 1024}
		lines := bytes.Count(body, []byte("\n")) + 1
		msgs, err := d.ndjson(body, nil)
		if err != nil {
			if err.line < 1 || err.line > lines || len(msgs) >= err.line || err.reason == "" {
				t.Fatalf("ndjson: %+v after %d messages, %d lines", err, len(msgs), lines)
			}
		} else if len(msgs) > lines {
			t.Fatalf("ndjson: %d messages from %d lines", len(msgs), lines)
		}
		for _, m := range msgs {
			if m == nil {
				t.Fatal("nil message")
			}
		}
		msgs, err = d.framed(body, nil)
		if err != nil {
			if err.frame < 1 || err.offset < 0 || err.offset >= len(body) || len(msgs) != err.frame-1 {
				t.Fatalf("framed: %+v after %d messages, %d bytes", err, len(msgs), len(body))
			}
		} else if len(msgs) > len(body)/4 {
			t.Fatalf("framed: %d messages from %d bytes", len(msgs), len(body))
		}
	})
}

// BenchmarkDecodeNDJSON decodes a body of 100 metlog JSON lines, without
// HTTP.
func BenchmarkDecodeNDJSON(b *testing.B) {
	raw, err := os.ReadFile("../../../message/testdata/metlogpy-udp.jsonl")
	if err != nil {
		b.Fatal(err)
	}
	lines := bytes.Split(bytes.TrimSpace(raw), []byte("\n"))
	var body []byte
	for i := range 100 {
		body = append(append(body, lines[i%len(lines)]...), '\n')
	}
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	var msgs []*message.Message
	for b.Loop() {
		d := decoder{maxMsg: 64 << 10}
		var err *bodyError
		msgs, err = d.ndjson(body, msgs[:0])
		if err != nil || len(msgs) != 100 {
			b.Fatal(err, len(msgs))
		}
	}
	b.ReportMetric(float64(b.N*100)/b.Elapsed().Seconds(), "msgs/s")
}
