package httpin_test

import (
	"bytes"
	"compress/flate"
	"compress/gzip"
	"compress/zlib"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/metlog/metlog/message"
	"github.com/metlog/metlog/pipeline"
	"github.com/metlog/metlog/pipeline/pipelinetest"
	_ "github.com/metlog/metlog/plugins/codecs"
	httpin "github.com/metlog/metlog/plugins/inputs/http"
)

// ownInput is a pipeline with an http_input on its own listener and a
// capture output.
const ownInput = `
[in]
type = "http_input"
listen = "127.0.0.1:0"
%s

[out]
type = "capture_output"
message_matcher = "TRUE"
`

func runOwn(t *testing.T, extra string) (*pipeline.Pipeline, string, *pipelinetest.Capture) {
	t.Helper()
	p := pipelinetest.Run(t, strings.Replace(ownInput, "%s", extra, 1))
	return p, "http://" + input(t, p, "in").Addr() + "/v1/messages", pipelinetest.Output(t, p, "out")
}

func gz(b []byte) []byte {
	var buf bytes.Buffer
	w := gzip.NewWriter(&buf)
	w.Write(b)
	w.Close()
	return buf.Bytes()
}

func zl(b []byte) []byte {
	var buf bytes.Buffer
	w := zlib.NewWriter(&buf)
	w.Write(b)
	w.Close()
	return buf.Bytes()
}

func rawDeflate(b []byte) []byte {
	var buf bytes.Buffer
	w, _ := flate.NewWriter(&buf, flate.BestSpeed)
	w.Write(b)
	w.Close()
	return buf.Bytes()
}

// TestFormats sends each body format and encoding and checks that exactly
// the messages sent arrive, in order.
func TestFormats(t *testing.T) {
	mlines, mmsgs := metlogLines(t)
	cmsgs := testMessages(6)
	clines := jsonLines(cmsgs)

	// Metlog and canonical lines interleaved, with a blank line and CRLF.
	var mixed []byte
	var mixedWant []*message.Message
	for i := range max(len(mlines), len(clines)) {
		if i < len(mlines) {
			mixed = append(append(mixed, mlines[i]...), '\n')
			mixedWant = append(mixedWant, mmsgs[i])
		}
		if i < len(clines) {
			mixed = append(append(mixed, clines[i]...), "\r\n"...)
			mixedWant = append(mixedWant, cmsgs[i])
		}
		if i == 2 {
			mixed = append(mixed, "  \n"...)
		}
	}
	noNewline := bytes.TrimSuffix(mixed, []byte("\n"))
	framed := frames(cmsgs)
	plain := []*message.Message{
		{Type: "plain", Severity: message.Info, Payload: "first line"},
		{Type: "plain", Severity: message.Info, Payload: `{"not": "parsed"}`},
	}

	for _, tc := range []struct {
		name  string
		extra string // settings
		r     req
		want  []*message.Message
	}{
		{"ndjson mixed", "", req{body: mixed}, mixedWant},
		{"ndjson without last newline", "", req{body: noNewline}, mixedWant},
		{"ndjson with a byte order mark", "", req{body: append([]byte("\xef\xbb\xbf"), mixed...)}, mixedWant},
		{"metlog lines as application/json", "", req{ctype: "application/json; charset=utf-8", body: bytes.Join(mlines, []byte("\n"))}, mmsgs},
		{"text/plain", "", req{ctype: "text/plain", body: mixed}, mixedWant},
		{"no content type", "", req{ctype: "-", body: mixed}, mixedWant},
		{"framed", "", req{ctype: "application/x-protobuf", body: framed}, cmsgs},
		{"framed as octet-stream", "", req{ctype: "application/octet-stream", body: framed}, cmsgs},
		{"framed as x-metlog-frames", "", req{ctype: "application/x-metlog-frames", body: framed}, cmsgs},
		{"framed whatever the content type", "", req{ctype: "application/x-ndjson", body: framed}, cmsgs},
		{"framed without content type", "", req{ctype: "-", body: framed}, cmsgs},
		{"gzip ndjson", "", req{encoding: "gzip", body: gz(mixed)}, mixedWant},
		{"x-gzip framed", "", req{ctype: "application/x-protobuf", encoding: "x-gzip", body: gz(framed)}, cmsgs},
		{"gzip chunked", "", req{encoding: "gzip", chunked: true, body: gz(mixed)}, mixedWant},
		{"deflate (zlib) ndjson", "", req{encoding: "deflate", body: zl(mixed)}, mixedWant},
		{"deflate (zlib) framed", "", req{ctype: "application/x-protobuf", encoding: "deflate", body: zl(framed)}, cmsgs},
		{"deflate (raw) ndjson", "", req{encoding: "deflate", body: rawDeflate(mixed)}, mixedWant},
		{"identity", "", req{encoding: "identity", body: mixed}, mixedWant},
		{"format framed ignores content type", `format = "framed"`, req{ctype: "text/html", body: framed}, cmsgs},
		{"format plain", `format = "plain"`, req{ctype: "-", body: []byte("first line\r\n\n{\"not\": \"parsed\"}\n")}, plain},
		{"format metlog", `format = "metlog"`, req{ctype: "image/png", body: bytes.Join(mlines, []byte("\n"))}, mmsgs},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, url, out := runOwn(t, tc.extra)
			a := send(t, newClient(t), url, tc.r)
			if a.Status != http.StatusAccepted || a.Accepted != len(tc.want) {
				t.Fatalf("status %d, %+v; want 202 accepting %d", a.Status, a, len(tc.want))
			}
			sameMessages(t, out.Wait(t, len(tc.want)), tc.want)
		})
	}
}

