package test

import (
	"bytes"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/metlog/metlog/message"
)

// badInputConfig has every input, each with a 1 KiB limit so that
// oversized input is cheap to make, and one file output.
const badInputConfig = `
[udp]
type = "udp_input"
address = "127.0.0.1:0"
readers = 1
max_message_size = "1KiB"

[frames]
type = "tcp_input"
address = "127.0.0.1:0"
format = "heka"
max_message_size = "1KiB"

[lines]
type = "tcp_input"
address = "127.0.0.1:0"
format = "auto_json"
max_line = "1KiB"

[plain]
type = "tcp_input"
address = "127.0.0.1:0"
format = "plain"
max_line = "1KiB"

[unix]
type = "unix_input"
address = "@DIR@/in.sock"
max_message_size = "1KiB"

[http]
type = "http_input"
tokens = ["${INGEST_TOKEN}"]
max_message_size = "1KiB"
max_body = "8KiB"

[tail]
type = "file_input"
paths = ["@DIR@/logs/*.jsonl"]
format = "json"
start_at = "beginning"
poll_interval = "10ms"
max_line = "1KiB"

[all]
type = "file_output"
message_matcher = "TRUE"
path = "@DIR@/data/all.jsonl"
when_full = "block"
`

// counts are an input's counters in /status.
type counts struct{ in, decode, tooLarge, unauthorized, errors uint64 }

func (c counts) String() string {
	return fmt.Sprintf("in %d decode_errors %d too_large %d unauthorized %d errors %d",
		c.in, c.decode, c.tooLarge, c.unauthorized, c.errors)
}

// inputCounts follows one input's counters as a test feeds it.
type inputCounts struct {
	d    *daemon
	name string
	want counts
}

func (ic *inputCounts) now() counts {
	p := ic.d.plugin(ic.name)
	return counts{p.In, p.DecodeErrors, p.Dropped["too_large"], p.Dropped["unauthorized"], p.Errors}
}

// expect adds delta to what the input must have counted, and waits until
// its counters are exactly that.
func (ic *inputCounts) expect(t testing.TB, what string, delta counts) {
	t.Helper()
	w := &ic.want
	w.in += delta.in
	w.decode += delta.decode
	w.tooLarge += delta.tooLarge
	w.unauthorized += delta.unauthorized
	w.errors += delta.errors
	var got counts
	waitFor(t, fmt.Sprintf("[%s] after %s: %v", ic.name, what, *w), func() bool {
		got = ic.now()
		return got == *w
	}, func() string { return "counted " + got.String() })
}

// goodMessage is a message that must arrive, told apart by its payload.
func goodMessage(input, what string) *message.Message {
	return &message.Message{UUID: message.NewUUID(), Timestamp: time.Now().UnixNano(), Type: "good",
		Logger: "badinput", Severity: message.Info, Payload: "good after " + input + ": " + what}
}

// frameOf frames a message whose uuid and timestamp hold no record
// separator, so that nothing in its body looks like the start of a frame.
func frameOf(t testing.TB, payload string) []byte {
	m := &message.Message{UUID: [16]byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16}, Timestamp: 1,
		Type: "bad", Payload: payload}
	f := message.AppendFrame(nil, m, nil)
	if bytes.IndexByte(f[1:], message.RecordSeparator) >= 0 {
		t.Fatalf("the frame of %q holds a record separator", payload)
	}
	return f
}

// garbage returns n random bytes without a record separator or a newline.
func garbage(n int) []byte {
	r := rand.New(rand.NewPCG(uint64(n), 7))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.UintN(256))
		if b[i] == message.RecordSeparator || b[i] == '\n' {
			b[i] = 0xff
		}
	}
	return b
}

