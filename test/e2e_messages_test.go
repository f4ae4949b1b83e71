package test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/metlog/metlog/client"
	"github.com/metlog/metlog/message"
)

// routerConfig is a daemon with UDP (one reader, so datagrams keep their
// order), TCP (frames or lines per connection), unix socket, HTTP and
// file (metlog JSON lines, as the client's file sender writes them)
// inputs, writing every message as canonical JSON lines to data/all.jsonl.
const routerConfig = `
[udp]
type = "udp_input"
address = "127.0.0.1:0"
readers = 1

[tcp]
type = "tcp_input"
address = "127.0.0.1:0"
format = "auto"

[unix]
type = "unix_input"
address = "@DIR@/in.sock"

[http]
type = "http_input"

[tail]
type = "file_input"
paths = ["@DIR@/logs/*.log"]
format = "metlog"
start_at = "beginning"
poll_interval = "10ms"

[all]
type = "file_output"
message_matcher = "TRUE"
path = "@DIR@/data/all.jsonl"
when_full = "block"
`

// emitAll sends every kind of message the client library makes.
// Own, the logger of one message that brings its own header values, is
// "own-" and the client's logger.
func emitAll(t testing.TB, c *client.Client, logger string) {
	t.Helper()
	// Log lines at every severity, with every attribute type.
	c.Debug("debug line", client.String("user", "ana"))
	c.Info("user logged in", client.String("user", "ana"), client.Int("attempt", 3),
		client.Int64("big", 1<<53+1), client.Float("ratio", 0.25), client.Float("whole", 2),
		client.Bool("admin", false), client.String("empty", ""))
	c.Notice("ünïcödé ✓ \"quoted\" \\ back\nsecond line\ttab \x01", client.Bytes("raw", []byte{0, 1, 0x1e, 0xfe, 0xff}))
	c.Warn("disk almost full", client.Float("free_pct", 4.5), client.Duration("took", 1500*time.Microsecond),
		client.Int("bytes", 1<<30).WithRepresentation("B"))
	c.Error("lists", client.Strings("tags", "a", "b", ""), client.Ints("codes", -1, 0, 1<<40),
		client.Floats("xs", 1.5, -2, 1e300, 5e-324), client.Bools("bs", true, false, true))
	c.Critical("critical", client.Int("n", -7))
	c.Alert("alert")
	c.Emergency("emergency")
	c.Logf(message.Notice, "job %d failed after %s", 42, "3s")
	c.Info("")

	// Metrics.
	c.Incr("logins")
	c.Incr("bytes.sent", client.Count(512), client.Severity(message.Notice),
		client.Fields(client.String("queue", "mail")))
	c.TimerSend("db.query", 12500*time.Microsecond)
	c.TimerSend("backup", 2*time.Minute+13*time.Second)
	c.Timer("render").Stop()
	c.Time("wrapped", func() {})
	c.Gauge("queue.depth", 17)
	c.Gauge("temperature", -3.5)
	c.GaugeDelta("connections", -1)
	c.GaugeDelta("connections", 2.5)

	// Exceptions and recovered panics.
	c.Exception(fmt.Errorf("load config: %w", os.ErrNotExist))
	func() {
		defer c.Recover(client.Swallow())
		panic("boom")
	}()
	func() {
		defer c.Recover(client.Swallow())
		var list []string
		_ = list[len(logger)] // a runtime error: index out of range
	}()

	// A CEF event.
	err := c.CEF(client.CEFEvent{
		Vendor: "Example", Product: "shop|web", Version: "2.1",
		SignatureID: "AuthFail", Name: "Login failed", Severity: 7,
		Extensions: []client.CEFExtension{client.Ext("suser", "ana"), client.Ext("src", "10.0.0.7"),
			client.Ext("msg", "a=b\nc")},
	}, client.SyslogFacility("AUTH"), client.SyslogPriority("WARNING"), client.SyslogOptions("PID"))
	if err != nil {
		t.Fatal(err)
	}

	// Custom types through Send, with every value type, several values,
	// a representation, fields sharing a name, NaN and infinities.
	m := &message.Message{Type: "deploy", Severity: message.Notice, Payload: "v2.1 to production"}
	m.AddString("service", "shop")
	m.AddInt("instances", 12)
	m.AddDouble("load", 0.75)
	m.AddBool("canary", true)
	m.AddBytes("digest", []byte{0xde, 0xad, 0xbe, 0xef})
	f := m.AddField("hosts", message.String)
	f.Strings = append(f.Strings, "a", "b", "c")
	m.AddString("dup", "first")
	m.AddInt("other", 1)
	m.AddInt("dup", 2)
	m.AddDouble("nan", math.NaN())
	m.AddDouble("inf", math.Inf(-1))
	m.Fields = append(m.Fields, message.NewInt("latency", 12).WithRepresentation("ms"))
	c.Send(m)
	// One that brings its own uuid and timestamp, which must be kept.
	own := &message.Message{Type: "audit", Logger: "own-" + logger, Severity: message.Warning, Payload: "kept",
		UUID: message.NewUUID(), Timestamp: 1_700_000_000_123_456_789,
		Hostname: "elsewhere", Pid: 4242, EnvVersion: "9.9"}
	c.Send(own)
	// A large one (30 KB), still within a UDP datagram.
	c.Send(&message.Message{Type: "big", Payload: strings.Repeat("0123456789", 3000)})

	// slog records through the handler.
	log := slog.New(client.NewHandler(c, &client.HandlerOptions{Level: slog.LevelDebug}))
	log.Debug("slog debug", "k", 1)
	log.Info("slog info", "user", "ana", slog.Group("req", "method", "GET", "status", 200))
	log.With("component", "db").WithGroup("q").Warn("slog warn", "latency", 12*time.Millisecond, "ok", true, "ratio", 0.5)
	log.Error("slog error", "err", errors.New("connection refused"), "big", uint64(math.MaxUint64))
	log.Log(context.Background(), slog.LevelError+4, "slog critical")
}