// TestSharedListener serves two inputs on metlogd's shared listener, next
// to /status.
func TestSharedListener(t *testing.T) {
	p := pipelinetest.Run(t, sharedConfig(t)+`
[in]
type = "http_input"

[in2]
type = "http_input"
path = "/v2/"

[out]
type = "capture_output"
message_matcher = "TRUE"
`)
	base := "http://" + p.HTTPAddr()
	c := newClient(t)
	msgs := testMessages(3)
	if a := send(t, c, base+"/v1/messages", req{body: bytes.Join(jsonLines(msgs[:2]), []byte("\n"))}); a.Status != http.StatusAccepted || a.Accepted != 2 {
		t.Fatalf("/v1/messages: %+v", a)
	}
	if a := send(t, c, base+"/v2/anything/below", req{ctype: "application/x-protobuf", body: frames(msgs[2:])}); a.Status != http.StatusAccepted || a.Accepted != 1 {
		t.Fatalf("/v2/...: %+v", a)
	}
	out := pipelinetest.Output(t, p, "out")
	sameMessages(t, out.Wait(t, 3), msgs)

	resp, err := c.Get(base + "/status")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !bytes.Contains(body, []byte(`"type": "http_input"`)) {
		t.Fatalf("/status: %d %s", resp.StatusCode, body)
	}
	if a := send(t, c, base+"/v1/other", req{body: []byte("{}")}); a.Status != http.StatusNotFound {
		t.Fatalf("/v1/other: %d", a.Status)
	}
	if n := p.Metrics("in").In.Load(); n != 2 {
		t.Errorf("in counted %d messages, want 2", n)
	}
}

// TestStartErrors: paths that are taken, and no listener at all.
func TestStartErrors(t *testing.T) {
	for _, tc := range []struct {
		name, cfg, want string
	}{
		{"two inputs on one path", sharedConfig(t) + `
[a]
type = "http_input"
[b]
type = "http_input"
`, "/v1/messages is already served"},
		{"a built-in path", sharedConfig(t) + `
[a]
type = "http_input"
path = "/status"
`, "/status is already served"},
		{"shared listener off", `
[a]
type = "http_input"
`, "shared HTTP listener is off"},
		{"own listener address in use", `
[a]
type = "http_input"
listen = "127.0.0.1:0"
`, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := tc.cfg
			if tc.want == "" { // take the port first
				ln, err := net.Listen("tcp", "127.0.0.1:0")
				if err != nil {
					t.Fatal(err)
				}
				defer ln.Close()
				cfg = strings.Replace(cfg, "127.0.0.1:0", ln.Addr().String(), 1)
				tc.want = "listen " + ln.Addr().String()
			}
			_, err := pipelinetest.Start(t, cfg+`
[out]
type = "capture_output"
message_matcher = "TRUE"
`)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("start error %v, want one saying %q", err, tc.want)
			}
		})
	}
}

