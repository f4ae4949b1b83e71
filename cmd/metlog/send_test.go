package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"math"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/metlog/metlog/client"
	"github.com/metlog/metlog/message"
)

// collector keeps the messages a test listener receives.
type collector struct {
	mu   sync.Mutex
	msgs []*message.Message
	errs []error
}

func (c *collector) add(m *message.Message, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err != nil {
		c.errs = append(c.errs, err)
		return
	}
	c.msgs = append(c.msgs, m)
}

// wait returns the first n messages, failing after 10 seconds.
func (c *collector) wait(t testing.TB, n int) []*message.Message {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		c.mu.Lock()
		got, errs := append([]*message.Message(nil), c.msgs...), append([]error(nil), c.errs...)
		c.mu.Unlock()
		if len(errs) > 0 {
			t.Fatalf("the listener could not decode what it received: %v", errs)
		}
		if len(got) >= n {
			return got
		}
		if time.Now().After(deadline) {
			t.Fatalf("received %d messages, want %d", len(got), n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// decodeRecord decodes one frame or metlog JSON record.
func decodeRecord(b []byte) (*message.Message, error) {
	m := new(message.Message)
	if len(b) > 0 && b[0] == message.RecordSeparator {
		_, msg, n, err := message.ParseFrame(b, 0)
		if err != nil {
			return nil, err
		}
		if n != len(b) {
			return nil, errors.New("bytes after the frame")
		}
		return m, m.Unmarshal(msg)
	}
	return m, message.DecodeMetlogJSON(b, m)
}

// listen starts a listener on network (udp, tcp or unix) that decodes
// what arrives: one record per datagram, or a stream of frames or lines.
func listen(t *testing.T, network string) (url string, c *collector) {
	t.Helper()
	c = &collector{}
	if network == "udp" {
		pc, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { pc.Close() })
		go func() {
			buf := make([]byte, 65536)
			for {
				n, _, err := pc.ReadFrom(buf)
				if err != nil {
					return
				}
				c.add(decodeRecord(bytes.Clone(buf[:n])))
			}
		}()
		return "udp://" + pc.LocalAddr().String(), c
	}
	addr := "127.0.0.1:0"
	if network == "unix" {
		addr = filepath.Join(t.TempDir(), "s")
	}
	ln, err := net.Listen(network, addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			cn, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer cn.Close()
				br := bufio.NewReader(cn)
				if first, err := br.Peek(1); err != nil {
					return
				} else if first[0] == message.RecordSeparator {
					sc := message.NewFrameScanner(br, 0)
					sc.OnDiscard = func(n int, reason error) { c.add(nil, reason) }
					for sc.Next() {
						m := new(message.Message)
						c.add(m, m.Unmarshal(sc.Message()))
					}
					return
				}
				for {
					line, err := br.ReadBytes('\n')
					if len(line) > 0 {
						c.add(decodeRecord(bytes.TrimSuffix(line, []byte("\n"))))
					}
					if err != nil {
						return
					}
				}
			}()
		}
	}()
	if network == "unix" {
		return "unix://" + addr, c
	}
	return "tcp://" + ln.Addr().String(), c
}

// fieldOf returns the field name of m, failing when it is missing.
func fieldOf(t *testing.T, m *message.Message, name string) *message.Field {
	t.Helper()
	f := m.Field(name)
	if f == nil {
		t.Fatalf("no field %q in %+v", name, m.Fields)
	}
	return f
}

