package netin

import (
	"fmt"
	"strings"
	"testing"

	"github.com/metlog/metlog/client"
	"github.com/metlog/metlog/message"
	"github.com/metlog/metlog/pipeline"
	"github.com/metlog/metlog/pipeline/pipelinetest"
)

// encoded is how a test sends messages: the bytes for the wire, one piece
// per datagram or write, and the messages the input must produce.
type encoded struct {
	pieces [][]byte
	want   []*message.Message
}

// encode renders n test messages in format f. Unframed formats get a
// newline after each message when stream is set.
func encode(t *testing.T, f string, n int, stream bool) encoded {
	t.Helper()
	var e encoded
	nl := func(b []byte) []byte {
		if stream {
			return append(b, '\n')
		}
		return b
	}
	for i := range n {
		m := testMessage(i)
		kind := f
		if f == formatAuto { // a mix of everything auto-detection tells apart
			kind = []string{formatHeka, formatMetlog, formatJSON, formatPlain}[i%4]
		}
		if f == formatAutoJSON {
			kind = []string{formatMetlog, formatJSON}[i%2]
		}
		switch kind {
		case formatHeka:
			e.pieces = append(e.pieces, message.AppendFrame(nil, m, nil))
			e.want = append(e.want, m)
		case formatMetlog:
			b := message.AppendMetlogJSON(nil, m)
			w := new(message.Message)
			if err := message.DecodeMetlogJSON(b, w); err != nil {
				t.Fatal(err)
			}
			e.pieces = append(e.pieces, nl(b))
			e.want = append(e.want, w)
		case formatJSON:
			e.pieces = append(e.pieces, nl(message.AppendJSON(nil, m)))
			e.want = append(e.want, m)
		case formatPlain:
			line := fmt.Sprintf("plain line %d ünïcode", i)
			e.pieces = append(e.pieces, nl([]byte(line)))
			e.want = append(e.want, &message.Message{Type: "plain", Severity: message.Info, Payload: line})
		}
	}
	return e
}

// TestStreamFormats sends every format, as raw bytes and through the
// client library, over TCP and a unix socket, and checks that exactly the
// messages sent arrive.
func TestStreamFormats(t *testing.T) {
	for _, network := range []string{"tcp", "unix"} {
		for _, format := range []string{formatHeka, formatMetlog, formatJSON, formatAutoJSON, formatPlain} {
			t.Run(network+"/"+format, func(t *testing.T) {
				p, out, addr := startStream(t, network, format, "")
				e := encode(t, format, 8, true)
				c := dial(t, network, addr)
				// One write, then one write per message, so that messages
				// straddle reads.
				write(t, c, concat(e.pieces[:4]...))
				write(t, c, e.pieces[4:]...)
				checkMessages(t, out.Wait(t, len(e.want)), e.want)
				checkCounts(t, p, "in", counts{})
				if got := p.Metrics("in").Bytes.Load(); got != uint64(len(concat(e.pieces...))) {
					t.Fatalf("bytes counted %d, sent %d", got, len(concat(e.pieces...)))
				}
			})
		}
		for _, enc := range []string{"protobuf", "json"} {
			format := formatHeka
			if enc == "json" {
				format = formatMetlog
			}
			t.Run(network+"/client-"+enc, func(t *testing.T) {
				_, out, addr := startStream(t, network, format, "")
				url := "tcp://" + addr
				if network == "unix" {
					url = "unix://" + addr
				}
				c := newClient(t, url, enc, client.HMACConfig{})
				var want []*message.Message
				for i := range 5 {
					m := testMessage(i)
					c.Send(m)
					if enc == "json" { // what survives metlog JSON
						w := new(message.Message)
						if err := message.DecodeMetlogJSON(message.AppendMetlogJSON(nil, m), w); err != nil {
							t.Fatal(err)
						}
						m = w
					}
					want = append(want, m)
				}
				c.Incr("requests", client.Count(3))
				flush(t, c)
				got := out.Wait(t, 6)
				checkMessages(t, got[:5], want)
				if m := got[5]; m.Type != "counter" || m.Payload != "3" {
					t.Fatalf("counter arrived as %+v", m)
				}
			})
		}
	}
}

// startStream starts a tcp_input or unix_input named [in] on a free
// address, with extra configuration lines.
func startStream(t *testing.T, network, format, extra string) (p *pipeline.Pipeline, out *pipelinetest.Capture, addr string) {
	t.Helper()
	cfg := fmt.Sprintf("[in]\ntype = %q\nformat = %q\n", network+"_input", format)
	if network == "unix" {
		cfg += fmt.Sprintf("address = %q\n", socketPath(t))
	} else {
		cfg += "address = \"127.0.0.1:0\"\n"
	}
	p, out = runInput(t, cfg+extra)
	return p, out, addrOf(t, p, "in")
}

// startUDP starts a udp_input named [in] on a free port, with one reader
// so that datagrams are handled in the order sent.
func startUDP(t *testing.T, format, extra string) (p *pipeline.Pipeline, out *pipelinetest.Capture, addr string) {
	t.Helper()
	cfg := fmt.Sprintf("[in]\ntype = \"udp_input\"\naddress = \"127.0.0.1:0\"\nreaders = 1\nformat = %q\n", format)
	p, out = runInput(t, cfg+extra)
	return p, out, addrOf(t, p, "in")
}

func concat(bs ...[]byte) []byte {
	var out []byte
	for _, b := range bs {
		out = append(out, b...)
	}
	return out
}