// TestValidate: bad settings fail to load, naming the key.
func TestValidate(t *testing.T) {
	c := makeCerts(t)
	for _, tc := range []struct{ settings, want string }{
		{`path = "v1"`, "path: \"v1\" must start with /"},
		{`path = "/a b"`, "path: "},
		{`listen = "localhost"`, "listen: "},
		{`format = "xml"`, "format: \"xml\" is not auto, framed, ndjson or a line decoder"},
		{`max_body = "100B"`, "max_body: "},
		{`max_body = "2GiB"`, "max_body: "},
		{`max_message_size = 10`, "max_message_size: "},
		{`max_requests = 0`, "max_requests: "},
		{`max_connections = 0`, "max_connections: "},
		{`read_timeout = "0s"`, "read_timeout: "},
		{`read_header_timeout = "-1s"`, "read_header_timeout: "},
		{`tokens = [""]`, "tokens: token 1 is empty"},
		{`tokens = ["ok", "has space"]`, "tokens: token 2 contains a space"},
		{`nonsense = 1`, "unknown key"},
		{"[in.tls]\ncert_file = \"" + c.serverCert + "\"\nkey_file = \"" + c.serverKey + "\"", "tls: TLS needs the input's own listener"},
		{"listen = \"127.0.0.1:0\"\n[in.tls]\ncert_file = \"/nonexistent.crt\"\nkey_file = \"" + c.serverKey + "\"", "tls.cert_file: "},
		{"listen = \"127.0.0.1:0\"\n[in.tls]\ncert_file = \"" + c.serverCert + "\"\nkey_file = \"" + c.serverKey + "\"\nclient_auth = \"require\"", "ca_file"},
	} {
		t.Run(tc.settings, func(t *testing.T) {
			_, err := pipelinetest.Parse(t, "[in]\ntype = \"http_input\"\n"+tc.settings+"\n")
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one containing %q", err, tc.want)
			}
		})
	}
}

// TestTLS runs the own listener with TLS and with mutual TLS.
func TestTLS(t *testing.T) {
	c := makeCerts(t)
	tlsTable := "\n[in.tls]\ncert_file = \"" + c.serverCert + "\"\nkey_file = \"" + c.serverKey + "\"\n"
	body := bytes.Join(jsonLines(testMessages(2)), []byte("\n"))

	t.Run("tls", func(t *testing.T) {
		p, url, out := runOwn(t, tlsTable)
		url = strings.Replace(url, "http://", "https://", 1)
		if a := send(t, tlsClient(t, c, nil), url, req{body: body}); a.Status != http.StatusAccepted || a.Accepted != 2 {
			t.Fatalf("%+v", a)
		}
		out.Wait(t, 2)
		// Plain HTTP to the TLS port gets no message in.
		resp, err := newClient(t).Post(strings.Replace(url, "https://", "http://", 1), "application/x-ndjson", bytes.NewReader(body))
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusAccepted {
				t.Fatal("plain HTTP accepted on the TLS listener")
			}
		}
		if n := p.Metrics("in").In.Load(); n != 2 {
			t.Fatalf("%d messages in, want 2", n)
		}
	})
	t.Run("mutual tls", func(t *testing.T) {
		p, url, out := runOwn(t, tlsTable+"ca_file = \""+c.ca+"\"\nclient_auth = \"require\"\n")
		url = strings.Replace(url, "http://", "https://", 1)
		_, err := tlsClient(t, c, nil).Post(url, "application/x-ndjson", bytes.NewReader(body))
		if err == nil {
			t.Fatal("a client without a certificate was accepted")
		}
		// A certificate from another CA is refused too.
		other := makeCerts(t)
		if _, err := tlsClient(t, c, &other.client).Post(url, "application/x-ndjson", bytes.NewReader(body)); err == nil {
			t.Fatal("a client certificate of another CA was accepted")
		}
		if a := send(t, tlsClient(t, c, &c.client), url, req{body: body}); a.Status != http.StatusAccepted || a.Accepted != 2 {
			t.Fatalf("%+v", a)
		}
		out.Wait(t, 2)
		if n := p.Metrics("in").In.Load(); n != 2 {
			t.Fatalf("%d messages in, want 2", n)
		}
	})
}

