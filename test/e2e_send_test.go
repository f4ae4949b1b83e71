package test

import (
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/metlog/metlog/message"
)

// sendCase is one `metlog send` command and the message it must produce,
// written out by hand from docs/cli.md. The envelope values the tool
// chooses (uuid, timestamp, pid) are checked separately, unless the
// message brings them (json).
type sendCase struct {
	name  string
	args  []string
	stdin string
	want  *message.Message
	// given: the message carries its own uuid and timestamp.
	given bool
}

func sendCases(logger string) []sendCase {
	host, _ := os.Hostname()
	msg := func(typ string, sev int32, payload string, fields ...message.Field) *message.Message {
		return &message.Message{Type: typ, Logger: logger, Severity: sev, Payload: payload,
			EnvVersion: "0.8", Hostname: host, Fields: fields}
	}
	metric := func(typ, payload string, rate float64, name string, more ...message.Field) *message.Message {
		return msg(typ, message.Info, payload, append([]message.Field{message.NewDouble("rate", rate), message.NewString("name", name)}, more...)...)
	}
	// Messages sent with `send json`, carrying their own envelope.
	given := &message.Message{UUID: message.NewUUID(), Timestamp: 1_764_000_000_123_456_789, Type: "deploy",
		Logger: "ignored, -logger overrides it", Severity: message.Notice, Payload: "from canonical JSON",
		EnvVersion: "0.8", Pid: 777, Hostname: "build-host",
		Fields: []message.Field{message.NewString("version", "2.1"), message.NewDouble("ratio", 1), message.NewBytes("b", []byte{1, 2})}}
	givenWant := given.Clone()
	givenWant.Logger = logger
	py := &message.Message{Timestamp: 1_764_000_001_000_001_000, Type: "counter", Logger: "py", Severity: 6, Payload: "1",
		EnvVersion: "0.8", Pid: 10273, Hostname: "pyhost",
		Fields: []message.Field{message.NewDouble("rate", 1), message.NewString("name", "req.count")}}
	pyWant := py.Clone()
	pyWant.Logger = logger

	return []sendCase{
		{name: "log", args: []string{"log", "hello,", "metlog"}, want: msg("oldstyle", message.Info, "hello, metlog")},
		{name: "log typed fields", args: []string{"-severity", "warning", "-type", "deploy",
			"-field", "user=ana", "-field", "n=3", "-field", "neg=-7", "-field", "x=1.5", "-field", "e=1e3",
			"-field", "ok=true", "-field", "zip=01234", "-field", "code:=404", "-field", "tag=a", "-field", "tag=b",
			"log", "release 2.1"},
			want: msg("deploy", message.Warning, "release 2.1",
				message.NewString("user", "ana"), message.NewInt("n", 3), message.NewInt("neg", -7),
				message.NewDouble("x", 1.5), message.NewDouble("e", 1000), message.NewBool("ok", true),
				message.NewString("zip", "01234"), message.NewString("code", "404"),
				message.NewString("tag", "a"), message.NewString("tag", "b"))},
		{name: "log stdin", args: []string{"-severity", "3", "log", "-"}, stdin: "line one\nline two\n",
			want: msg("oldstyle", message.Error, "line one\nline two")},
		{name: "incr", args: []string{"incr", "jobs.failed", "-count", "3", "-rate", "0.25", "-field", "queue=mail"},
			want: metric("counter", "3", 0.25, "jobs.failed", message.NewString("queue", "mail"))},
		{name: "timer", args: []string{"timer", "db.query", "12.5ms"}, want: metric("timer", "12.5", 1, "db.query")},
		{name: "timer long", args: []string{"timer", "backup", "2m13s"}, want: metric("timer", "133000", 1, "backup")},
		{name: "gauge", args: []string{"gauge", "temp", "-5"}, want: metric("gauge", "-5", 1, "temp")},
		{name: "gauge delta", args: []string{"gauge", "-delta", "queue.depth", "-3"},
			want: metric("gauge", "-3", 1, "queue.depth", message.NewBool("delta", true))},
		{name: "gauge delta up", args: []string{"gauge", "-delta", "queue.depth", "2.5"},
			want: metric("gauge", "+2.5", 1, "queue.depth", message.NewBool("delta", true))},
		{name: "cef", args: []string{"cef", "admin login failed", "-cef-id", "AuthFail", "-cef-severity", "8",
			"-ext", "src=10.0.0.7", "-ext", "suser=root"},
			want: msg("cef", message.Info, "CEF:0|metlog|metlog|1|AuthFail|admin login failed|8|src=10.0.0.7 suser=root",
				message.NewString("cef_meta.syslog_facility", "LOCAL4"), message.NewString("cef_meta.syslog_ident", logger),
				message.NewString("cef_meta.syslog_options", ""), message.NewString("cef_meta.syslog_priority", "INFO"))},
		{name: "json canonical", args: []string{"json"}, stdin: string(message.AppendJSON(nil, given)) + "\n",
			want: givenWant, given: true},
		{name: "json metlog", args: []string{"json"}, stdin: string(message.AppendMetlogJSON(nil, py)) + "\n",
			want: pyWant, given: true},
	}
}

