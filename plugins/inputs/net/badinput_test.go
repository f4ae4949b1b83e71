package netin

import (
	"bytes"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/metlog/metlog/message"
	"github.com/metlog/metlog/pipeline"
	"github.com/metlog/metlog/pipeline/pipelinetest"
)

// hugeHeader is a frame header announcing a 1 GiB message, and a little
// of its "body".
var hugeHeader = []byte("\x1e\x06\x08\x80\x80\x80\x80\x04\x1fthe body that never ends")

// badFrames are frames that are not valid, each with what it counts.
var (
	shortHeaderLen   = []byte("\x1e\x01\x08\x05\x1fhello")
	noUnitSeparator  = []byte("\x1e\x02\x08\x05Xhello")
	undecodableFrame = message.AppendFrameBytes(nil, []byte{0x0a, 0x7f, 0x01}, nil) // a uuid running past the end
	badUUIDFrame     = message.AppendFrameBytes(nil, []byte{0x0a, 0x03, 0x01, 0x02, 0x03}, nil)
)

// frameOf frames a message with a fixed uuid free of separator bytes, so
// that its body holds nothing a scanner could take for a frame.
func frameOf(payload string) []byte {
	m := &message.Message{UUID: [16]byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16}, Timestamp: 1, Type: "good", Payload: payload}
	return message.AppendFrame(nil, m, nil)
}

// garbage returns n random bytes with no record separator.
func garbage(n int) []byte {
	r := rand.New(rand.NewPCG(1, 2))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.UintN(256))
		if b[i] == message.RecordSeparator {
			b[i] = 0
		}
	}
	return b
}

// TestStreamBadFrames sends bad input, then a good frame, on one
// connection: the good frame must arrive and the bad input be counted
// exactly.
func TestStreamBadFrames(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   [][]byte
		good int // good messages in in, besides the sentinel
		want counts
	}{
		{"garbage-before", [][]byte{[]byte("not a frame at all\n")}, 0, counts{Decode: 1}},
		{"garbage-between", [][]byte{frameOf("a"), []byte("garbage"), frameOf("b")}, 2, counts{Decode: 1}},
		{"binary-garbage", [][]byte{garbage(100000)}, 0, counts{Decode: 1}},
		{"binary-garbage-then-frames", [][]byte{garbage(5000), frameOf("a"), garbage(10), frameOf("b")}, 2, counts{Decode: 2}},
		{"separators", [][]byte{bytes.Repeat([]byte{0x1e, 0x01}, 5000)}, 0, counts{Decode: 1}},
		{"short-header-length", [][]byte{shortHeaderLen}, 0, counts{Decode: 1}},
		{"no-unit-separator", [][]byte{noUnitSeparator}, 0, counts{Decode: 1}},
		{"huge-length", [][]byte{hugeHeader}, 0, counts{TooLarge: 1}},
		{"over-max-size", [][]byte{frameOf(strings.Repeat("x", 2000))}, 0, counts{TooLarge: 1}},
		{"garbage-then-huge", [][]byte{[]byte("junk"), hugeHeader}, 0, counts{Decode: 1, TooLarge: 1}},
		{"two-huge", [][]byte{hugeHeader, frameOf("a"), hugeHeader}, 1, counts{TooLarge: 2}},
		{"undecodable-message", [][]byte{undecodableFrame}, 0, counts{Decode: 1}},
		{"bad-uuid", [][]byte{frameOf("a"), badUUIDFrame, frameOf("b")}, 2, counts{Decode: 1}},
		{"frame-hidden-in-garbage", [][]byte{[]byte("\x1e\x02\x08"), frameOf("hidden")}, 1, counts{Decode: 1}},
	} {
		for _, network := range []string{"tcp", "unix"} {
			t.Run(network+"/"+tc.name, func(t *testing.T) {
				p, out, addr := startStream(t, network, formatHeka, "max_message_size = 1024\n")
				c := dial(t, network, addr)
				write(t, c, tc.in...)
				write(t, c, sentinel())
				got := out.Wait(t, tc.good+1)
				if last := got[len(got)-1]; last.Type != "sentinel" {
					t.Fatalf("last message %+v, want the sentinel", last)
				}
				checkCounts(t, p, "in", tc.want)
			})
		}
	}
}