// TestTokens checks bearer authentication.
func TestTokens(t *testing.T) {
	p, url, out := runOwn(t, `tokens = ["s3cret-one", "s3cret-two"]`)
	c := newClient(t)
	body := []byte(`{"type":"t","payload":"x"}`)
	good := 0
	for _, tc := range []struct {
		name      string
		r         req
		status    int
		challenge string
	}{
		{"missing", req{}, 401, `Bearer realm="metlogd"`},
		{"wrong", req{token: "s3cret-three"}, 401, `Bearer realm="metlogd", error="invalid_token"`},
		{"prefix of a token", req{token: "s3cret-on"}, 401, `Bearer realm="metlogd", error="invalid_token"`},
		{"empty", req{auth: "Bearer "}, 401, `Bearer realm="metlogd"`},
		{"basic", req{auth: "Basic czNjcmV0LW9uZQ=="}, 401, `Bearer realm="metlogd"`},
		{"first", req{token: "s3cret-one"}, 202, ""},
		{"second", req{token: "s3cret-two"}, 202, ""},
		{"scheme in lower case", req{auth: "bearer s3cret-two"}, 202, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := tc.r
			r.body = body
			a := send(t, c, url, r)
			if a.Status != tc.status {
				t.Fatalf("status %d (%s), want %d", a.Status, a.Error, tc.status)
			}
			if got := a.Header.Get("WWW-Authenticate"); got != tc.challenge {
				t.Fatalf("WWW-Authenticate %q, want %q", got, tc.challenge)
			}
			if tc.status == 202 {
				good++
			}
		})
	}
	out.Wait(t, good)
	m := p.Metrics("in")
	if n := m.Dropped(pipeline.DropUnauthorized); n != 5 {
		t.Errorf("%d requests counted unauthorized, want 5", n)
	}
	if n := m.In.Load(); n != uint64(good) {
		t.Errorf("%d messages in, want %d", n, good)
	}
}

// counter reads one of an input's counters.
type counter func(m *pipeline.Metrics) uint64

func decodeErrors(m *pipeline.Metrics) uint64 { return m.DecodeErrors.Load() }
func tooLarge(m *pipeline.Metrics) uint64     { return m.Dropped(pipeline.DropTooLarge) }