// `metlog send`, the binary, sends every kind of message over UDP and TCP
// in both encodings, and each lands in the file as docs/cli.md says.
func TestMetlogSendEveryKind(t *testing.T) {
	t.Parallel()
	d := startDaemon(t, globals()+routerConfig)
	udp, tcp := d.addr("udp"), d.addr("tcp")
	out := d.path("data", "all.jsonl")
	host, _ := os.Hostname()

	ways := []struct{ name, to, encoder string }{
		{"udp-protobuf", "udp://" + udp, ""}, // the default encoder
		{"udp-json", "udp://" + udp, "json"},
		{"tcp-protobuf", "tcp://" + tcp, "protobuf"},
		{"tcp-json", "tcp://" + tcp, "json"},
	}
	for _, w := range ways {
		t.Run(w.name, func(t *testing.T) {
			t.Parallel()
			cases := sendCases(w.name)
			var before, after []int64
			for _, c := range cases {
				args := append([]string{"send", "-to", w.to, "-logger", w.name}, c.args...)
				if w.encoder != "" {
					args = append(args, "-encoder", w.encoder)
				}
				before = append(before, time.Now().UnixNano())
				code, stdout, stderr := runMetlog(t, t.TempDir(), strings.NewReader(c.stdin), args...)
				after = append(after, time.Now().UnixNano())
				if code != 0 || stdout != "" || stderr != "" {
					t.Fatalf("%s: metlog %q: exit %d\nstdout: %s\nstderr: %s", c.name, args, code, stdout, stderr)
				}
			}
			var got []*message.Message
			waitFor(t, fmt.Sprintf("%d messages of %s", len(cases), w.name), func() bool {
				got = filterLogger(readMessages(t, out), w.name)
				return len(got) >= len(cases)
			}, func() string { return show(got) })
			if len(got) != len(cases) {
				t.Fatalf("%d messages arrived, %d sent:\n%s", len(got), len(cases), show(got))
			}
			for i, c := range cases {
				g, want := got[i], c.want.Clone()
				if !c.given {
					// Chosen by the tool: a uuid, the time of sending, its pid.
					if g.UUID == ([16]byte{}) || g.Pid <= 0 || g.Pid == int32(os.Getpid()) || g.Hostname != host {
						t.Errorf("%s: envelope uuid %x pid %d host %q", c.name, g.UUID, g.Pid, g.Hostname)
					}
					// metlog JSON keeps microseconds.
					if g.Timestamp < before[i]/1000*1000 || g.Timestamp > after[i] {
						t.Errorf("%s: timestamp %d is not between %d and %d", c.name, g.Timestamp, before[i], after[i])
					}
					want.UUID, want.Timestamp, want.Pid = g.UUID, g.Timestamp, g.Pid
				}
				if want.UUID == ([16]byte{}) { // metlog JSON input has none: the tool makes one
					if g.UUID == ([16]byte{}) {
						t.Errorf("%s: no uuid", c.name)
					}
					want.UUID = g.UUID
				}
				if w.encoder == "json" {
					want = throughMetlogJSON(t, want)
					want.UUID = g.UUID // metlog JSON carries none: the router makes one
					if g.UUID == ([16]byte{}) || g.UUID == c.want.UUID {
						t.Errorf("%s: uuid %x", c.name, g.UUID)
					}
				}
				if !sameMessage(want, g) {
					t.Errorf("%s (metlog %s):\nwant %s\n got %s", c.name, strings.Join(c.args, " "), canonical(want), canonical(g))
				}
			}
		})
	}
}