// TestStreamTruncatedFrame closes a connection in the middle of a frame:
// the rest is counted, and other connections go on.
func TestStreamTruncatedFrame(t *testing.T) {
	p, out, addr := startStream(t, "tcp", formatHeka, "")
	fr := frameOf("cut")
	c := dial(t, "tcp", addr)
	write(t, c, frameOf("whole"), fr[:len(fr)/2])
	c.Close()
	write(t, dial(t, "tcp", addr), sentinel())
	out.Wait(t, 2)
	waitCounts(t, p, "in", counts{Decode: 1})
}

// TestStreamBadLines sends bad lines, then a good one, on one connection.
func TestStreamBadLines(t *testing.T) {
	for _, tc := range []struct {
		name    string
		formats []string
		extra   string
		in      [][]byte
		good    int
		want    counts
	}{
		{"truncated-json", []string{formatMetlog, formatJSON, formatAutoJSON}, "",
			[][]byte{[]byte(`{"type": "x", "payl` + "\n")}, 0, counts{Decode: 1}},
		{"not-json", []string{formatMetlog, formatJSON, formatAutoJSON}, "",
			[][]byte{[]byte("hello\n"), []byte("[1, 2]\n")}, 0, counts{Decode: 2}},
		{"binary-garbage", []string{formatMetlog, formatJSON, formatAutoJSON}, "",
			[][]byte{bytes.ReplaceAll(garbage(50), []byte("\n"), nil), []byte("\n")}, 0, counts{Decode: 1}},
		{"binary-garbage-plain", []string{formatPlain}, "",
			[][]byte{bytes.ReplaceAll(garbage(50), []byte("\n"), nil), []byte("\n")}, 1, counts{}},
		{"long-line", []string{formatMetlog, formatJSON, formatAutoJSON, formatPlain}, "max_line = 100\n",
			[][]byte{[]byte(strings.Repeat("x", 1000) + "\n")}, 0, counts{TooLarge: 1}},
		{"line-one-over", []string{formatPlain}, "max_line = 100\n",
			[][]byte{[]byte(strings.Repeat("x", 101) + "\n" + strings.Repeat("y", 100) + "\n")}, 1, counts{TooLarge: 1}},
		{"long-line-many-reads", []string{formatMetlog, formatPlain}, "max_line = 100\n",
			[][]byte{[]byte(strings.Repeat("x", 300000)), []byte(strings.Repeat("y", 1000) + "\n")}, 0, counts{TooLarge: 1}},
		{"long-line-over-buffer", []string{formatAutoJSON}, "max_line = \"200KiB\"\n",
			[][]byte{[]byte(`{"payload":"` + strings.Repeat("x", 300000) + "\"}\n"), []byte(`{"payload":"` + strings.Repeat("x", 150000) + "\"}\n")}, 1, counts{TooLarge: 1}},
		{"blank-lines", []string{formatMetlog, formatPlain}, "",
			[][]byte{[]byte("\n\r\n   \n\t\n")}, 0, counts{}},
		{"crlf", []string{formatAutoJSON, formatPlain}, "",
			[][]byte{[]byte(`{"type":"crlf"}` + "\r\n")}, 1, counts{}},
	} {
		for _, format := range tc.formats {
			for _, network := range []string{"tcp", "unix"} {
				t.Run(network+"/"+format+"/"+tc.name, func(t *testing.T) {
					p, out, addr := startStream(t, network, format, tc.extra)
					c := dial(t, network, addr)
					write(t, c, tc.in...)
					write(t, c, sentinelLine())
					got := out.Wait(t, tc.good+1)
					if last := got[len(got)-1]; !strings.Contains(last.Payload, "sentinel") {
						t.Fatalf("last message %+v, want the sentinel", last)
					}
					if format == formatPlain && tc.name == "crlf" && got[0].Payload != `{"type":"crlf"}` {
						t.Fatalf("payload %q kept its carriage return", got[0].Payload)
					}
					checkCounts(t, p, "in", tc.want)
				})
			}
		}
	}
}

// TestStreamLastLine checks that a last line without a newline arrives
// when the connection closes.
func TestStreamLastLine(t *testing.T) {
	_, out, addr := startStream(t, "tcp", formatPlain, "")
	c := dial(t, "tcp", addr)
	write(t, c, []byte("first\nlast without newline"))
	c.Close()
	got := out.Wait(t, 2)
	if got[0].Payload != "first" || got[1].Payload != "last without newline" {
		t.Fatalf("got %q, %q", got[0].Payload, got[1].Payload)
	}
}