// TestBadInput sends one bad request after another: each gets its status
// and reason, is counted once, delivers nothing, and the next good request
// on the same client still works.
func TestBadInput(t *testing.T) {
	p, url, out := runOwn(t, "max_body = \"8KiB\"\nmax_message_size = \"1KiB\"")
	c := newClient(t)
	good := []byte(`{"type":"good","payload":"ok"}` + "\n")
	line := func(s string) []byte { return []byte(`{"type":"t","payload":"` + s + `"}` + "\n") }
	bigLine := line(strings.Repeat("x", 1100))
	okFrame := frames(testMessages(1))
	big := testMessages(1)[0]
	big.Payload = strings.Repeat("y", 2000)
	var bomb bytes.Buffer
	zw := gzip.NewWriter(&bomb)
	zw.Write(make([]byte, 1<<20))
	zw.Close()
	badProto := message.AppendFrameBytes(nil, []byte{0x0a, 0x05, 1}, nil) // uuid field cut short

	for _, tc := range []struct {
		name   string
		r      req
		status int
		reason string // in the error
		line   int
		frame  int
		count  counter
	}{
		{"truncated JSON", req{body: append(append(line("a"), line("b")...), `{"type":"t","pay`...)}, 400, "ends early", 3, 0, decodeErrors},
		{"not an object", req{body: append(line("a"), "[1,2]\n"...)}, 400, "must be a JSON object", 2, 0, decodeErrors},
		{"binary garbage", req{body: []byte("\x00\x01\x02\xff\xfe garbage\n")}, 400, "JSON", 1, 0, decodeErrors},
		{"bad metlog JSON", req{body: []byte(`{"metlog_pid": 1, "severity": "high"}`)}, 400, `"severity"`, 1, 0, decodeErrors},
		{"bad frame header", req{ctype: "application/x-protobuf", body: append(bytes.Clone(okFrame), 0x1e, 1, 0, 0x1f)}, 400, "not a valid frame", 0, 2, decodeErrors},
		{"garbage after frames", req{ctype: "application/x-protobuf", body: append(bytes.Clone(okFrame), "\n"...)}, 400, "not the record separator", 0, 2, decodeErrors},
		{"truncated frame", req{ctype: "application/x-protobuf", body: okFrame[:len(okFrame)-3]}, 400, "ends inside the frame", 0, 1, decodeErrors},
		{"bad protobuf in a frame", req{ctype: "application/x-protobuf", body: badProto}, 400, "protobuf", 0, 1, decodeErrors},
		{"invalid gzip", req{encoding: "gzip", body: []byte("this is not gzip")}, 400, "not valid gzip", 0, 0, decodeErrors},
		{"truncated gzip", req{encoding: "gzip", body: gz(good)[:15]}, 400, "truncated", 0, 0, decodeErrors},
		{"invalid deflate", req{encoding: "deflate", body: []byte{0xff, 0xff, 0xff, 0xff}}, 400, "not valid deflate", 0, 0, decodeErrors},
		{"wrong method", req{method: http.MethodGet}, 405, "use POST", 0, 0, decodeErrors},
		{"PUT", req{method: http.MethodPut, body: good}, 405, "use POST", 0, 0, decodeErrors},
		{"wrong content type", req{ctype: "application/x-www-form-urlencoded", body: good}, 415, "Content-Type", 0, 0, decodeErrors},
		{"unknown encoding", req{encoding: "br", body: good}, 415, "Content-Encoding", 0, 0, decodeErrors},
		{"two encodings", req{encoding: "gzip, gzip", body: gz(gz(good))}, 415, "Content-Encoding", 0, 0, decodeErrors},
		{"oversized body", req{body: bytes.Repeat(good, 400)}, 413, "max_body", 0, 0, tooLarge},
		{"oversized chunked body", req{chunked: true, body: bytes.Repeat(good, 400)}, 413, "max_body", 0, 0, tooLarge},
		{"zip bomb", req{encoding: "gzip", body: bomb.Bytes()}, 413, "decompresses to more than max_body", 0, 0, tooLarge},
		{"oversized message", req{body: append(append(line("a"), line("b")...), bigLine...)}, 413, "max_message_size", 3, 0, tooLarge},
		{"oversized frame", req{ctype: "application/x-protobuf", body: append(bytes.Clone(okFrame), frames([]*message.Message{big})...)}, 413, "max_message_size", 0, 2, tooLarge},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := p.Metrics("in")
			before, beforeIn := tc.count(m), m.In.Load()
			a := send(t, c, url, tc.r)
			if a.Status != tc.status || !strings.Contains(a.Error, tc.reason) || a.Line != tc.line || a.Frame != tc.frame || a.Accepted != 0 {
				t.Fatalf("got %d %+v; want %d, a reason with %q, line %d, frame %d", a.Status, a, tc.status, tc.reason, tc.line, tc.frame)
			}
			if tc.frame > 0 && a.Offset == nil {
				t.Fatal("no offset")
			}
			if tc.status == 405 && a.Header.Get("Allow") != "POST" {
				t.Fatalf("Allow %q", a.Header.Get("Allow"))
			}
			if got := tc.count(m); got != before+1 {
				t.Fatalf("counter went from %d to %d, want +1", before, got)
			}
			if m.In.Load() != beforeIn {
				t.Fatal("a message of a refused request was delivered")
			}
			if a := send(t, c, url, req{body: good}); a.Status != 202 || a.Accepted != 1 {
				t.Fatalf("the next good request: %+v", a)
			}
		})
	}
	t.Run("empty body", func(t *testing.T) {
		for _, r := range []req{{}, {body: []byte("\n\n  \r\n")}, {encoding: "gzip"}, {encoding: "gzip", body: gz(nil)}} {
			if a := send(t, c, url, r); a.Status != 202 || a.Accepted != 0 {
				t.Fatalf("%+v: %+v", r, a)
			}
		}
	})
	// Only the good requests' messages arrived.
	n := int(p.Metrics("in").In.Load())
	msgs := out.Wait(t, n)
	for _, m := range msgs {
		if m.Type != "good" {
			t.Fatalf("a %q message arrived", m.Type)
		}
	}
}