var (
	// A header announcing a 1 GiB message, and a little of its "body".
	hugeHeader = []byte("\x1e\x06\x08\x80\x80\x80\x80\x04\x1fthe body that never ends")
	// A header length under 2; a header not followed by 0x1f.
	shortHeader = []byte("\x1e\x01\x08\x05\x1fhello")
	noUnitSep   = []byte("\x1e\x02\x08\x05Xhello")
	// A frame whose message is not protobuf (a uuid running past the end).
	undecodable = message.AppendFrameBytes(nil, []byte{0x0a, 0x7f, 0x01}, nil)
)

func signedByStranger(t testing.TB) []byte {
	s, err := message.NewSigner("stranger", 1, message.SHA1, []byte("whatever"))
	if err != nil {
		t.Fatal(err)
	}
	return message.AppendFrame(nil, &message.Message{UUID: message.NewUUID(), Type: "bad", Payload: "signed"}, s)
}

// Bad input on every input is counted exactly in /status, logged
// (rate-limited), and never keeps the next good message from arriving;
// no bad input turns into a message.
func TestBadInputOnEveryInput(t *testing.T) {
	t.Parallel()
	d := startDaemon(t, globals()+badInputConfig, "INGEST_TOKEN=s3cret")
	out := d.path("data", "all.jsonl")
	if err := os.MkdirAll(d.path("logs"), 0o755); err != nil {
		t.Fatal(err)
	}
	// arrived waits for a good message in the output.
	arrived := func(t *testing.T, m *message.Message) {
		t.Helper()
		if got := waitPayload(t, out, m.Payload); !sameMessage(m, got) {
			t.Errorf("sent %s\ngot  %s", canonical(m), canonical(got))
		}
	}

	t.Run("group", func(t *testing.T) {
		t.Run("udp", func(t *testing.T) {
			t.Parallel()
			ic := &inputCounts{d: d, name: "udp"}
			conn, err := net.Dial("udp", d.addr("udp"))
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			send := func(b []byte) {
				t.Helper()
				if _, err := conn.Write(b); err != nil {
					t.Fatal(err)
				}
			}
			for _, tc := range []struct {
				name  string
				bad   [][]byte // datagrams
				delta counts
			}{
				{"binary garbage", [][]byte{append([]byte{0x80}, garbage(300)...)}, counts{decode: 1}},
				{"truncated JSON", [][]byte{[]byte(`{"type":"x","payload":"ab`)}, counts{decode: 1}},
				{"JSON that is not a message", [][]byte{[]byte(`{"severity":"loud"}`)}, counts{decode: 1}},
				{"header length under 2", [][]byte{shortHeader}, counts{decode: 1}},
				{"no unit separator", [][]byte{noUnitSep}, counts{decode: 1}},
				{"undecodable protobuf", [][]byte{undecodable}, counts{decode: 1}},
				{"truncated frame", [][]byte{frameOf(t, "cut")[:20]}, counts{decode: 1}},
				{"oversized plain datagram", [][]byte{bytes.Repeat([]byte("a"), 1100)}, counts{tooLarge: 1}},
				{"oversized JSON datagram", [][]byte{[]byte(`{"payload":"` + strings.Repeat("x", 1100) + `"}`)}, counts{tooLarge: 1}},
				{"datagram over the read buffer", [][]byte{bytes.Repeat([]byte("b"), 9000)}, counts{tooLarge: 1}},
				{"frame over max_message_size", [][]byte{frameOf(t, strings.Repeat("x", 1050))}, counts{tooLarge: 1}},
				{"header announcing 1 GiB", [][]byte{hugeHeader}, counts{tooLarge: 1}},
				{"signed by an unknown signer", [][]byte{signedByStranger(t)}, counts{unauthorized: 1}},
				{"empty and blank datagrams", [][]byte{{}, []byte(" \n\t ")}, counts{}},
			} {
				for _, b := range tc.bad {
					send(b)
				}
				good := goodMessage("udp", tc.name)
				send(message.AppendFrame(nil, good, nil))
				arrived(t, good)
				tc.delta.in++
				ic.expect(t, tc.name, tc.delta)
			}
			// A good frame followed by garbage in one datagram: the frame
			// is delivered, the rest counted once.
			good := goodMessage("udp", "frame then garbage")
			send(append(message.AppendFrame(nil, good, nil), "trailing garbage"...))
			arrived(t, good)
			ic.expect(t, "frame then garbage", counts{in: 1, decode: 1})
		})

		// Heka framing on a TCP stream and on a unix socket: bad bytes
		// and the good frame after them on one connection.
		stream := func(name, network, addr string) func(t *testing.T) {
			return func(t *testing.T) {
				t.Parallel()
				ic := &inputCounts{d: d, name: name}
				conn, err := net.Dial(network, addr)
				if err != nil {
					t.Fatal(err)
				}
				defer conn.Close()
				for _, tc := range []struct {
					name  string
					bad   []byte
					delta counts
				}{
					{"garbage before a frame", []byte("this is not a frame\n"), counts{decode: 1}},
					{"100 KB of binary garbage", garbage(100_000), counts{decode: 1}},
					{"header length under 2", shortHeader, counts{decode: 1}},
					{"no unit separator", noUnitSep, counts{decode: 1}},
					{"undecodable protobuf", undecodable, counts{decode: 1}},
					{"header announcing 1 GiB", hugeHeader, counts{tooLarge: 1}},
					{"frame over max_message_size", frameOf(t, strings.Repeat("x", 2000)), counts{tooLarge: 1}},
					{"signed by an unknown signer", signedByStranger(t), counts{unauthorized: 1}},
					{"a good frame hidden after a false start", []byte("\x1e\x02\x08"), counts{decode: 1}},
				} {
					good := goodMessage(name, tc.name)
					if _, err := conn.Write(append(append([]byte(nil), tc.bad...), message.AppendFrame(nil, good, nil)...)); err != nil {
						t.Fatal(err)
					}
					arrived(t, good)
					tc.delta.in++
					ic.expect(t, tc.name, tc.delta)
				}
				// Garbage between two good frames.
				a, b := goodMessage(name, "before garbage"), goodMessage(name, "after garbage")
				var buf []byte
				buf = message.AppendFrame(buf, a, nil)
				buf = append(buf, "garbage between frames"...)
				buf = message.AppendFrame(buf, b, nil)
				if _, err := conn.Write(buf); err != nil {
					t.Fatal(err)
				}
				arrived(t, a)
				arrived(t, b)
				ic.expect(t, "garbage between frames", counts{in: 2, decode: 1})
				// A frame cut off by the end of its connection.
				cut, err := net.Dial(network, addr)
				if err != nil {
					t.Fatal(err)
				}
				good := goodMessage(name, "cut frame")
				f := message.AppendFrame(nil, good, nil)
				cut.Write(f[:len(f)/2])
				cut.Close()
				ic.expect(t, "a frame cut by the end of the connection", counts{decode: 1})
				conn.Write(f)
				arrived(t, good)
				ic.expect(t, "the next frame", counts{in: 1})
			}
		}
		t.Run("tcp heka", stream("frames", "tcp", d.addr("frames")))
		t.Run("unix heka", stream("unix", "unix", d.path("in.sock")))

		t.Run("tcp lines", func(t *testing.T) {
			t.Parallel()
			ic := &inputCounts{d: d, name: "lines"}
			conn, err := net.Dial("tcp", d.addr("lines"))
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			for _, tc := range []struct {
				name  string
				bad   string
				delta counts
			}{
				{"truncated JSON", `{"type":"x","payload":"ab` + "\n", counts{decode: 1}},
				{"not JSON", "hello world\n", counts{decode: 1}},
				{"binary garbage", string(garbage(500)) + "\n", counts{decode: 1}},
				{"JSON that is not an object", "[1,2,3]\n", counts{decode: 1}},
				{"bad metlog JSON", `{"metlog_pid": "x", "severity": 9}` + "\n", counts{decode: 1}},
				{"a line over max_line", `{"payload":"` + strings.Repeat("x", 2000) + `"}` + "\n", counts{tooLarge: 1}},
				{"a 300 KB line", strings.Repeat("y", 300_000) + "\n", counts{tooLarge: 1}},
				{"blank lines", "\n   \n\r\n", counts{}},
			} {
				good := goodMessage("lines", tc.name)
				if _, err := io.WriteString(conn, tc.bad+string(message.AppendJSON(nil, good))+"\r\n"); err != nil {
					t.Fatal(err)
				}
				arrived(t, good)
				tc.delta.in++
				ic.expect(t, tc.name, tc.delta)
			}
			// A last line cut short: complete JSON is delivered when the
			// client closes; truncated JSON is a decode error.
			cut, err := net.Dial("tcp", d.addr("lines"))
			if err != nil {
				t.Fatal(err)
			}
			io.WriteString(cut, `{"payload":"tru`)
			cut.Close()
			ic.expect(t, "truncated last line", counts{decode: 1})
		})

		t.Run("tcp plain", func(t *testing.T) {
			t.Parallel()
			ic := &inputCounts{d: d, name: "plain"}
			conn, err := net.Dial("tcp", d.addr("plain"))
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			io.WriteString(conn, strings.Repeat("z", 5000)+"\n")
			io.WriteString(conn, "a plain line after a long one\n")
			m := waitPayload(t, out, "a plain line after a long one")
			if m.Type != "plain" || m.Severity != 6 || len(m.Fields) != 0 {
				t.Errorf("plain line became %s", canonical(m))
			}
			ic.expect(t, "a line over max_line", counts{in: 1, tooLarge: 1})
		})

		t.Run("http", func(t *testing.T) {
			t.Parallel()
			ic := &inputCounts{d: d, name: "http"}
			url := "http://" + d.http + "/v1/messages"
			post := func(method, ctype, token, encoding string, body []byte) (int, string) {
				t.Helper()
				req, err := http.NewRequest(method, url, bytes.NewReader(body))
				if err != nil {
					t.Fatal(err)
				}
				if ctype != "" {
					req.Header.Set("Content-Type", ctype)
				}
				if token != "" {
					req.Header.Set("Authorization", "Bearer "+token)
				}
				if encoding != "" {
					req.Header.Set("Content-Encoding", encoding)
				}
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				defer resp.Body.Close()
				b, _ := io.ReadAll(resp.Body)
				return resp.StatusCode, string(b)
			}
			const nd = "application/x-ndjson"
			goodLine := string(message.AppendJSON(nil, goodMessage("http", "not delivered with a bad line"))) + "\n"
			for _, tc := range []struct {
				name                 string
				method, ctype, token string
				encoding             string
				body                 []byte
				status               int
				reason               string
				delta                counts
			}{
				{"truncated JSON", "POST", nd, "s3cret", "", []byte(`{"type":"x","payload":"ab`), 400, "line 1", counts{decode: 1}},
				{"a bad line after a good one", "POST", nd, "s3cret", "", []byte(goodLine + "not json\n"), 400, "line 2", counts{decode: 1}},
				{"binary garbage", "POST", nd, "s3cret", "", garbage(500), 400, "line 1", counts{decode: 1}},
				{"a bad frame", "POST", "application/x-protobuf", "s3cret", "", append(frameOf(t, "ok"), noUnitSep...), 400, "frame 2", counts{decode: 1}},
				{"invalid gzip", "POST", nd, "s3cret", "gzip", []byte("not gzip at all"), 400, "gzip", counts{decode: 1}},
				{"a line over max_message_size", "POST", nd, "s3cret", "", []byte(`{"payload":"` + strings.Repeat("x", 2000) + `"}`), 413, "line 1", counts{tooLarge: 1}},
				{"a body over max_body", "POST", nd, "s3cret", "", bytes.Repeat([]byte("{}\n"), 4000), 413, "", counts{tooLarge: 1}},
				{"unknown content type", "POST", "text/html", "s3cret", "", []byte("<p>hi</p>"), 415, "", counts{decode: 1}},
				{"GET", "GET", "", "s3cret", "", nil, 405, "", counts{decode: 1}},
				{"no token", "POST", nd, "", "", []byte(goodLine), 401, "", counts{unauthorized: 1}},
				{"a wrong token", "POST", nd, "s3cre", "", []byte(goodLine), 401, "", counts{unauthorized: 1}},
			} {
				status, body := post(tc.method, tc.ctype, tc.token, tc.encoding, tc.body)
				if status != tc.status || !strings.Contains(body, tc.reason) || !strings.Contains(body, `"accepted":0`) {
					t.Errorf("%s: %d %s; want %d mentioning %q", tc.name, status, body, tc.status, tc.reason)
				}
				good := goodMessage("http", tc.name)
				if status, body := post("POST", nd, "s3cret", "", append(message.AppendJSON(nil, good), '\n')); status != 202 || !strings.Contains(body, `"accepted":1`) {
					t.Fatalf("good request after %s: %d %s", tc.name, status, body)
				}
				arrived(t, good)
				tc.delta.in++
				ic.expect(t, tc.name, tc.delta)
			}
			for _, m := range readMessages(t, out) {
				if m.Payload == "good after http: not delivered with a bad line" {
					t.Errorf("a request refused with 400 delivered its good line")
				}
			}
		})

		t.Run("file", func(t *testing.T) {
			t.Parallel()
			ic := &inputCounts{d: d, name: "tail"}
			f, err := os.OpenFile(d.path("logs", "app.jsonl"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			for _, tc := range []struct {
				name  string
				bad   string
				delta counts
			}{
				{"truncated JSON", `{"type":"x","payload":"ab` + "\n", counts{decode: 1}},
				{"binary garbage", string(garbage(700)) + "\n", counts{decode: 1}},
				{"a JSON string", `"just a string"` + "\n", counts{decode: 1}},
				{"a line over max_line", `{"payload":"` + strings.Repeat("x", 2000) + `"}` + "\n", counts{tooLarge: 1}},
				{"a 300 KB line", strings.Repeat("y", 300_000) + "\n", counts{tooLarge: 1}},
				{"empty lines and lines of white space", "\n  \n\t\r\n", counts{}},
			} {
				good := goodMessage("file", tc.name)
				if _, err := f.WriteString(tc.bad + string(message.AppendJSON(nil, good)) + "\n"); err != nil {
					t.Fatal(err)
				}
				arrived(t, good)
				tc.delta.in++
				ic.expect(t, tc.name, tc.delta)
			}
		})
	})

	// Nothing but the good messages arrived, once each.
	seen := map[string]bool{}
	for _, m := range readMessages(t, out) {
		if m.Type == "plain" {
			continue
		}
		if m.Type != "good" || seen[m.Payload] {
			t.Errorf("unexpected message: %s", canonical(m))
		}
		seen[m.Payload] = true
	}
	// Each problem is logged, at most once per kind in 10 s per input
	// (so less often than it happened).
	for _, c := range []struct {
		plugin, msg string
		happened    int
	}{
		{"udp", "input that is not a valid message was discarded", 7},
		{"udp", "over the size limit was dropped", 5},
		{"frames", "input that is not a valid message was discarded", 8},
		{"unix", "input that is not a valid message was discarded", 8},
		{"lines", "input that is not a valid message was discarded", 6},
		{"http", "rejected an HTTP request", 11},
		{"tail", "is not a valid", 3},
		{"tail", "over max_line", 2},
	} {
		n := len(d.logLines("plugin="+c.plugin+" ", c.msg))
		if n == 0 || n >= c.happened {
			t.Errorf("[%s] %q: logged %d times for %d occurrences; want at least once, rate-limited", c.plugin, c.msg, n, c.happened)
		}
	}
	if d.exited() {
		t.Fatal("metlogd exited")
	}
}