func TestSendKinds(t *testing.T) {
	canonical := `{"uuid":"f5a18dd2-f443-49ed-8000-7b10dcbe87f1","timestamp":"2026-11-24T23:48:03.080606Z","type":"deploy","logger":"ci","severity":5,"payload":"v2","fields":{"sha":"abc","n":2}}`
	metlogpy, err := os.ReadFile(metlogpyJSONL)
	if err != nil {
		t.Fatal(err)
	}
	firstPy, _, _ := strings.Cut(string(metlogpy), "\n")
	cases := []struct {
		name  string
		stdin string
		args  []string
		n     int
		check func(t *testing.T, ms []*message.Message)
	}{
		{"log with typed fields", "", []string{"-severity", "warning", "-field", "n=3", "-field", "neg=-7", "-field", "x=1.5",
			"-field", "e=1e3", "-field", "b=true", "-field", "f=false", "-field", "s:=3", "-field", "t=abc", "-field", "zip=01234",
			"-field", "empty=", "log", "hello", "world"}, 1,
			func(t *testing.T, ms []*message.Message) {
				m := ms[0]
				if m.Type != "oldstyle" || m.Payload != "hello world" || m.Severity != 4 || m.Logger != "metlog" {
					t.Fatalf("header: %+v", m)
				}
				for name, want := range map[string]any{"n": int64(3), "neg": int64(-7), "x": 1.5, "e": 1000.0, "b": true,
					"f": false, "s": "3", "t": "abc", "zip": "01234", "empty": ""} {
					f := fieldOf(t, m, name)
					if got, _ := f.Value(0); got != want || f.Len() != 1 {
						t.Errorf("field %s = %#v (%v), want %#v", name, got, f.Type, want)
					}
				}
			}},
		{"log with type, logger and numeric severity", "", []string{"-type", "deploy", "-logger", "ops", "-severity", "2", "log", "released"}, 1,
			func(t *testing.T, ms []*message.Message) {
				if m := ms[0]; m.Type != "deploy" || m.Logger != "ops" || m.Severity != 2 || m.Payload != "released" {
					t.Fatalf("got %+v", m)
				}
			}},
		{"log text from stdin", "line one\nline two\n", []string{"log", "-"}, 1,
			func(t *testing.T, ms []*message.Message) {
				if ms[0].Payload != "line one\nline two" {
					t.Fatalf("payload %q", ms[0].Payload)
				}
			}},
		{"incr", "", []string{"incr", "hits", "-count", "3", "-rate", "0.5", "-field", "shard=2"}, 1,
			func(t *testing.T, ms []*message.Message) {
				m := ms[0]
				if m.Type != "counter" || m.Payload != "3" || m.Severity != message.Info {
					t.Fatalf("got %+v", m)
				}
				if r, _ := m.GetDouble("rate"); r != 0.5 {
					t.Errorf("rate %v", r)
				}
				if n, _ := m.GetString("name"); n != "hits" {
					t.Errorf("name %q", n)
				}
				if s, _ := m.GetInt("shard"); s != 2 || m.Fields[2].Name != "shard" {
					t.Errorf("fields %+v", m.Fields)
				}
			}},
		{"timer as a Go duration", "", []string{"timer", "db.query", "12.5ms"}, 1,
			func(t *testing.T, ms []*message.Message) {
				if m := ms[0]; m.Type != "timer" || m.Payload != "12.5" {
					t.Fatalf("got %+v", m)
				}
			}},
		{"timer in milliseconds", "", []string{"timer", "db.query", "250"}, 1,
			func(t *testing.T, ms []*message.Message) {
				if n, _ := ms[0].GetString("name"); ms[0].Payload != "250" || n != "db.query" {
					t.Fatalf("got %+v", ms[0])
				}
			}},
		{"negative gauge", "", []string{"gauge", "temp", "-5.5"}, 1,
			func(t *testing.T, ms []*message.Message) {
				m := ms[0]
				if m.Type != "gauge" || m.Payload != "-5.5" || m.Field("delta") != nil {
					t.Fatalf("got %+v", m)
				}
			}},
		{"gauge delta", "", []string{"gauge", "-delta", "queue", "2"}, 1,
			func(t *testing.T, ms []*message.Message) {
				m := ms[0]
				if d, _ := m.GetBool("delta"); m.Payload != "+2" || !d {
					t.Fatalf("got %+v", m)
				}
			}},
		{"cef", "", []string{"-severity", "err", "cef", "login failed", "-ext", "src=10.0.0.1", "-ext", "suser=ana", "-cef-severity", "7"}, 1,
			func(t *testing.T, ms []*message.Message) {
				m := ms[0]
				want := "CEF:0|metlog|metlog|1|login failed|login failed|7|src=10.0.0.1 suser=ana"
				if m.Type != "cef" || m.Payload != want || m.Severity != 3 {
					t.Fatalf("got %+v", m)
				}
				if p, _ := m.GetString("cef_meta.syslog_priority"); p != "ERR" {
					t.Errorf("priority %q", p)
				}
			}},
		{"json from stdin", canonical + "\n\n" + firstPy + "\n", []string{"json", "-field", "via=cli"}, 2,
			func(t *testing.T, ms []*message.Message) {
				var deploy, counter *message.Message
				for _, m := range ms {
					switch m.Type {
					case "deploy":
						deploy = m
					case "counter":
						counter = m
					}
				}
				if deploy == nil || counter == nil {
					t.Fatalf("got %+v", ms)
				}
				if deploy.Logger != "ci" || deploy.Severity != 5 || deploy.Payload != "v2" ||
					deploy.Timestamp != time.Date(2026, 11, 24, 23, 48, 3, 80606000, time.UTC).UnixNano() {
					t.Errorf("deploy: %+v", deploy)
				}
				if v, _ := deploy.GetString("via"); v != "cli" {
					t.Errorf("deploy fields %+v", deploy.Fields)
				}
				if counter.Logger != "acceptance" || counter.Hostname != "vm" || counter.Pid != 21432 {
					t.Errorf("counter: %+v", counter)
				}
			}},
		{"json with overrides", canonical + "\n", []string{"-logger", "other", "-severity", "debug", "json"}, 1,
			func(t *testing.T, ms []*message.Message) {
				if m := ms[0]; m.Logger != "other" || m.Severity != 7 || m.Type != "deploy" {
					t.Fatalf("got %+v", m)
				}
			}},
	}
	for _, network := range []string{"udp", "tcp", "unix"} {
		for _, encoder := range []string{"protobuf", "json"} {
			t.Run(network+"/"+encoder, func(t *testing.T) {
				for _, tc := range cases {
					t.Run(tc.name, func(t *testing.T) {
						url, c := listen(t, network)
						args := append([]string{"send", "-to", url, "-encoder", encoder}, tc.args...)
						r := runCmd(t, tc.stdin, args...)
						if r.code != exitOK || r.stderr != "" {
							t.Fatalf("exit %d: %s", r.code, r.stderr)
						}
						ms := c.wait(t, tc.n)
						if len(ms) != tc.n {
							t.Fatalf("%d messages, want %d", len(ms), tc.n)
						}
						for _, m := range ms {
							if m.Timestamp == 0 || m.Hostname == "" || m.Pid == 0 || m.EnvVersion == "" {
								t.Errorf("envelope not filled in: %+v", m)
							}
							if encoder == "protobuf" && m.UUID == ([16]byte{}) {
								t.Errorf("no uuid: %+v", m)
							}
						}
						tc.check(t, ms)
					})
				}
			})
		}
	}
}