// newClient returns a client sending to url with the encoder, recording
// every message it sends.
func newClient(t testing.TB, url, encoder, logger string) (*client.Client, *recorder) {
	t.Helper()
	rec := &recorder{}
	c, err := client.New(client.Config{
		Logger:  logger,
		Sender:  client.SenderConfig{URL: url, Encoder: encoder, Block: true, BlockTimeout: 10 * time.Second},
		Filters: []client.FilterFunc{rec.record},
	})
	if err != nil {
		t.Fatal(err)
	}
	return c, rec
}

// flushClose flushes and closes c, failing the test unless every message
// was written.
func flushClose(t testing.TB, c *client.Client, want int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := c.Flush(ctx); err != nil {
		t.Fatalf("flush: %v", err)
	}
	if err := c.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}
	if st := c.Stats(); st.Sent != uint64(want) || st.Dropped+st.Failed+st.TooLarge+st.Filtered != 0 {
		t.Fatalf("client stats %+v, want %d sent", st, want)
	}
}

// Every message type the client library makes, over UDP, TCP and a unix
// socket, framed (protobuf) and as metlog JSON, and through a file that
// file_input tails, lands in the file output exactly: type, logger,
// severity, payload, fields with their types, and, for frames, the uuid and
// timestamp the client gave it. The same messages POSTed to http_input as
// canonical JSON lines and as frames land exactly too.
func TestClientMessagesLandExactly(t *testing.T) {
	t.Parallel()
	d := startDaemon(t, globals()+routerConfig)
	udp, tcp := d.addr("udp"), d.addr("tcp")
	out := d.path("data", "all.jsonl")
	if err := os.Mkdir(d.path("logs"), 0o755); err != nil {
		t.Fatal(err)
	}

	type sender struct{ logger, url, encoder string }
	senders := []sender{
		{"udp-protobuf", "udp://" + udp, "protobuf"},
		{"udp-json", "udp://" + udp, "json"},
		{"tcp-protobuf", "tcp://" + tcp, "protobuf"},
		{"tcp-json", "tcp://" + tcp, "json"},
		{"unix-protobuf", "unix://" + d.path("in.sock"), "protobuf"},
		{"file-json", "file://" + d.path("logs", "app.log"), "json"},
	}
	recs := make([]*recorder, len(senders))
	total := 0
	// One sender after the other, so that the UDP input (one reader) sees
	// each client's datagrams in order; TCP keeps order per connection.
	for i, s := range senders {
		c, rec := newClient(t, s.url, s.encoder, s.logger)
		emitAll(t, c, s.logger)
		n := len(rec.messages())
		flushClose(t, c, n)
		recs[i] = rec
		total += n
	}
	// HTTP: the messages of a client again, under other loggers and
	// uuids, as NDJSON (canonical JSON) and as frames.
	httpWant := map[string][]*message.Message{}
	for _, h := range []struct{ logger, ctype string }{
		{"http-ndjson", "application/x-ndjson"}, {"http-frames", "application/x-protobuf"},
	} {
		var body []byte
		for _, m := range recs[2].messages() {
			m = m.Clone()
			m.UUID = message.NewUUID()
			m.Logger = strings.Replace(m.Logger, "tcp-protobuf", h.logger, 1)
			httpWant[h.logger] = append(httpWant[h.logger], m)
			if h.ctype == "application/x-protobuf" {
				body = message.AppendFrame(body, m, nil)
			} else {
				body = append(message.AppendJSON(body, m), '\n')
			}
		}
		resp, err := http.Post("http://"+d.http+"/v1/messages", h.ctype, bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		answer, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if want := fmt.Sprintf(`{"accepted":%d}`, len(httpWant[h.logger])); resp.StatusCode != 202 || strings.TrimSpace(string(answer)) != want {
			t.Fatalf("POST %s: %d %s, want 202 %s", h.ctype, resp.StatusCode, answer, want)
		}
		total += len(httpWant[h.logger])
	}
	all := waitMessages(t, total, out)
	if len(all) != total {
		t.Fatalf("%d messages in the file, %d sent", len(all), total)
	}
	seen := map[[16]byte]bool{}
	for _, m := range all {
		if m.UUID == ([16]byte{}) || seen[m.UUID] {
			t.Errorf("uuid missing or repeated: %s", canonical(m))
		}
		seen[m.UUID] = true
	}
	for i, s := range senders {
		sent := recs[i].messages()
		var want, got []*message.Message
		for _, m := range all {
			if m.Logger == s.logger || m.Logger == "own-"+s.logger {
				got = append(got, m)
			}
		}
		for j, m := range sent {
			if s.encoder == "json" {
				m = throughMetlogJSON(t, m)
				if j < len(got) {
					m.UUID = got[j].UUID // metlog JSON has no uuid: the router gives one
				}
			}
			want = append(want, m)
		}
		compareMessages(t, s.logger, want, got)
	}
	for logger, want := range httpWant {
		got := append(filterLogger(all, logger), filterLogger(all, "own-"+logger)...)
		compareMessages(t, logger, byConn(want, got...), got)
	}
	st := d.status()
	if st.Routed != uint64(total) || st.Unrouted != 0 {
		t.Errorf("/status routed %d, unmatched %d; want %d, 0", st.Routed, st.Unrouted, total)
	}
	for _, name := range []string{"udp", "tcp", "unix", "http", "tail"} {
		if p := d.plugin(name); p.DecodeErrors != 0 || p.Errors != 0 || len(p.Dropped) != 0 {
			t.Errorf("[%s] counted problems: %+v", name, p)
		}
	}
	if p := d.plugin("all"); p.Out != uint64(total) || p.In != uint64(total) {
		t.Errorf("[all] in %d out %d, want %d", p.In, p.Out, total)
	}
}