// TestKeepAlive: good and refused requests reuse one connection.
func TestKeepAlive(t *testing.T) {
	_, url, out := runOwn(t, "")
	c := newClient(t)
	conns := 0
	trace := &httptrace.ClientTrace{GotConn: func(info httptrace.GotConnInfo) {
		if !info.Reused {
			conns++
		}
	}}
	for i, body := range []string{`{"type":"a"}`, `{"type":`, `{"type":"b"}`, "\x00", `{"type":"c"}`} {
		hr, _ := http.NewRequestWithContext(httptrace.WithClientTrace(context.Background(), trace), http.MethodPost, url, strings.NewReader(body))
		hr.Header.Set("Content-Type", "application/x-ndjson")
		resp, err := c.Do(hr)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if want := []int{202, 400}[i%2]; resp.StatusCode != want {
			t.Fatalf("request %d: status %d, want %d", i, resp.StatusCode, want)
		}
	}
	if conns != 1 {
		t.Fatalf("%d connections for 5 requests, want 1", conns)
	}
	out.Wait(t, 3)
}

// blockingOutput makes the output slow and its queue hold one message, so
// that inputs block.
const blockingOutput = `
[in]
type = "http_input"
listen = "127.0.0.1:0"

[out]
type = "capture_output"
message_matcher = "TRUE"
when_full = "block"
queue_size = 1
batch_size = 1
delay = "%s"
`

// TestAnswerAfterAccepted: the 202 comes only once the router has queued
// every message of the request.
func TestAnswerAfterAccepted(t *testing.T) {
	p := pipelinetest.Run(t, strings.Replace(blockingOutput, "%s", "20ms", 1))
	out := pipelinetest.Output(t, p, "out")
	url := "http://" + input(t, p, "in").Addr() + "/v1/messages"
	const n = 8
	msgs := testMessages(n)
	resp, err := newClient(t).Post(url, "application/x-ndjson", bytes.NewReader(bytes.Join(jsonLines(msgs), []byte("\n"))))
	if err != nil {
		t.Fatal(err)
	}
	// As soon as the status line is in, the last message is queued and
	// one more may be in the output's hands: the rest must have been
	// delivered already.
	if got := len(out.Messages()); got < n-2 {
		t.Fatalf("answered when %d of %d messages were delivered; the queue holds 1 and the output 1", got, n)
	}
	a := readAnswer(t, resp)
	resp.Body.Close()
	if a.Status != 202 || a.Accepted != n {
		t.Fatalf("%+v", a)
	}
	sameMessages(t, out.Wait(t, n), msgs)
}

// TestClientGone: when the client goes away while the request waits for
// the router, the input stops delivering, does not claim success, and
// counts an error.
func TestClientGone(t *testing.T) {
	p := pipelinetest.Run(t, strings.Replace(blockingOutput, "%s", "100ms", 1))
	out := pipelinetest.Output(t, p, "out")
	addr := input(t, p, "in").Addr()
	const n = 30
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	rd := rawPost(t, conn, "/v1/messages", bytes.Join(jsonLines(testMessages(n)), []byte("\n")))
	out.Wait(t, 1) // delivery is under way, blocked on the queue
	// The client hangs up its sending side: net/http ends the request's
	// context; the answer can still be read.
	if err := conn.(*net.TCPConn).CloseWrite(); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(rd, nil)
	if err != nil {
		t.Fatal(err)
	}
	a := readAnswer(t, resp)
	resp.Body.Close()
	if a.Status != http.StatusServiceUnavailable || a.Accepted >= n || !strings.Contains(a.Error, "client went away") {
		t.Fatalf("%+v", a)
	}
	if a.Header.Get("Retry-After") == "" {
		t.Error("no Retry-After")
	}
	m := p.Metrics("in")
	if m.Errors.Load() != 1 {
		t.Errorf("%d errors counted, want 1", m.Errors.Load())
	}
	if in := m.In.Load(); in > uint64(a.Accepted)+1 {
		t.Errorf("%d messages delivered, but %d claimed accepted", in, a.Accepted)
	}
}