// TestMetricLayoutMatchesClient checks that send builds counters, timers
// and gauges exactly as the client library's Incr, TimerSend, Gauge and
// GaugeDelta do.
func TestMetricLayoutMatchesClient(t *testing.T) {
	capture := client.NewCapture()
	c, err := client.New(client.Config{Output: capture, Logger: "metlog"})
	if err != nil {
		t.Fatal(err)
	}
	extra := client.Fields(client.Int("n", 3), client.String("s", "x"))
	fields := []message.Field{message.NewInt("n", 3), message.NewString("s", "x")}
	c.Incr("hits", client.Count(7), extra)
	c.TimerSend("db", 12500*time.Microsecond, extra)
	c.TimerSend("db", 3*time.Second, extra)
	c.Gauge("temp", -5.5, extra)
	c.GaugeDelta("q", 2, extra)
	c.GaugeDelta("q", -0.25, extra)
	c.Close()
	ours := []*message.Message{
		metricMessage("counter", "hits", "7", message.Info, 1, false, fields),
		metricMessage("timer", "db", timerPayload(12500*time.Microsecond), message.Info, 1, false, fields),
		metricMessage("timer", "db", timerPayload(3*time.Second), message.Info, 1, false, fields),
		metricMessage("gauge", "temp", gaugePayload(-5.5, false), message.Info, 1, false, fields),
		metricMessage("gauge", "q", gaugePayload(2, true), message.Info, 1, true, fields),
		metricMessage("gauge", "q", gaugePayload(-0.25, true), message.Info, 1, true, fields),
	}
	theirs := capture.Messages()
	if len(theirs) != len(ours) {
		t.Fatalf("client sent %d messages", len(theirs))
	}
	for i, m := range theirs {
		o := ours[i]
		o.UUID, o.Timestamp, o.Logger, o.Hostname, o.Pid, o.EnvVersion = m.UUID, m.Timestamp, m.Logger, m.Hostname, m.Pid, m.EnvVersion
		if !m.Equal(o) {
			t.Errorf("message %d:\nclient %+v\nsend   %+v", i, m, o)
		}
	}
}