// TestUDPBadDatagrams sends bad datagrams, then a good one: the good one
// arrives and the bad ones are counted exactly.
func TestUDPBadDatagrams(t *testing.T) {
	for _, tc := range []struct {
		name   string
		format string
		in     [][]byte
		good   int
		want   counts
	}{
		{"oversized-json", formatAuto, [][]byte{[]byte(`{"payload":"` + strings.Repeat("x", 2000) + `"}`)}, 0, counts{TooLarge: 1}},
		{"oversized-plain", formatAuto, [][]byte{[]byte(strings.Repeat("x", 1025))}, 0, counts{TooLarge: 1}},
		{"at-the-limit", formatPlain, [][]byte{[]byte(strings.Repeat("x", 1024))}, 1, counts{}},
		{"frames-over-the-datagram-limit", formatAuto, [][]byte{concat(frameOf(strings.Repeat("a", 500)), frameOf(strings.Repeat("b", 500)), frameOf(strings.Repeat("c", 500)))}, 0, counts{TooLarge: 1}},
		{"truncated-by-the-buffer", formatAuto, [][]byte{[]byte(strings.Repeat("x", 20000))}, 0, counts{TooLarge: 1}},
		{"huge-length-frame", formatAuto, [][]byte{hugeHeader}, 0, counts{TooLarge: 1}},
		{"over-max-size-frame", formatHeka, [][]byte{frameOf(strings.Repeat("x", 1100))}, 0, counts{TooLarge: 1}},
		{"short-header-length", formatAuto, [][]byte{shortHeaderLen}, 0, counts{Decode: 1}},
		{"no-unit-separator", formatHeka, [][]byte{noUnitSeparator}, 0, counts{Decode: 1}},
		{"frame-then-garbage", formatAuto, [][]byte{append(frameOf("a"), "junk"...)}, 1, counts{Decode: 1}},
		{"truncated-frame", formatAuto, [][]byte{frameOf("cut")[:20]}, 0, counts{Decode: 1}},
		{"undecodable-then-good", formatAuto, [][]byte{concat(undecodableFrame, frameOf("a"), badUUIDFrame, frameOf("b"))}, 2, counts{Decode: 2}},
		{"truncated-json", formatAuto, [][]byte{[]byte(`{"type": "x", "pay`)}, 0, counts{Decode: 1}},
		{"binary-garbage", formatAuto, [][]byte{append([]byte{0xff, 0xfe}, garbage(500)...)}, 0, counts{Decode: 1}},
		{"garbage-as-heka", formatHeka, [][]byte{[]byte("hello")}, 0, counts{Decode: 1}},
		{"garbage-as-metlog", formatMetlog, [][]byte{[]byte("hello")}, 0, counts{Decode: 1}},
		{"empty-and-blank", formatAuto, [][]byte{{}, []byte(" \n")}, 0, counts{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, out, addr := startUDP(t, tc.format, "max_message_size = 1024\n")
			c := dial(t, "udp", addr)
			write(t, c, tc.in...)
			last := sentinel()
			if tc.format == formatMetlog || tc.format == formatPlain {
				last = sentinelLine()
			}
			write(t, c, last)
			got := out.Wait(t, tc.good+1)
			if m := got[len(got)-1]; !strings.Contains(m.Payload, "sentinel") {
				t.Fatalf("last message %+v, want the sentinel", m)
			}
			checkCounts(t, p, "in", tc.want)
		})
	}
}

// TestUDPReadersKeepUp sends a burst to two readers and checks that every
// datagram arrives (the receive buffer absorbs the burst).
func TestUDPReadersKeepUp(t *testing.T) {
	p, out, addr := runUDPBurst(t)
	c := dial(t, "udp", addr)
	const n = 2000
	for i := range n {
		write(t, c, frameOf(strings.Repeat("p", i%100)))
		if i%200 == 199 { // stay within the socket buffer of a small default
			out.WaitFor(t, i+1, 10*time.Second)
		}
	}
	out.Wait(t, n)
	checkCounts(t, p, "in", counts{})
}

// runUDPBurst starts a udp_input with the default two readers.
func runUDPBurst(t *testing.T) (*pipeline.Pipeline, *pipelinetest.Capture, string) {
	t.Helper()
	p, out := runInput(t, "[in]\ntype = \"udp_input\"\naddress = \"127.0.0.1:0\"\n")
	return p, out, addrOf(t, p, "in")
}