// TestUDPFormats sends one message per datagram in every format, forced
// and auto-detected, and several frames in one datagram.
func TestUDPFormats(t *testing.T) {
	for _, format := range []string{formatAuto, formatHeka, formatMetlog, formatJSON, formatAutoJSON, formatPlain} {
		t.Run(format, func(t *testing.T) {
			p, out, addr := startUDP(t, format, "")
			e := encode(t, format, 8, false)
			c := dial(t, "udp", addr)
			write(t, c, e.pieces...)
			checkMessages(t, out.Wait(t, len(e.want)), e.want)
			checkCounts(t, p, "in", counts{})
		})
	}
	t.Run("frames-in-one-datagram", func(t *testing.T) {
		for _, format := range []string{formatAuto, formatHeka} {
			p, out, addr := startUDP(t, format, "")
			e := encode(t, formatHeka, 5, false)
			write(t, dial(t, "udp", addr), concat(e.pieces...))
			checkMessages(t, out.Wait(t, 5), e.want)
			checkCounts(t, p, "in", counts{})
		}
	})
	t.Run("json-with-leading-space", func(t *testing.T) {
		_, out, addr := startUDP(t, formatAuto, "")
		write(t, dial(t, "udp", addr), []byte(" \n\t{\"type\":\"x\",\"payload\":\"spaced\"}"))
		if m := out.Wait(t, 1)[0]; m.Type != "x" || m.Payload != "spaced" {
			t.Fatalf("got %+v", m)
		}
	})
	for _, enc := range []string{"protobuf", "json"} {
		t.Run("client-"+enc, func(t *testing.T) {
			_, out, addr := startUDP(t, formatAuto, "")
			c := newClient(t, "udp://"+addr, enc, client.HMACConfig{})
			c.Info("hello from the client", client.String("k", "v"))
			c.Incr("hits")
			flush(t, c)
			got := out.Wait(t, 2)
			var types []string
			for _, m := range got {
				types = append(types, m.Type)
			}
			if s := strings.Join(types, ","); s != "oldstyle,counter" && s != "counter,oldstyle" {
				t.Fatalf("types %s", s)
			}
			for _, m := range got {
				if m.Type == "oldstyle" {
					if v, _ := m.GetString("k"); m.Payload != "hello from the client" || v != "v" || m.Severity != message.Info {
						t.Fatalf("got %+v", m)
					}
				}
			}
		})
	}
}

// TestClassify checks auto-detection, byte by byte.
func TestClassify(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want string
	}{
		{"\x1e\x02\x08\x00\x1f", formatHeka},
		{"{}", formatAutoJSON},
		{"  \r\n\t{", formatAutoJSON},
		{"hello", formatPlain},
		{" hello {", formatPlain},
		{"", formatPlain},
		{"[1,2]", formatPlain},
		{" \x1e", formatPlain}, // a frame must start the datagram
	} {
		if got := classify([]byte(tc.in)); got != tc.want {
			t.Errorf("classify(%q) = %s, want %s", tc.in, got, tc.want)
		}
	}
}

// TestStreamAuto checks format auto on streams: a connection starting with
// a frame is read as frames, any other as lines of JSON or plain text.
func TestStreamAuto(t *testing.T) {
	for _, network := range []string{"tcp", "unix"} {
		t.Run(network, func(t *testing.T) {
			p, out, addr := startStream(t, network, formatAuto, "")
			var frames encoded
			for i := 100; i < 104; i++ { // payloads apart from the lines'
				m := testMessage(i)
				frames.pieces = append(frames.pieces, message.AppendFrame(nil, m, nil))
				frames.want = append(frames.want, m)
			}
			lines := encode(t, formatAuto, 12, true) // heka, metlog, json, plain in turn
			var want []*message.Message
			c := dial(t, network, addr)
			for i, piece := range lines.pieces {
				if i%4 == 0 {
					continue // a frame: not for a line connection
				}
				write(t, c, piece)
				want = append(want, lines.want[i])
			}
			write(t, c, []byte("\x1e not a frame here\n"), []byte("\xff\xfe binary\n"))
			write(t, dial(t, network, addr), frames.pieces...)
			want = append(append(want, frames.want...), &message.Message{Type: "plain", Severity: message.Info, Payload: "\x1e not a frame here"})
			checkMessages(t, out.Wait(t, len(want)), want)
			waitCounts(t, p, "in", counts{Decode: 1})
		})
	}
	t.Run("require-signed", func(t *testing.T) {
		p, out, addr := startStream(t, "tcp", formatAuto, "require_signed = true\n[in.signers]\nops_1 = \"k\"\n")
		write(t, dial(t, "tcp", addr), []byte("{\"type\":\"x\"}\nplain\n"))
		write(t, dial(t, "tcp", addr), frameOf("unsigned"), signedSentinel(t, "ops", 1, "k"))
		out.Wait(t, 1)
		waitCounts(t, p, "in", counts{Unauthorized: 3})
		if n := len(out.Messages()); n != 1 {
			t.Fatalf("%d messages passed", n)
		}
	})
	t.Run("empty-connection", func(t *testing.T) {
		p, _, addr := startStream(t, "tcp", formatAuto, "")
		dial(t, "tcp", addr).Close()
		write(t, dial(t, "tcp", addr), []byte("late\n"))
		pipelinetest.Eventually(t, func() bool { return p.Metrics("in").In.Load() == 1 }, "the message")
		checkCounts(t, p, "in", counts{})
	})
}