func TestParseField(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want message.Field
		err  bool
	}{
		{"n=3", message.NewInt("n", 3), false},
		{"n=-3", message.NewInt("n", -3), false},
		{"n=0", message.NewInt("n", 0), false},
		{"x=1.5", message.NewDouble("x", 1.5), false},
		{"x=-0.5e-3", message.NewDouble("x", -0.0005), false},
		{"x=1E3", message.NewDouble("x", 1000), false},
		{"big=99999999999999999999", message.NewDouble("big", 1e20), false},
		{"b=true", message.NewBool("b", true), false},
		{"b=True", message.NewString("b", "True"), false},
		{"s=01", message.NewString("s", "01"), false},
		{"s=+1", message.NewString("s", "+1"), false},
		{"s=1.", message.NewString("s", "1."), false},
		{"s=.5", message.NewString("s", ".5"), false},
		{"s=NaN", message.NewString("s", "NaN"), false},
		{"s=0x10", message.NewString("s", "0x10"), false},
		{"s=1e999", message.NewString("s", "1e999"), false},
		{"s=a=b", message.NewString("s", "a=b"), false},
		{"s:=3", message.NewString("s", "3"), false},
		{"s:=true", message.NewString("s", "true"), false},
		{"s:=", message.NewString("s", ""), false},
		{"path.to.x=1", message.NewInt("path.to.x", 1), false},
		{"noequals", message.Field{}, true},
		{"=3", message.Field{}, true},
		{":=3", message.Field{}, true},
	} {
		t.Run(tc.in, func(t *testing.T) {
			got, err := parseField(tc.in)
			if (err != nil) != tc.err {
				t.Fatalf("err = %v", err)
			}
			if !tc.err && !got.Equal(&tc.want) {
				t.Fatalf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestSendErrors(t *testing.T) {
	deadTCP := func() string {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := ln.Addr().String()
		ln.Close()
		return "tcp://" + addr
	}()
	for _, tc := range []struct {
		name   string
		stdin  string
		args   []string
		code   int
		stderr string
	}{
		{"nothing to send", "", []string{"send"}, exitUsage, "say what to send"},
		{"unknown kind", "", []string{"send", "mail", "x"}, exitUsage, `"mail" is not something to send`},
		{"bad severity", "", []string{"send", "-severity", "loud", "log", "x"}, exitUsage, `severity "loud"`},
		{"flag of another kind", "", []string{"send", "log", "x", "-count", "2"}, exitUsage, "-count is for incr, not log"},
		{"log without text", "", []string{"send", "log"}, exitUsage, "log needs the text"},
		{"incr with two names", "", []string{"send", "incr", "a", "b"}, exitUsage, "one counter NAME"},
		{"bad rate", "", []string{"send", "incr", "a", "-rate", "2"}, exitUsage, "not a sample rate"},
		{"bad duration", "", []string{"send", "timer", "a", "soon"}, exitUsage, "neither a Go duration"},
		{"negative duration", "", []string{"send", "timer", "a", "-3ms"}, exitUsage, "negative"},
		{"bad gauge", "", []string{"send", "gauge", "a", "lots"}, exitUsage, "not a number"},
		{"bad field", "", []string{"send", "-field", "x", "log", "a"}, exitUsage, "-field x: want NAME=VALUE"},
		{"bad url", "", []string{"send", "-to", "http://x", "log", "a"}, exitUsage, "scheme must be"},
		{"zero timeout", "", []string{"send", "-timeout", "0s", "log", "a"}, exitUsage, "-timeout must be positive"},
		{"bad encoder", "", []string{"send", "-encoder", "xml", "log", "a"}, exitUsage, "not protobuf or json"},
		{"bad cef extension", "", []string{"send", "cef", "x", "-ext", "a b=c"}, exitUsage, "extension key"},
		{"bad cef severity", "", []string{"send", "cef", "x", "-cef-severity", "11"}, exitUsage, "between 0 and 10"},
		{"missing json file", "", []string{"send", "json", "/nonexistent/x.jsonl"}, exitFail, "cannot read /nonexistent/x.jsonl: no such file"},
		{"router down", "", []string{"send", "-to", deadTCP, "-timeout", "300ms", "log", "x"}, exitFail, "1 of 1 messages could not be sent to " + deadTCP},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := runCmd(t, tc.stdin, tc.args...)
			if r.code != tc.code || !strings.Contains(r.stderr, tc.stderr) {
				t.Fatalf("exit %d, want %d; stderr: %s", r.code, tc.code, r.stderr)
			}
		})
	}
}

// TestSendJSONBadLines checks that bad lines are reported with their
// number and skipped, the good ones sent, and the exit status 1.
func TestSendJSONBadLines(t *testing.T) {
	url, c := listen(t, "tcp")
	py, err := os.ReadFile(metlogpyJSONL)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(py)), "\n")
	input := strings.Join(lines[:3], "\n") + "\n{not json\n" + strings.Join(lines[3:], "\n") + "\n"
	file := writeFile(t, "in.jsonl", []byte(input))
	r := runCmd(t, "", "send", "-to", url, "json", "-file", file)
	if r.code != exitFail || !strings.Contains(r.stderr, "line 4:") {
		t.Fatalf("exit %d; stderr: %s", r.code, r.stderr)
	}
	if got := c.wait(t, len(lines)); len(got) != len(lines) {
		t.Fatalf("%d messages, want %d", len(got), len(lines))
	}
}