// TestClientCancels: a Go client that cancels its request while the input
// waits for the router gets no success, and the input stops delivering.
func TestClientCancels(t *testing.T) {
	p := pipelinetest.Run(t, strings.Replace(blockingOutput, "%s", "100ms", 1))
	out := pipelinetest.Output(t, p, "out")
	url := "http://" + input(t, p, "in").Addr() + "/v1/messages"
	const n = 30
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	hr, _ := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(bytes.Join(jsonLines(testMessages(n)), []byte("\n"))))
	hr.Header.Set("Content-Type", "application/x-ndjson")
	errc := make(chan error, 1)
	c := newClient(t)
	go func() {
		resp, err := c.Do(hr)
		if err == nil {
			resp.Body.Close()
			err = errors.New(resp.Status)
		}
		errc <- err
	}()
	out.Wait(t, 1)
	cancel()
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Fatalf("the request ended with %v", err)
	}
	m := p.Metrics("in")
	pipelinetest.Eventually(t, func() bool { return m.Errors.Load() == 1 }, "the input did not notice the client went away")
	if in := m.In.Load(); in >= n {
		t.Fatalf("all %d messages were delivered for a cancelled request", in)
	}
}

// TestStopDuringDelivery: a request waiting for the router when the
// pipeline shuts down is answered 503 with what was accepted.
func TestStopDuringDelivery(t *testing.T) {
	p := pipelinetest.Run(t, strings.Replace(blockingOutput, "%s", "50ms", 1))
	out := pipelinetest.Output(t, p, "out")
	url := "http://" + input(t, p, "in").Addr() + "/v1/messages"
	const n = 50
	done := make(chan answer, 1)
	c := newClient(t)
	go func() {
		a, err := trySend(c, url, req{body: bytes.Join(jsonLines(testMessages(n)), []byte("\n"))})
		if err != nil {
			a.Error = err.Error()
		}
		done <- a
	}()
	out.Wait(t, 1)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := p.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	a := <-done
	if a.Status != http.StatusServiceUnavailable || a.Accepted >= n || !strings.Contains(a.Error, "stopping") {
		t.Fatalf("%+v", a)
	}
	if got := len(out.Messages()); got != a.Accepted {
		t.Fatalf("%d messages delivered, %d claimed accepted", got, a.Accepted)
	}
}

// TestStopEndsDeliveries: Stop alone (Run still running) ends a delivery
// waiting for the router, answered 503, and returns.
func TestStopEndsDeliveries(t *testing.T) {
	p := pipelinetest.Run(t, strings.Replace(blockingOutput, "%s", "50ms", 1))
	out := pipelinetest.Output(t, p, "out")
	in := input(t, p, "in")
	url := "http://" + in.Addr() + "/v1/messages"
	done := make(chan answer, 1)
	c := newClient(t)
	go func() {
		a, err := trySend(c, url, req{body: bytes.Join(jsonLines(testMessages(100)), []byte("\n"))})
		if err != nil {
			a.Error = err.Error()
		}
		done <- a
	}()
	out.Wait(t, 1)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := in.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	if a := <-done; a.Status != http.StatusServiceUnavailable || !strings.Contains(a.Error, "stopping") {
		t.Fatalf("%+v", a)
	}
}