// TestSendEnvironment checks that METLOG_SENDER, METLOG_ENCODER and
// METLOG_LOGGER are the defaults, read as the client library reads them.
func TestSendEnvironment(t *testing.T) {
	url, c := listen(t, "udp")
	t.Setenv("METLOG_SENDER", url)
	t.Setenv("METLOG_ENCODER", "json")
	t.Setenv("METLOG_LOGGER", "fromenv")
	var out, errb bytes.Buffer
	e := &env{ctx: t.Context(), stdin: strings.NewReader(""), stdout: &out, stderr: &errb,
		getenv: os.Getenv, clientEnv: client.ConfigFromEnv}
	if code := run(e, []string{"send", "incr", "x"}); code != exitOK {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	m := c.wait(t, 1)[0]
	if m.Logger != "fromenv" || m.UUID != ([16]byte{}) { // metlog JSON carries no uuid
		t.Fatalf("got %+v", m)
	}
	t.Setenv("METLOG_SENDER", "udp:/nowhere")
	if code := run(e, []string{"send", "incr", "x"}); code != exitUsage || !strings.Contains(errb.String(), "METLOG_SENDER") {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
}

// TestSendStdout checks -to stdout in both encodings.
func TestSendStdout(t *testing.T) {
	r := runCmd(t, "", "send", "-to", "stdout", "gauge", "g", "1.25")
	if r.code != exitOK {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	m, err := decodeRecord([]byte(r.stdout))
	if err != nil || m.Type != "gauge" || m.Payload != "1.25" {
		t.Fatalf("%v: %+v", err, m)
	}
	r = runCmd(t, "", "send", "-to", "stdout", "-encoder", "json", "-v", "log", "hi")
	if r.code != exitOK || !strings.HasSuffix(r.stdout, "}\n") || !strings.Contains(r.stderr, "sent 1 message") {
		t.Fatalf("exit %d: %q %q", r.code, r.stdout, r.stderr)
	}
	if m, err := decodeRecord([]byte(strings.TrimSpace(r.stdout))); err != nil || m.Payload != "hi" {
		t.Fatalf("%v: %+v", err, m)
	}
}

func TestTimerPayload(t *testing.T) {
	for d, want := range map[time.Duration]string{
		0: "0", 12 * time.Millisecond: "12", 12500 * time.Microsecond: "12.5", 250 * time.Microsecond: "0.25",
		1500 * time.Nanosecond: "0.001", 2 * time.Second: "2000",
	} {
		if got := timerPayload(d); got != want {
			t.Errorf("timerPayload(%v) = %q, want %q", d, got, want)
		}
	}
	if got := gaugePayload(math.Copysign(0, -1), true); got != "+0" {
		t.Errorf("gaugePayload(-0, delta) = %q", got)
	}
}

// FuzzParseField checks the typing of -field values against encoding/json:
// a value is a number exactly when it is a JSON number, an integer exactly
// when it also has no fraction or exponent and fits in 64 bits.
func FuzzParseField(f *testing.F) {
	for _, s := range []string{"n=3", "x=-1.5e3", "b=true", "s:=3", "z=01", "e=1.", "big=99999999999999999999", "=", "a==b"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		fld, err := parseField(s)
		name, value, found := strings.Cut(s, "=")
		if !found || name == "" || name == ":" {
			if err == nil {
				t.Fatalf("%q: no error", s)
			}
			return
		}
		if err != nil {
			t.Fatalf("%q: %v", s, err)
		}
		if strings.HasSuffix(name, ":") {
			if fld.Type != message.String || fld.Strings[0] != value {
				t.Fatalf("%q: %+v", s, fld)
			}
			return
		}
		var v any
		isNumber := value != "" && strings.TrimSpace(value) == value && (value[0] == '-' || value[0] >= '0' && value[0] <= '9') &&
			json.Unmarshal([]byte(value), &v) == nil
		var n json.Number
		dec := json.NewDecoder(strings.NewReader(value))
		dec.UseNumber()
		isInt := false
		if isNumber && dec.Decode(&n) == nil {
			_, ierr := n.Int64()
			isInt = ierr == nil && !strings.ContainsAny(value, ".eE")
		}
		switch {
		case value == "true" || value == "false":
			if fld.Type != message.Bool {
				t.Fatalf("%q: %v", s, fld.Type)
			}
		case isInt:
			if fld.Type != message.Integer {
				t.Fatalf("%q: %v, want integer", s, fld.Type)
			}
		case isNumber:
			if fld.Type != message.Double {
				t.Fatalf("%q: %v, want double", s, fld.Type)
			}
		default:
			if fld.Type != message.String || fld.Strings[0] != value {
				t.Fatalf("%q: %+v, want the string", s, fld)
			}
		}
	})
}