// TestMaxConnections: the own listener serves at most max_connections at
// once; others wait.
func TestMaxConnections(t *testing.T) {
	_, url, out := runOwn(t, "max_connections = 1")
	addr := strings.TrimSuffix(strings.TrimPrefix(url, "http://"), "/v1/messages")
	hold, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	// The held connection takes the only slot once accepted: a request on
	// it is answered.
	rd := rawPost(t, hold, "/v1/messages", []byte(`{"type":"held"}`))
	resp, err := http.ReadResponse(rd, nil)
	if err != nil || resp.StatusCode != 202 {
		t.Fatal(resp, err)
	}
	resp.Body.Close()
	// Another connection waits while it is open.
	c := newClient(t)
	c.Timeout = 300 * time.Millisecond
	if _, err := c.Post(url, "application/x-ndjson", strings.NewReader(`{"type":"waits"}`)); err == nil {
		t.Fatal("a second connection was served while max_connections = 1 was in use")
	}
	hold.Close()
	c.Timeout = 10 * time.Second
	if a := send(t, c, url, req{body: []byte(`{"type":"later"}`)}); a.Status != 202 {
		t.Fatalf("%+v", a)
	}
	out.Wait(t, 2)
}

// TestStopIdempotent: Stop twice, and without Start.
func TestStopIdempotent(t *testing.T) {
	p, url, _ := runOwn(t, "")
	in := input(t, p, "in")
	ctx := context.Background()
	for range 2 {
		if err := in.Stop(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := newClient(t).Post(url, "application/x-ndjson", strings.NewReader("{}")); err == nil {
		t.Fatal("the stopped input still serves")
	}
	if err := httpin.New().Stop(ctx); err != nil { // never started
		t.Fatal(err)
	}
}

// TestConcurrentInstances runs several inputs at once, each with clients in
// parallel (run with -race).
func TestConcurrentInstances(t *testing.T) {
	var wg sync.WaitGroup
	body := gz(bytes.Join(jsonLines(testMessages(5)), []byte("\n")))
	for range 3 {
		_, url, out := runOwn(t, "max_requests = 2")
		c := newClient(t)
		for range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for range 5 {
					if a, err := trySend(c, url, req{encoding: "gzip", body: body}); err != nil || a.Status != 202 {
						t.Errorf("%+v %v", a, err)
						return
					}
				}
			}()
		}
		defer func() { out.Wait(t, 100) }()
	}
	wg.Wait()
}

// TestSample loads sample.toml and runs it on the shared listener.
func TestSample(t *testing.T) {
	sample, err := os.ReadFile("sample.toml")
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("METLOG_INGEST_TOKEN", "sample-token")
	p := pipelinetest.Run(t, sharedConfig(t)+string(sample)+`
[out]
type = "capture_output"
message_matcher = "TRUE"
`)
	url := "http://" + p.HTTPAddr() + "/v1/messages"
	if a := send(t, newClient(t), url, req{token: "sample-token", body: []byte(`{"type":"sample"}`)}); a.Status != 202 || a.Accepted != 1 {
		t.Fatalf("%+v", a)
	}
	pipelinetest.Output(t, p, "out").Wait(t, 1)
}

// TestReload changes the tokens of an input on the shared listener: the
// new input takes over the path.
func TestReload(t *testing.T) {
	head := sharedConfig(t)
	cfg := func(token string) string {
		return head + `
[in]
type = "http_input"
tokens = ["` + token + `"]

[out]
type = "capture_output"
message_matcher = "TRUE"
`
	}
	p := pipelinetest.Run(t, cfg("old-token"))
	url := "http://" + p.HTTPAddr() + "/v1/messages"
	c := newClient(t)
	body := []byte(`{"type":"t"}`)
	if a := send(t, c, url, req{token: "old-token", body: body}); a.Status != 202 {
		t.Fatalf("%+v", a)
	}
	next, err := pipelinetest.Parse(t, cfg("new-token"))
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Reload(next); err != nil {
		t.Fatal(err)
	}
	if a := send(t, c, url, req{token: "old-token", body: body}); a.Status != 401 {
		t.Fatalf("old token after reload: %+v", a)
	}
	if a := send(t, c, url, req{token: "new-token", body: body}); a.Status != 202 {
		t.Fatalf("new token after reload: %+v", a)
	}
	pipelinetest.Output(t, p, "out").Wait(t, 2)
}
