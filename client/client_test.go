package client_test

import (
	"context"
	"crypto/hmac"
	"crypto/md5"
	"crypto/sha1"
	"crypto/sha256"
	"errors"
	"fmt"
	"hash"
	"io"
	"math"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/metlog/metlog/client"
	"github.com/metlog/metlog/message"
	"github.com/metlog/metlog/message/pb"
	"google.golang.org/protobuf/proto"
)

// newClient returns a client whose messages go to a Capture, closed when
// the test ends.
func newClient(t testing.TB, cfg client.Config) (*client.Client, *client.Capture) {
	t.Helper()
	capt := client.NewCapture()
	cfg.Output = capt
	c, err := client.New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c, capt
}

// messages returns what capt holds, failing the test on decoding errors or
// when there are not exactly n messages.
func messages(t testing.TB, capt *client.Capture, n int) []*message.Message {
	t.Helper()
	if errs := capt.Errors(); len(errs) > 0 {
		t.Fatalf("captured bytes do not decode: %v", errs)
	}
	msgs := capt.Messages()
	if len(msgs) != n {
		t.Fatalf("%d messages sent, want %d: %s", len(msgs), n, describeAll(msgs))
	}
	return msgs
}

// only returns the one message capt holds and resets it.
func only(t testing.TB, capt *client.Capture) *message.Message {
	t.Helper()
	m := messages(t, capt, 1)[0]
	capt.Reset()
	return m
}

func describeAll(msgs []*message.Message) string {
	var b strings.Builder
	for _, m := range msgs {
		fmt.Fprintf(&b, "\n\t%s", describe(m))
	}
	return b.String()
}

// describe writes the parts of m the tests compare, on one line.
func describe(m *message.Message) string {
	payload := m.Payload
	if len(payload) > 80 {
		payload = payload[:60] + "... (" + fmt.Sprint(len(payload)) + " bytes)"
	}
	return fmt.Sprintf("type=%q logger=%q severity=%d payload=%q fields=%s",
		m.Type, m.Logger, m.Severity, payload, fieldsString(m.Fields))
}

func fieldsString(fs []message.Field) string {
	var b strings.Builder
	b.WriteByte('[')
	for i := range fs {
		f := &fs[i]
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%s", f.Name)
		if f.Representation != "" {
			fmt.Fprintf(&b, "(%s)", f.Representation)
		}
		fmt.Fprintf(&b, ":%s=", f.Type)
		switch f.Type {
		case message.String:
			fmt.Fprintf(&b, "%q", f.Strings)
		case message.Bytes:
			fmt.Fprintf(&b, "%x", f.Bytes)
		case message.Integer:
			fmt.Fprint(&b, f.Integers)
		case message.Double:
			fmt.Fprint(&b, f.Doubles)
		case message.Bool:
			fmt.Fprint(&b, f.Bools)
		}
	}
	b.WriteByte(']')
	return b.String()
}

// want is what a test expects of a message: everything but the envelope
// values that change from run to run.
type want struct {
	typ      string
	logger   string
	severity int32
	payload  string
	fields   []message.Field
}

func check(t testing.TB, got *message.Message, w want) {
	t.Helper()
	ok := got.Type == w.typ && got.Logger == w.logger && got.Severity == w.severity &&
		got.Payload == w.payload && len(got.Fields) == len(w.fields)
	for i := 0; ok && i < len(w.fields); i++ {
		ok = got.Fields[i].Equal(&w.fields[i])
	}
	if !ok {
		t.Errorf("got  %s\nwant %s", describe(got), describe(&message.Message{
			Type: w.typ, Logger: w.logger, Severity: w.severity, Payload: w.payload, Fields: w.fields}))
	}
}

// metricFields are the fields of a counter, timer or gauge, in metlog-py's
// order, followed by more.
func metricFields(rate float64, name string, more ...message.Field) []message.Field {
	return append([]message.Field{message.NewDouble("rate", rate), message.NewString("name", name)}, more...)
}

// deltaFields are the fields of a GaugeDelta message.
func deltaFields(name string) []message.Field {
	return metricFields(1, name, message.NewBool("delta", true))
}

// discard is a Sender that drops everything, so that allocation tests and
// benchmarks measure the client alone.
type discard struct{}

func (discard) Send([]byte) error { return nil }
func (discard) Close() error      { return nil }

// TestEnvelopeDefaults is metlog-py's test_metlog_bare and heka-py's
// test_heka_bare: an unconfigured client fills in every envelope value.
func TestEnvelopeDefaults(t *testing.T) {
	c, capt := newClient(t, client.Config{})
	before := time.Now().UnixNano()
	c.Info("bare")
	after := time.Now().UnixNano()
	m := only(t, capt)

	host, err := os.Hostname()
	if err != nil {
		t.Fatal(err)
	}
	check(t, m, want{typ: "oldstyle", logger: filepath.Base(os.Args[0]), severity: 6, payload: "bare"})
	if m.Hostname != host {
		t.Errorf("hostname %q, want %q", m.Hostname, host)
	}
	if m.Pid != int32(os.Getpid()) {
		t.Errorf("pid %d, want %d", m.Pid, os.Getpid())
	}
	if m.EnvVersion != "0.8" {
		t.Errorf("env_version %q, want 0.8", m.EnvVersion)
	}
	if m.Timestamp < before || m.Timestamp > after {
		t.Errorf("timestamp %d not between %d and %d", m.Timestamp, before, after)
	}
	if m.UUID[6]>>4 != 4 || m.UUID[8]>>6 != 2 {
		t.Errorf("uuid %s is not a random (version 4, variant 10) uuid", message.FormatUUID(m.UUID))
	}
}

// TestEnvelopeConfigured is metlog-py's test_metlog_full: configured
// values replace the defaults.
func TestEnvelopeConfigured(t *testing.T) {
	c, capt := newClient(t, client.Config{Logger: "myapp", Hostname: "web-1", EnvVersion: "1.0"})
	c.Warn("full")
	m := only(t, capt)
	check(t, m, want{typ: "oldstyle", logger: "myapp", severity: 4, payload: "full"})
	if m.Hostname != "web-1" || m.EnvVersion != "1.0" || m.Pid != int32(os.Getpid()) {
		t.Errorf("hostname %q, env_version %q, pid %d", m.Hostname, m.EnvVersion, m.Pid)
	}
}

func TestUUIDsAreRandomAndDistinct(t *testing.T) {
	c, capt := newClient(t, client.Config{})
	const n = 1000
	for range n {
		c.Incr("x")
	}
	seen := make(map[[16]byte]bool, n)
	for _, m := range messages(t, capt, n) {
		if m.UUID[6]>>4 != 4 || m.UUID[8]>>6 != 2 {
			t.Fatalf("uuid %s: version nibble %d, variant bits %02b; want 4 and 10",
				message.FormatUUID(m.UUID), m.UUID[6]>>4, m.UUID[8]>>6)
		}
		if seen[m.UUID] {
			t.Fatalf("uuid %s sent twice", message.FormatUUID(m.UUID))
		}
		seen[m.UUID] = true
	}
}

// TestSeverityMethods is metlog-py's test_oldstyle for every level.
func TestSeverityMethods(t *testing.T) {
	c, capt := newClient(t, client.Config{Logger: "test"})
	for _, tc := range []struct {
		name string
		log  func(*client.Client, string, ...client.Attr)
		sev  int32
	}{
		{"Emergency", (*client.Client).Emergency, 0},
		{"Alert", (*client.Client).Alert, 1},
		{"Critical", (*client.Client).Critical, 2},
		{"Error", (*client.Client).Error, 3},
		{"Warn", (*client.Client).Warn, 4},
		{"Notice", (*client.Client).Notice, 5},
		{"Info", (*client.Client).Info, 6},
		{"Debug", (*client.Client).Debug, 7},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.log(c, "msg "+tc.name, client.String("level", tc.name))
			check(t, only(t, capt), want{typ: "oldstyle", logger: "test", severity: tc.sev,
				payload: "msg " + tc.name, fields: []message.Field{message.NewString("level", tc.name)}})
		})
	}
}

// TestLogf is metlog-py's test_oldstyle_args: the format is applied only
// when there are arguments, as Python's msg % args is.
func TestLogf(t *testing.T) {
	c, capt := newClient(t, client.Config{Logger: "test"})
	// Called through a variable so that vet does not check the formats.
	logf := c.Logf
	for _, tc := range []struct {
		name   string
		sev    int32
		format string
		args   []any
		want   string
	}{
		{"args", 6, "%s is %d years old", []any{"ana", 42}, "ana is 42 years old"},
		{"float", 3, "took %.2fs", []any{1.5}, "took 1.50s"},
		{"no args", 4, "plain text", nil, "plain text"},
		{"percent without args", 7, "100% done, %s", nil, "100% done, %s"},
		{"percent escaped", 5, "%d%%", []any{50}, "50%"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			logf(tc.sev, tc.format, tc.args...)
			check(t, only(t, capt), want{typ: "oldstyle", logger: "test", severity: tc.sev, payload: tc.want})
		})
	}
	c.Log(2, "direct", client.Int("n", 1))
	check(t, only(t, capt), want{typ: "oldstyle", logger: "test", severity: 2, payload: "direct",
		fields: []message.Field{message.NewInt("n", 1)}})
}

// TestAttrKinds sends a field of every kind and checks its type, values and
// representation after decoding.
func TestAttrKinds(t *testing.T) {
	for _, tc := range []struct {
		name string
		attr client.Attr
		want message.Field
	}{
		{"String", client.String("s", "value"), message.NewString("s", "value")},
		{"empty String", client.String("s", ""), message.NewString("s", "")},
		{"Int", client.Int("i", -42), message.NewInt("i", -42)},
		{"Int64 min", client.Int64("i", math.MinInt64), message.NewInt("i", math.MinInt64)},
		{"Int64 max", client.Int64("i", math.MaxInt64), message.NewInt("i", math.MaxInt64)},
		{"Float", client.Float("f", 1.5), message.NewDouble("f", 1.5)},
		{"Float NaN", client.Float("f", math.NaN()), message.NewDouble("f", math.NaN())},
		{"Float -Inf", client.Float("f", math.Inf(-1)), message.NewDouble("f", math.Inf(-1))},
		{"Bool true", client.Bool("b", true), message.NewBool("b", true)},
		{"Bool false", client.Bool("b", false), message.NewBool("b", false)},
		{"Bytes", client.Bytes("raw", []byte{0, 1, 0xfe, 0xff}), message.NewBytes("raw", []byte{0, 1, 0xfe, 0xff})},
		{"Bytes empty", client.Bytes("raw", []byte{}), message.NewBytes("raw", []byte{})},
		{"Duration", client.Duration("took", 1500*time.Microsecond), message.NewDouble("took", 1.5).WithRepresentation("ms")},
		{"Duration ns", client.Duration("took", 1), message.NewDouble("took", 1e-6).WithRepresentation("ms")},
		{"Strings", client.Strings("tags", "a", "b", "日本"), message.NewString("tags", "a", "b", "日本")},
		{"Strings none", client.Strings("tags"), message.NewString("tags")},
		{"Ints", client.Ints("ns", 1, -2, 3), message.NewInt("ns", 1, -2, 3)},
		{"Floats", client.Floats("xs", 0.5, -1e300), message.NewDouble("xs", 0.5, -1e300)},
		{"Bools", client.Bools("bs", true, false, true), message.NewBool("bs", true, false, true)},
		{"WithRepresentation", client.Int("size", 512).WithRepresentation("bytes"), message.NewInt("size", 512).WithRepresentation("bytes")},
		{"WithRepresentation list", client.Floats("lat", 1, 2).WithRepresentation("ms"), message.NewDouble("lat", 1, 2).WithRepresentation("ms")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, capt := newClient(t, client.Config{Logger: "test"})
			c.Info("typed", tc.attr)
			check(t, only(t, capt), want{typ: "oldstyle", logger: "test", severity: 6, payload: "typed",
				fields: []message.Field{tc.want}})
		})
	}
}

// TestAttrsInOrder sends every kind at once: the fields arrive in call order.
func TestAttrsInOrder(t *testing.T) {
	c, capt := newClient(t, client.Config{Logger: "test"})
	c.Error("all", client.String("s", "v"), client.Int("i", 1), client.Float("f", 2.5), client.Bool("b", true),
		client.Bytes("y", []byte("xy")), client.Duration("d", time.Second), client.Strings("ss", "p", "q"),
		client.Ints("is", 7), client.Floats("fs", 0.25), client.Bools("bs", false))
	check(t, only(t, capt), want{typ: "oldstyle", logger: "test", severity: 3, payload: "all", fields: []message.Field{
		message.NewString("s", "v"), message.NewInt("i", 1), message.NewDouble("f", 2.5), message.NewBool("b", true),
		message.NewBytes("y", []byte("xy")), message.NewDouble("d", 1000).WithRepresentation("ms"),
		message.NewString("ss", "p", "q"), message.NewInt("is", 7), message.NewDouble("fs", 0.25),
		message.NewBool("bs", false),
	}})
}

func TestAttrValue(t *testing.T) {
	for _, tc := range []struct {
		attr client.Attr
		want any
	}{
		{client.String("k", "v"), "v"},
		{client.Int("k", -3), int64(-3)},
		{client.Int64("k", 1<<40), int64(1 << 40)},
		{client.Float("k", 0.5), 0.5},
		{client.Bool("k", true), true},
		{client.Bool("k", false), false},
		{client.Bytes("k", []byte("ab")), []byte("ab")},
		{client.Duration("k", 2*time.Millisecond), 2.0},
		{client.Strings("k", "a", "b"), []string{"a", "b"}},
		{client.Ints("k", 1, 2), []int64{1, 2}},
		{client.Floats("k", 1.5), []float64{1.5}},
		{client.Bools("k", true), []bool{true}},
	} {
		if got := tc.attr.Value(); fmt.Sprintf("%T %v", got, got) != fmt.Sprintf("%T %v", tc.want, tc.want) {
			t.Errorf("%s: Value() = %T %v, want %T %v", tc.attr.Key, got, got, tc.want, tc.want)
		}
	}
}

// TestIncr is metlog-py's test_incr and test_arg_incr, with every option.
func TestIncr(t *testing.T) {
	for _, tc := range []struct {
		name string
		call func(c *client.Client)
		want want
	}{
		{"default", func(c *client.Client) { c.Incr("hits") },
			want{"counter", "test", 6, "1", metricFields(1, "hits")}},
		{"Count", func(c *client.Client) { c.Incr("hits", client.Count(10)) },
			want{"counter", "test", 6, "10", metricFields(1, "hits")}},
		{"negative Count", func(c *client.Client) { c.Incr("hits", client.Count(-2)) },
			want{"counter", "test", 6, "-2", metricFields(1, "hits")}},
		{"Logger", func(c *client.Client) { c.Incr("hits", client.Logger("other")) },
			want{"counter", "other", 6, "1", metricFields(1, "hits")}},
		{"Severity", func(c *client.Client) { c.Incr("hits", client.Severity(2)) },
			want{"counter", "test", 2, "1", metricFields(1, "hits")}},
		// metlog-py's test_arg_incr: incr('qdo.foo', count=5, logger='somelogger', severity=2).
		{"test_arg_incr", func(c *client.Client) {
			c.Incr("qdo.foo", client.Count(5), client.Logger("somelogger"), client.Severity(2))
		}, want{"counter", "somelogger", 2, "5", metricFields(1, "qdo.foo")}},
		{"Fields", func(c *client.Client) {
			c.Incr("hits", client.Fields(client.String("route", "/a"), client.Int("code", 200)))
		}, want{"counter", "test", 6, "1", metricFields(1, "hits",
			message.NewString("route", "/a"), message.NewInt("code", 200))}},
		{"several Fields", func(c *client.Client) {
			c.Incr("hits", client.Fields(client.String("a", "1")), client.Count(3),
				client.Fields(client.Int("b", 2), client.Bool("c", true)), client.Fields(client.Float("d", 0.5)))
		}, want{"counter", "test", 6, "3", metricFields(1, "hits",
			message.NewString("a", "1"), message.NewInt("b", 2), message.NewBool("c", true), message.NewDouble("d", 0.5))}},
		{"empty Fields", func(c *client.Client) { c.Incr("hits", client.Fields()) },
			want{"counter", "test", 6, "1", metricFields(1, "hits")}},
		{"built Logger", func(c *client.Client) { c.Incr("hits", client.Logger(strings.Repeat("ab", 3))) },
			want{"counter", "ababab", 6, "1", metricFields(1, "hits")}},
		{"last option wins", func(c *client.Client) {
			c.Incr("hits", client.Count(2), client.Count(7), client.Logger("a"), client.Logger("b"))
		}, want{"counter", "b", 6, "7", metricFields(1, "hits")}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, capt := newClient(t, client.Config{Logger: "test"})
			tc.call(c)
			check(t, only(t, capt), tc.want)
		})
	}
}

// TestSampling is metlog-py's test_timer_with_rate for counters and timers:
// with Rate(r) a fraction r of the calls sends, each message carrying r.
func TestSampling(t *testing.T) {
	// 10000 calls at 0.01 send 100 on average (standard deviation 10); a
	// count outside 30..200 has a probability below 1e-12.
	const calls = 10000
	for _, tc := range []struct {
		name string
		call func(c *client.Client, opts ...client.Option)
		typ  string
	}{
		{"Incr", func(c *client.Client, opts ...client.Option) { c.Incr("sampled", opts...) }, "counter"},
		{"TimerSend", func(c *client.Client, opts ...client.Option) { c.TimerSend("sampled", time.Millisecond, opts...) }, "timer"},
		{"Timer", func(c *client.Client, opts ...client.Option) { c.Timer("sampled").Stop(opts...) }, "timer"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, capt := newClient(t, client.Config{})
			for range calls {
				tc.call(c, client.Rate(0.01))
			}
			msgs := capt.Messages()
			if n := len(msgs); n < 30 || n > 200 {
				t.Errorf("%d of %d calls at rate 0.01 sent; want about 100", n, calls)
			}
			for _, m := range msgs {
				if r, _ := m.GetDouble("rate"); m.Type != tc.typ || r != 0.01 {
					t.Fatalf("sampled message %s, want type %s with rate 0.01", describe(m), tc.typ)
				}
			}
			if s := c.Stats(); s.Filtered != 0 {
				t.Errorf("sampling counted %d messages as filtered", s.Filtered)
			}
			for _, r := range []struct {
				rate float64
				want int
			}{{0, 0}, {-1, 0}, {1, 100}, {1.5, 100}} {
				capt.Reset()
				for range 100 {
					tc.call(c, client.Rate(r.rate))
				}
				if n := len(capt.Messages()); n != r.want {
					t.Errorf("Rate(%v): %d of 100 sent, want %d", r.rate, n, r.want)
				}
			}
		})
	}
}

// TestTimerSendPayload checks the payload, in milliseconds, of a timer.
func TestTimerSendPayload(t *testing.T) {
	c, capt := newClient(t, client.Config{Logger: "test"})
	for _, tc := range []struct {
		d    time.Duration
		want string
	}{
		{0, "0"},
		{12 * time.Millisecond, "12"},
		{12345 * time.Microsecond, "12.345"},
		{250 * time.Microsecond, "0.25"},
		{time.Microsecond, "0.001"},
		{1500 * time.Nanosecond, "0.001"},
		{999 * time.Nanosecond, "0"},
		{1500 * time.Millisecond, "1500"},
		{time.Hour, "3600000"},
		{-5 * time.Millisecond, "0"},
		{math.MaxInt64, "9223372036854.775"},
	} {
		c.TimerSend("db.query", tc.d)
		check(t, only(t, capt), want{"timer", "test", 6, tc.want, metricFields(1, "db.query")})
	}
	c.TimerSend("db.query", time.Millisecond, client.Logger("db"), client.Severity(7),
		client.Fields(client.String("table", "users")))
	check(t, only(t, capt), want{"timer", "db", 7, "1", metricFields(1, "db.query", message.NewString("table", "users"))})
}

// TestTimerStopWatch is metlog-py's test_timer_contextmanager and
// test_timer_decorator, with a fake clock so the payload is exact.
func TestTimerStopWatch(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c, capt := newClient(t, client.Config{Logger: "test"})
		tm := c.Timer("db.query")
		time.Sleep(12345 * time.Microsecond)
		if len(capt.Messages()) != 0 {
			t.Fatal("the timer sent before Stop")
		}
		if d := tm.Stop(client.Fields(client.String("table", "users"))); d != 12345*time.Microsecond {
			t.Errorf("Stop = %v, want 12.345ms", d)
		}
		check(t, only(t, capt), want{"timer", "test", 6, "12.345", metricFields(1, "db.query", message.NewString("table", "users"))})

		called := false
		d := c.Time("wrapped", func() {
			called = true
			time.Sleep(250 * time.Microsecond)
		}, client.Logger("w"))
		if !called || d != 250*time.Microsecond {
			t.Errorf("Time: called %v, returned %v; want true, 250µs", called, d)
		}
		check(t, only(t, capt), want{"timer", "w", 6, "0.25", metricFields(1, "wrapped")})

		tm = c.Timer("twice")
		time.Sleep(time.Second)
		tm.Stop()
		time.Sleep(time.Second)
		tm.Stop()
		msgs := messages(t, capt, 2)
		if msgs[0].Payload != "1000" || msgs[1].Payload != "2000" {
			t.Errorf("a timer stopped twice sent %q and %q, want 1000 and 2000", msgs[0].Payload, msgs[1].Payload)
		}
	})
}

// TestTimePanics checks that Time sends the timer when f panics, as
// metlog-py's timer context manager does when its block raises, and lets
// the panic through.
func TestTimePanics(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c, capt := newClient(t, client.Config{Logger: "test"})
		r := func() (r any) {
			defer func() { r = recover() }()
			c.Time("failing", func() {
				time.Sleep(3 * time.Millisecond)
				panic("boom")
			})
			return nil
		}()
		if r != "boom" {
			t.Errorf("recovered %v, want boom", r)
		}
		check(t, only(t, capt), want{"timer", "test", 6, "3", metricFields(1, "failing")})
	})
}

// TestDisabledTimers is metlog-py's TestDisabledTimer: named timers, and
// all of them with "*", send nothing and are counted as filtered.
func TestDisabledTimers(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c, capt := newClient(t, client.Config{Logger: "test", DisabledTimers: []string{"off", "also.off"}})
		tm := c.Timer("off")
		time.Sleep(time.Second)
		if d := tm.Stop(); d != 0 {
			t.Errorf("Stop on a disabled timer = %v, want 0", d)
		}
		called := false
		if d := c.Time("also.off", func() { called = true; time.Sleep(time.Second) }); d != 0 || !called {
			t.Errorf("Time on a disabled timer = %v, called %v; want 0, true", d, called)
		}
		c.TimerSend("off", time.Second)
		if n := len(capt.Messages()); n != 0 {
			t.Fatalf("disabled timers sent %d messages", n)
		}
		if s := c.Stats(); s.Filtered != 3 {
			t.Errorf("Stats().Filtered = %d, want 3", s.Filtered)
		}
		c.Timer("on").Stop()
		c.TimerSend("offline", time.Millisecond) // a prefix of nothing disabled
		c.Incr("off")                            // counters are not timers
		if n := len(capt.Messages()); n != 3 {
			t.Errorf("%d messages from enabled calls, want 3", n)
		}
	})

	t.Run("all", func(t *testing.T) {
		c, capt := newClient(t, client.Config{DisabledTimers: []string{"*"}})
		if d := c.Timer("any").Stop(); d != 0 {
			t.Errorf("Stop = %v, want 0", d)
		}
		c.Time("other", func() {})
		c.TimerSend("third", time.Millisecond)
		if n := len(capt.Messages()); n != 0 {
			t.Fatalf(`"*" let %d timers through`, n)
		}
		if s := c.Stats(); s.Filtered != 3 {
			t.Errorf("Stats().Filtered = %d, want 3", s.Filtered)
		}
		c.Incr("counter")
		c.Gauge("gauge", 1)
		c.Info("log")
		messages(t, capt, 3)
	})

	t.Run("zero Timer", func(t *testing.T) {
		var tm client.Timer
		if d := tm.Stop(); d != 0 {
			t.Errorf("zero Timer Stop = %v", d)
		}
	})
}

func TestGauge(t *testing.T) {
	for _, tc := range []struct {
		name string
		call func(c *client.Client)
		want want
	}{
		{"Gauge", func(c *client.Client) { c.Gauge("load", 1.5) }, want{"gauge", "test", 6, "1.5", metricFields(1, "load")}},
		{"Gauge integer", func(c *client.Client) { c.Gauge("conns", 42) }, want{"gauge", "test", 6, "42", metricFields(1, "conns")}},
		{"Gauge zero", func(c *client.Client) { c.Gauge("conns", 0) }, want{"gauge", "test", 6, "0", metricFields(1, "conns")}},
		{"Gauge negative zero", func(c *client.Client) { c.Gauge("conns", math.Copysign(0, -1)) }, want{"gauge", "test", 6, "0", metricFields(1, "conns")}},
		{"Gauge negative is absolute", func(c *client.Client) { c.Gauge("temp", -5) }, want{"gauge", "test", 6, "-5", metricFields(1, "temp")}},
		{"Gauge large", func(c *client.Client) { c.Gauge("big", 1e21) }, want{"gauge", "test", 6, "1000000000000000000000", metricFields(1, "big")}},
		{"Gauge small", func(c *client.Client) { c.Gauge("small", 0.000125) }, want{"gauge", "test", 6, "0.000125", metricFields(1, "small")}},
		{"GaugeDelta positive", func(c *client.Client) { c.GaugeDelta("conns", 5) }, want{"gauge", "test", 6, "+5", deltaFields("conns")}},
		{"GaugeDelta negative", func(c *client.Client) { c.GaugeDelta("conns", -2.5) }, want{"gauge", "test", 6, "-2.5", deltaFields("conns")}},
		{"GaugeDelta zero", func(c *client.Client) { c.GaugeDelta("conns", 0) }, want{"gauge", "test", 6, "+0", deltaFields("conns")}},
		{"GaugeDelta negative zero", func(c *client.Client) { c.GaugeDelta("conns", math.Copysign(0, -1)) }, want{"gauge", "test", 6, "+0", deltaFields("conns")}},
		{"Rate is carried, not sampled", func(c *client.Client) { c.Gauge("load", 2, client.Rate(0.01)) },
			want{"gauge", "test", 6, "2", metricFields(0.01, "load")}},
		{"options", func(c *client.Client) {
			c.Gauge("load", 0.75, client.Logger("sys"), client.Severity(7), client.Fields(client.String("cpu", "0")))
		}, want{"gauge", "sys", 7, "0.75", metricFields(1, "load", message.NewString("cpu", "0"))}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, capt := newClient(t, client.Config{Logger: "test"})
			tc.call(c)
			check(t, only(t, capt), tc.want)
		})
	}
}

// sendTypes sends a message of each type in types, in order.
func sendTypes(c *client.Client, types ...string) {
	for _, typ := range types {
		c.Send(&message.Message{Type: typ, Severity: message.Info, Payload: "msg"})
	}
}

func countTypes(msgs []*message.Message, typ string) int {
	n := 0
	for _, m := range msgs {
		if m.Type == typ {
			n++
		}
	}
	return n
}

// TestFilterConfig ports metlog-py's (and heka-py's) test_filters.py with
// the same calls and counts.
func TestFilterConfig(t *testing.T) {
	// The types metlog-py's tests draw at random; fixed here.
	choices := []string{"foo", "bar", "bar", "foo", "foo", "bar", "foo", "bar", "bar", "bar"}

	t.Run("test_severity_max", func(t *testing.T) {
		c, capt := newClient(t, client.Config{Filter: client.FilterConfig{MaxSeverity: client.LevelOf(message.Error)}})
		c.Debug("foo")
		c.Info("foo")
		c.Warn("foo")
		c.Error("foo")
		c.Alert("foo") // metlog-py's exception() logs at ALERT
		c.Critical("foo")
		for _, m := range messages(t, capt, 3) { // only half of the messages go out
			if m.Severity > message.Error {
				t.Errorf("severity %d passed a maximum of %d", m.Severity, message.Error)
			}
		}
		if s := c.Stats(); s.Filtered != 3 {
			t.Errorf("Stats().Filtered = %d, want 3", s.Filtered)
		}
	})

	t.Run("test_type_blacklist", func(t *testing.T) {
		c, capt := newClient(t, client.Config{Filter: client.FilterConfig{TypesDeny: []string{"foo"}}})
		sendTypes(c, choices...)
		msgs := messages(t, capt, 6)
		if countTypes(msgs, "foo") != 0 {
			t.Error("a denied type was sent")
		}
		if s := c.Stats(); s.Filtered != 4 {
			t.Errorf("Stats().Filtered = %d, want 4", s.Filtered)
		}
	})

	t.Run("test_type_whitelist", func(t *testing.T) {
		c, capt := newClient(t, client.Config{Filter: client.FilterConfig{TypesAllow: []string{"foo"}}})
		sendTypes(c, choices...)
		if msgs := messages(t, capt, 4); countTypes(msgs, "foo") != 4 {
			t.Error("a type not allowed was sent")
		}
		if s := c.Stats(); s.Filtered != 6 {
			t.Errorf("Stats().Filtered = %d, want 6", s.Filtered)
		}
	})

	t.Run("test_type_severity_max", func(t *testing.T) {
		c, capt := newClient(t, client.Config{Filter: client.FilterConfig{TypeMaxSeverity: map[string]client.Level{
			"foo": client.LevelOf(3), "bar": client.LevelOf(5),
		}}})
		for _, typ := range []string{"foo", "bar", "baz"} {
			for sev := range int32(8) {
				c.Send(&message.Message{Type: typ, Severity: sev, Payload: "msg"})
			}
		}
		msgs := messages(t, capt, 4+6+8) // metlog-py's 10, and baz, which has no maximum
		if foo, bar := countTypes(msgs, "foo"), countTypes(msgs, "bar"); foo != 4 || bar != 6 {
			t.Errorf("%d foo and %d bar sent, want 4 and 6", foo, bar)
		}
		if s := c.Stats(); s.Filtered != 6 {
			t.Errorf("Stats().Filtered = %d, want 6", s.Filtered)
		}
	})

	t.Run("every call", func(t *testing.T) {
		// The configured filters see the type and severity of every kind of call.
		for _, tc := range []struct {
			name   string
			filter client.FilterConfig
			call   func(c *client.Client)
			sent   bool
		}{
			{"counter denied", client.FilterConfig{TypesDeny: []string{"counter"}}, func(c *client.Client) { c.Incr("x") }, false},
			{"gauge passes deny of counter", client.FilterConfig{TypesDeny: []string{"counter"}}, func(c *client.Client) { c.Gauge("x", 1) }, true},
			{"timer allowed", client.FilterConfig{TypesAllow: []string{"timer"}}, func(c *client.Client) { c.TimerSend("x", 1) }, true},
			{"log not allowed", client.FilterConfig{TypesAllow: []string{"timer"}}, func(c *client.Client) { c.Info("x") }, false},
			{"Severity option", client.FilterConfig{MaxSeverity: client.LevelOf(6)}, func(c *client.Client) { c.Incr("x", client.Severity(7)) }, false},
			{"Logf", client.FilterConfig{MaxSeverity: client.LevelOf(6)}, func(c *client.Client) { c.Logf(7, "%d", 1) }, false},
			{"exception", client.FilterConfig{TypesDeny: []string{"exception"}}, func(c *client.Client) { c.Exception(errors.New("x")) }, false},
			{"gauge type max", client.FilterConfig{TypeMaxSeverity: map[string]client.Level{"gauge": client.LevelOf(4)}},
				func(c *client.Client) { c.GaugeDelta("x", 1) }, false},
			{"type max other type", client.FilterConfig{TypeMaxSeverity: map[string]client.Level{"gauge": client.LevelOf(4)}},
				func(c *client.Client) { c.Incr("x") }, true},
		} {
			t.Run(tc.name, func(t *testing.T) {
				c, capt := newClient(t, client.Config{Filter: tc.filter})
				tc.call(c)
				sent := len(capt.Messages()) == 1
				if sent != tc.sent {
					t.Errorf("sent %v, want %v", sent, tc.sent)
				}
				if s := c.Stats(); (s.Filtered == 1) == tc.sent {
					t.Errorf("Stats().Filtered = %d", s.Filtered)
				}
			})
		}
	})

	t.Run("toml", func(t *testing.T) {
		// metlog-py's INI example: severity 4 and a whitelist of timer and oldstyle.
		cfg, err := client.ParseConfig(`
[filter]
max_severity = "warning"
types_allow = ["timer", "oldstyle"]
`)
		if err != nil {
			t.Fatal(err)
		}
		c, capt := newClient(t, cfg)
		c.Info("dropped: info")
		c.Warn("sent")
		c.Incr("dropped: counter", client.Severity(0))
		c.TimerSend("dropped: info", 1)
		c.TimerSend("sent", 1, client.Severity(4))
		msgs := messages(t, capt, 2)
		if msgs[0].Payload != "sent" || msgs[1].Type != "timer" {
			t.Errorf("sent %s", describeAll(msgs))
		}
	})
}

// TestUserFilters checks FilterFuncs: called in order on the finished
// envelope, the first false drops the message.
func TestUserFilters(t *testing.T) {
	var calls []string
	var sawEnvelope bool
	noSecrets := func(m *message.Message) bool {
		calls = append(calls, "noSecrets")
		name, _ := m.GetString("name")
		return name != "secret"
	}
	record := func(m *message.Message) bool {
		calls = append(calls, "record")
		sawEnvelope = m.Logger == "test" && m.Hostname != "" && m.Pid != 0 && m.Timestamp != 0 &&
			m.UUID != [16]byte{} && m.EnvVersion == "0.8"
		return true
	}
	c, capt := newClient(t, client.Config{Logger: "test", Filters: []client.FilterFunc{noSecrets, record}})

	c.Incr("public")
	if !slices.Equal(calls, []string{"noSecrets", "record"}) || !sawEnvelope {
		t.Errorf("filters called %v, saw the envelope %v", calls, sawEnvelope)
	}
	calls = nil
	c.Incr("secret")
	if !slices.Equal(calls, []string{"noSecrets"}) {
		t.Errorf("after a drop, filters called %v; want only the first", calls)
	}
	c.TimerSend("secret", time.Millisecond)
	c.Info("no name field")
	msgs := messages(t, capt, 2)
	if n, _ := msgs[0].GetString("name"); n != "public" || msgs[1].Payload != "no name field" {
		t.Errorf("sent %s", describeAll(msgs))
	}
	if s := c.Stats(); s.Filtered != 2 {
		t.Errorf("Stats().Filtered = %d, want 2", s.Filtered)
	}
}

// TestSend sends a message of a custom type: the envelope is filled in,
// the caller's message is left as it was, and the client keeps nothing of
// it.
func TestSend(t *testing.T) {
	c, capt := newClient(t, client.Config{Logger: "test", Hostname: "h1"})
	msg := &message.Message{
		Type:     "deploy",
		Severity: message.Notice,
		Payload:  "v1.2.3 deployed",
		Fields: []message.Field{
			message.NewString("version", "1.2.3"),
			message.NewInt("hosts", 12, 13),
			message.NewDouble("took", 1.5).WithRepresentation("s"),
			message.NewBool("canary", true),
			message.NewBytes("digest", []byte{0xde, 0xad}),
		},
	}
	before := msg.Clone()
	wantMsg := want{"deploy", "test", 5, "v1.2.3 deployed", before.Clone().Fields}

	c.Send(msg)
	c.Send(msg)
	if !msg.Equal(before) {
		t.Fatalf("Send modified the message:\n got  %s\n want %s", describe(msg), describe(before))
	}
	msgs := messages(t, capt, 2)
	for _, m := range msgs {
		check(t, m, wantMsg)
		if m.Hostname != "h1" || m.Pid != int32(os.Getpid()) || m.EnvVersion != "0.8" || m.Timestamp == 0 {
			t.Errorf("envelope not filled in: hostname %q, pid %d, env_version %q, timestamp %d",
				m.Hostname, m.Pid, m.EnvVersion, m.Timestamp)
		}
	}
	if msgs[0].UUID == msgs[1].UUID || msgs[0].UUID == [16]byte{} {
		t.Errorf("two sends of one message have uuids %x and %x", msgs[0].UUID, msgs[1].UUID)
	}

	// The client reuses its buffers: other calls must not write into the
	// caller's fields, and changing the message must not change what was sent.
	for range 10 {
		c.Incr("reuse", client.Fields(client.String("a", "b"), client.Int("c", 1)))
		c.Info("reuse", client.Strings("s", "x", "y"), client.Ints("i", 5))
	}
	if !msg.Equal(before) {
		t.Fatalf("later calls changed the message sent before:\n got  %s\n want %s", describe(msg), describe(before))
	}
	msg.Payload = "changed"
	msg.Fields[0].Strings[0] = "changed"
	msg.Fields[1].Integers[0] = -1
	msg.Fields[4].Bytes[0][0] = 0
	msg.Fields = append(msg.Fields, message.NewString("extra", "x"))
	check(t, capt.Messages()[0], wantMsg)
}

// TestSendKeepsEnvelope checks that header values the caller sets are sent
// as they are.
func TestSendKeepsEnvelope(t *testing.T) {
	c, capt := newClient(t, client.Config{Logger: "test"})
	u := message.NewUUID()
	msg := &message.Message{UUID: u, Timestamp: 1234567890, Type: "t", Logger: "mine", Severity: 0,
		Payload: "p", EnvVersion: "9", Pid: 77, Hostname: "elsewhere"}
	c.Send(msg)
	got := only(t, capt)
	if !got.Equal(msg) {
		t.Errorf("got  %s\nwant %s", describe(got), describe(msg))
	}
}

func TestSendLeaveTimestamp(t *testing.T) {
	c, capt := newClient(t, client.Config{LeaveTimestamp: true})
	c.Send(&message.Message{Type: "t"})
	if m := only(t, capt); m.Timestamp != 0 {
		t.Errorf("timestamp %d, want 0 with LeaveTimestamp", m.Timestamp)
	}
}

// unicodeCases are texts that must cross the wire intact, with their
// metlog JSON form (Python's json.dumps with ensure_ascii) and what a JSON
// decoder reads back.
var unicodeCases = []struct {
	name, text, json, decoded string
}{
	{"japanese", "日本語のテキスト", `\u65e5\u672c\u8a9e\u306e\u30c6\u30ad\u30b9\u30c8`, "日本語のテキスト"},
	{"emoji", "emoji 🎉🚀", `emoji \ud83c\udf89\ud83d\ude80`, "emoji 🎉🚀"},
	{"bug 73442", "bukan\u00fdrka", `bukan\u00fdrka`, "bukan\u00fdrka"},
	{"control", "nul\x00tab\t", `nul\u0000tab\t`, "nul\x00tab\t"},
	{"invalid utf-8", "bad\xff\xfe!", `bad\ufffd\ufffd!`, "bad\ufffd\ufffd!"},
}

// TestUnicode is metlog-py's TestUDPUnicode and test_japanese*: unicode
// payloads and field values cross intact in protobuf, and \u-escaped in JSON.
func TestUnicode(t *testing.T) {
	for _, tc := range unicodeCases {
		t.Run(tc.name, func(t *testing.T) {
			c, capt := newClient(t, client.Config{Logger: "test"})
			c.Info(tc.text, client.String("text", tc.text), client.Strings("list", tc.text, "ascii"))
			check(t, only(t, capt), want{"oldstyle", "test", 6, tc.text, []message.Field{
				message.NewString("text", tc.text), message.NewString("list", tc.text, "ascii")}})

			c, capt = newClient(t, client.Config{Logger: "test", Sender: client.SenderConfig{Encoder: "json"}})
			c.Info(tc.text, client.String("text", tc.text))
			raw := string(capt.Raw()[0])
			for _, part := range []string{`"payload": "` + tc.json + `"`, `"fields": {"text": "` + tc.json + `"}`} {
				if !strings.Contains(raw, part) {
					t.Errorf("JSON %s\ndoes not contain %s", raw, part)
				}
			}
			for i := range len(raw) {
				if raw[i] >= 0x80 {
					t.Fatalf("JSON has the non-ASCII byte %#x at %d: %s", raw[i], i, raw)
				}
			}
			check(t, only(t, capt), want{"oldstyle", "test", 6, tc.decoded, []message.Field{message.NewString("text", tc.decoded)}})
		})
	}
}

// TestJSONEncoder checks the metlog JSON envelope as metlog-py writes it.
func TestJSONEncoder(t *testing.T) {
	c, capt := newClient(t, client.Config{Logger: "app", Hostname: "h", Sender: client.SenderConfig{Encoder: "json"}})
	c.Incr("hits", client.Count(2))
	raw := string(capt.Raw()[0])
	prefix := `{"severity": 6, "timestamp": "`
	suffix := fmt.Sprintf(`", "metlog_hostname": "h", "fields": {"rate": 1.0, "name": "hits"}, "metlog_pid": %d, `+
		`"logger": "app", "type": "counter", "payload": "2", "env_version": "0.8"}`, os.Getpid())
	if !strings.HasPrefix(raw, prefix) || !strings.HasSuffix(raw, suffix) {
		t.Errorf("JSON\n%s\nwant\n%s<timestamp>%s", raw, prefix, suffix)
	}
	check(t, only(t, capt), want{"counter", "app", 6, "2", metricFields(1, "hits")})
}

// recorder is a stream Sender (it has no Datagram method) that keeps a
// copy of what it is sent.
type recorder struct {
	mu   sync.Mutex
	sent [][]byte
}

func (r *recorder) Send(b []byte) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.sent = append(r.sent, slices.Clone(b))
	return nil
}

func (r *recorder) Close() error { return nil }

// TestJSONStream checks the JSON encoder on a stream: one object per line,
// and the size limit counts the object, not its newline.
func TestJSONStream(t *testing.T) {
	var rec recorder
	var errs []error
	const limit = 600
	c, err := client.New(client.Config{Output: &rec, MaxMessageSize: limit, Sender: client.SenderConfig{Encoder: "json"},
		OnError: func(err error) { errs = append(errs, err) }})
	if err != nil {
		t.Fatal(err)
	}
	c.Incr("lines")
	m := sized(t, limit, func(m *message.Message) int { return len(message.AppendMetlogJSON(nil, m)) })
	c.Send(m)
	m.Payload += "x"
	c.Send(m)
	if len(rec.sent) != 2 || len(errs) != 1 || !errors.Is(errs[0], client.ErrTooLarge) {
		t.Fatalf("%d sent, errors %v; want 2 and one ErrTooLarge", len(rec.sent), errs)
	}
	if n := len(rec.sent[1]); n != limit+1 {
		t.Errorf("a message at the limit is %d bytes with its newline, want %d", n, limit+1)
	}
	for _, b := range rec.sent {
		if b[len(b)-1] != '\n' || strings.Count(string(b), "\n") != 1 {
			t.Fatalf("not one line: %q", b)
		}
		var got message.Message
		if err := message.DecodeMetlogJSON(b[:len(b)-1], &got); err != nil {
			t.Fatal(err)
		}
	}
}

// TestFraming is heka-py's test_protobuf_encoding: the bytes sent are one
// Heka stream frame, which Google's protobuf code decodes too.
func TestFraming(t *testing.T) {
	c, capt := newClient(t, client.Config{Logger: "test", Hostname: "h"})
	c.Info("framed", client.String("k", "v"), client.Int("n", 3))
	raw := capt.Raw()[0]

	if raw[0] != 0x1E {
		t.Fatalf("first byte %#x, want the record separator 0x1e", raw[0])
	}
	hlen := int(raw[1])
	if len(raw) < 3+hlen || raw[2+hlen] != 0x1F {
		t.Fatalf("no unit separator 0x1f after the %d-byte header: % x", hlen, raw)
	}
	var hdr pb.Header
	if err := proto.Unmarshal(raw[2:2+hlen], &hdr); err != nil {
		t.Fatalf("header: %v", err)
	}
	body := raw[3+hlen:]
	if int(hdr.GetMessageLength()) != len(body) {
		t.Errorf("message_length %d, but %d bytes follow the header", hdr.GetMessageLength(), len(body))
	}
	if hdr.HmacSigner != nil || hdr.Hmac != nil {
		t.Errorf("unsigned frame has HMAC fields: %v", &hdr)
	}
	var pm pb.Message
	if err := proto.Unmarshal(body, &pm); err != nil {
		t.Fatalf("message: %v", err)
	}
	if pm.GetType() != "oldstyle" || pm.GetPayload() != "framed" || pm.GetLogger() != "test" ||
		pm.GetSeverity() != 6 || pm.GetHostname() != "h" || pm.GetEnvVersion() != "0.8" || len(pm.GetUuid()) != 16 ||
		len(pm.GetFields()) != 2 || pm.GetFields()[0].GetValueString()[0] != "v" || pm.GetFields()[1].GetValueInteger()[0] != 3 {
		t.Errorf("decoded by the generated code: %v", &pm)
	}

	h, msg, n, err := message.ParseFrame(raw, 0)
	if err != nil || n != len(raw) || int(h.MessageLength) != len(msg) {
		t.Errorf("ParseFrame: n %d of %d, length %d of %d, %v", n, len(raw), h.MessageLength, len(msg), err)
	}
}

// TestHMAC is heka-py's test_hmac_signer_md5 and _sha1 (and sha256, a
// metlog extension): the header carries the signer, key version, hash
// function and the HMAC of the message bytes.
func TestHMAC(t *testing.T) {
	const key = "s3cr3t"
	for _, tc := range []struct {
		hash string
		fn   message.HashFunction
		new  func() hash.Hash
	}{
		{"", message.MD5, md5.New},
		{"md5", message.MD5, md5.New},
		{"sha1", message.SHA1, sha1.New},
		{"sha256", message.SHA256, sha256.New},
	} {
		t.Run(tc.hash, func(t *testing.T) {
			c, capt := newClient(t, client.Config{Sender: client.SenderConfig{
				HMAC: client.HMACConfig{Signer: "ops", KeyVersion: 2, Hash: tc.hash, Key: key}}})
			c.Info("signed")
			c.Incr("signed")
			for _, raw := range capt.Raw() {
				h, msg, _, err := message.ParseFrame(raw, 0)
				if err != nil {
					t.Fatal(err)
				}
				if h.Signer != "ops" || h.KeyVersion != 2 || h.HashFunction != tc.fn {
					t.Errorf("header signer %q, key version %d, hash %v", h.Signer, h.KeyVersion, h.HashFunction)
				}
				mac := hmac.New(tc.new, []byte(key))
				mac.Write(msg)
				if !hmac.Equal(h.HMAC, mac.Sum(nil)) {
					t.Errorf("hmac %x, want %x", h.HMAC, mac.Sum(nil))
				}

				var good, wrongKey, wrongVersion message.KeyRing
				good.Add("ops", 2, []byte(key))
				wrongKey.Add("ops", 2, []byte("guess"))
				wrongVersion.Add("ops", 1, []byte(key))
				if err := good.Verify(&h, msg); err != nil {
					t.Errorf("Verify with the key: %v", err)
				}
				if err := wrongKey.Verify(&h, msg); !errors.Is(err, message.ErrBadSignature) {
					t.Errorf("Verify with a wrong key: %v, want ErrBadSignature", err)
				}
				if err := wrongVersion.Verify(&h, msg); !errors.Is(err, message.ErrUnknownSigner) {
					t.Errorf("Verify with another key version: %v, want ErrUnknownSigner", err)
				}
				tampered := slices.Clone(msg)
				tampered[len(tampered)-1] ^= 1
				if err := good.Verify(&h, tampered); !errors.Is(err, message.ErrBadSignature) {
					t.Errorf("Verify of a changed message: %v, want ErrBadSignature", err)
				}
			}
			messages(t, capt, 2)
		})
	}
}

func TestHMACConfigErrors(t *testing.T) {
	for _, h := range []client.HMACConfig{
		{Signer: "ops"},
		{Key: "k"},
		{Signer: "ops", Key: "k", Hash: "crc32"},
	} {
		if _, err := client.New(client.Config{Output: client.NewCapture(), Sender: client.SenderConfig{HMAC: h}}); err == nil {
			t.Errorf("New accepted %+v", h)
		}
	}
}

// sized returns a message of fixed envelope whose encoding is exactly size
// bytes, as measured by length.
func sized(t *testing.T, size int, length func(*message.Message) int) *message.Message {
	t.Helper()
	m := &message.Message{UUID: [16]byte{1}, Timestamp: 1, Type: "big", Logger: "l", Severity: 6,
		EnvVersion: "0.8", Pid: 1, Hostname: "h"}
	for n := max(0, size-length(m)-8); n < size; n++ {
		m.Payload = strings.Repeat("x", n)
		if l := length(m); l == size {
			return m
		} else if l > size {
			break
		}
	}
	t.Fatalf("no payload makes a message of %d bytes", size)
	return nil
}

// TestMaxMessageSize checks the limit on the encoded message (without its
// framing): a message at the limit is sent, one byte more is dropped,
// counted and reported.
// A UDP datagram holds at most 65,507 bytes, less than the default 64 KiB
// message plus its frame: over UDP the client keeps to what fits.
func TestMaxMessageSizeUDP(t *testing.T) {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	c, err := client.New(client.Config{Logger: "big", Sender: client.SenderConfig{URL: "udp://" + pc.LocalAddr().String()}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	fits := strings.Repeat("x", 65_000)
	c.Info(fits)
	c.Info(fits + strings.Repeat("y", 300)) // under 64 KiB, over one datagram
	if err := c.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	if st := c.Stats(); st.TooLarge != 1 || st.Sent != 1 || st.Dropped != 0 {
		t.Fatalf("stats %+v: want the larger message refused as too large, the other sent", st)
	}
	buf := make([]byte, 70_000)
	_ = pc.SetReadDeadline(time.Now().Add(5 * time.Second))
	n, _, err := pc.ReadFrom(buf)
	if err != nil {
		t.Fatal(err)
	}
	_, msg, _, err := message.ParseFrame(buf[:n], 0)
	var m message.Message
	if err != nil || m.Unmarshal(msg) != nil || m.Payload != fits {
		t.Fatalf("datagram of %d bytes did not carry the message: %v", n, err)
	}
}

func TestMaxMessageSize(t *testing.T) {
	const limit = 1000
	protoLen := func(m *message.Message) int { return m.Size() }
	jsonLen := func(m *message.Message) int { return len(message.AppendMetlogJSON(nil, m)) }
	for _, tc := range []struct {
		name   string
		sender client.SenderConfig
		length func(*message.Message) int
	}{
		{"protobuf", client.SenderConfig{}, protoLen},
		{"protobuf signed", client.SenderConfig{HMAC: client.HMACConfig{Signer: "a-long-signer-name", Key: "k", Hash: "sha256"}}, protoLen},
		{"json", client.SenderConfig{Encoder: "json"}, jsonLen},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var errs []error
			c, capt := newClient(t, client.Config{MaxMessageSize: limit, Sender: tc.sender,
				OnError: func(err error) { errs = append(errs, err) }})
			m := sized(t, limit, tc.length)
			c.Send(m)
			if len(capt.Messages()) != 1 || len(errs) != 0 {
				t.Fatalf("a message of exactly %d bytes: %d sent, errors %v", limit, len(capt.Messages()), errs)
			}
			m.Payload += "x"
			c.Send(m)
			c.Info(strings.Repeat("y", 2*limit))
			messages(t, capt, 1)
			if s := c.Stats(); s.TooLarge != 2 {
				t.Errorf("Stats().TooLarge = %d, want 2", s.TooLarge)
			}
			if len(errs) != 2 {
				t.Fatalf("OnError called with %v, want two errors", errs)
			}
			for _, err := range errs {
				if !errors.Is(err, client.ErrTooLarge) {
					t.Errorf("OnError(%v) does not wrap ErrTooLarge", err)
				}
			}
		})
	}

	t.Run("default 64 KiB", func(t *testing.T) {
		c, capt := newClient(t, client.Config{})
		c.Send(sized(t, message.DefaultMaxMessageSize, protoLen))
		c.Info(strings.Repeat("x", message.DefaultMaxMessageSize))
		messages(t, capt, 1)
		if s := c.Stats(); s.TooLarge != 1 {
			t.Errorf("Stats().TooLarge = %d, want 1", s.TooLarge)
		}
	})
}

func TestClose(t *testing.T) {
	c, capt := newClient(t, client.Config{})
	c.Info("before")
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	c.Info("after")
	c.Incr("after")
	messages(t, capt, 1)
	if s := c.Stats(); s.Failed != 2 {
		t.Errorf("Stats().Failed = %d after two calls on a closed client, want 2", s.Failed)
	}
	if err := c.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

// failing is a Sender that refuses every message.
type failing struct{}

func (failing) Send([]byte) error { return client.ErrQueueFull }
func (failing) Close() error      { return nil }

func TestSenderErrors(t *testing.T) {
	var errs []error
	c, err := client.New(client.Config{Output: failing{}, OnError: func(err error) { errs = append(errs, err) }})
	if err != nil {
		t.Fatal(err)
	}
	c.Info("x")
	c.Incr("y")
	if s := c.Stats(); s.Failed != 2 {
		t.Errorf("Stats().Failed = %d, want 2", s.Failed)
	}
	if len(errs) != 2 || !errors.Is(errs[0], client.ErrQueueFull) {
		t.Errorf("OnError got %v", errs)
	}
}

func TestConcurrentUse(t *testing.T) {
	c, capt := newClient(t, client.Config{})
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 100 {
				c.Info("concurrent", client.Int("g", g), client.Int("i", i))
				c.Incr("n", client.Fields(client.Int("g", g)))
			}
		})
	}
	wg.Wait()
	msgs := messages(t, capt, 8*100*2)
	seen := make(map[[2]int64]bool)
	for _, m := range msgs {
		if m.Type != "oldstyle" {
			continue
		}
		g, _ := m.GetInt("g")
		i, _ := m.GetInt("i")
		if m.Payload != "concurrent" || len(m.Fields) != 2 || seen[[2]int64{g, i}] {
			t.Fatalf("message mixed up or repeated: %s", describe(m))
		}
		seen[[2]int64{g, i}] = true
	}
}

// TestHotPathAllocs is the requirement: counters, timers, gauges
// and log lines with scalar fields allocate nothing.
func TestHotPathAllocs(t *testing.T) {
	if client.RaceEnabled {
		t.Skip("the race detector makes sync.Pool drop items at random, so the pool allocates")
	}
	c, err := client.New(client.Config{Logger: "bench", Output: discard{}})
	if err != nil {
		t.Fatal(err)
	}
	filtered, err := client.New(client.Config{Output: discard{}, DisabledTimers: []string{"t"},
		Filter: client.FilterConfig{MaxSeverity: client.LevelOf(message.Warning)}})
	if err != nil {
		t.Fatal(err)
	}
	signed, err := client.New(client.Config{Output: discard{}, Sender: client.SenderConfig{
		HMAC: client.HMACConfig{Signer: "ops", Key: "k", Hash: "sha1"}}})
	if err != nil {
		t.Fatal(err)
	}
	jsonc, err := client.New(client.Config{Output: discard{}, Sender: client.SenderConfig{Encoder: "json"}})
	if err != nil {
		t.Fatal(err)
	}
	// Slices the list Attrs are built from (see Attr: a list written out as
	// arguments moves to the heap).
	payload, ss, is, fs, bs := []byte("bytes"), []string{"a", "b"}, []int64{1, 2}, []float64{1}, []bool{true}
	msg := &message.Message{Type: "custom", Payload: "p", Fields: []message.Field{message.NewString("k", "v")}}
	for _, tc := range []struct {
		name string
		f    func()
	}{
		{"Incr", func() { c.Incr("x") }},
		{"Incr options", func() { c.Incr("x", client.Count(3), client.Logger("l"), client.Severity(7)) }},
		{"Incr Rate", func() { c.Incr("x", client.Rate(0.5)) }},
		{"Incr Fields", func() { c.Incr("x", client.Fields(client.String("k", "v"), client.Int("n", 1))) }},
		{"Incr several Fields", func() { c.Incr("x", client.Fields(client.String("k", "v")), client.Fields(client.Int("n", 1))) }},
		{"TimerSend", func() { c.TimerSend("t", 12*time.Millisecond) }},
		{"TimerSend fraction", func() { c.TimerSend("t", 12345*time.Microsecond) }},
		{"Timer Stop", func() { c.Timer("t").Stop() }},
		{"Time", func() { c.Time("t", func() {}) }},
		{"Gauge", func() { c.Gauge("g", 1.5) }},
		{"GaugeDelta", func() { c.GaugeDelta("g", -2) }},
		{"Info", func() { c.Info("msg") }},
		{"Info 3 fields", func() { c.Info("msg", client.String("s", "v"), client.Int("i", 42), client.Float("f", 1.5)) }},
		{"Error scalars", func() {
			c.Error("msg", client.Bool("b", true), client.Int64("i", 1), client.Duration("d", time.Second),
				client.String("s", "v").WithRepresentation("r"))
		}},
		{"Info bytes and lists", func() {
			c.Info("msg", client.Bytes("b", payload), client.Strings("ss", ss...), client.Ints("is", is...),
				client.Floats("fs", fs...), client.Bools("bs", bs...))
		}},
		{"Send", func() { c.Send(msg) }},
		{"filtered Debug", func() { filtered.Debug("dropped", client.String("k", "v")) }},
		{"disabled Timer", func() { filtered.Timer("t").Stop() }},
		{"signed Incr", func() { signed.Incr("x") }},
		{"json Incr", func() { jsonc.Incr("x") }},
		{"json Info 3 fields", func() { jsonc.Info("msg", client.String("s", "v"), client.Int("i", 42), client.Float("f", 1.5)) }},
	} {
		tc.f()
		if n := testing.AllocsPerRun(1000, tc.f); n != 0 {
			t.Errorf("%s: %v allocations per call, want 0", tc.name, n)
		}
	}
}

// Benchmarks: each call through a sender that discards, which measures the
// client alone, and through the real asynchronous TCP sender to a local
// listener, which adds queueing and the writer goroutine.

func benchIncr(b *testing.B, c *client.Client) {
	for b.Loop() {
		c.Incr("bench.counter")
	}
}

func benchTimerSend(b *testing.B, c *client.Client) {
	for b.Loop() {
		c.TimerSend("bench.timer", 12345*time.Microsecond)
	}
}

func benchInfo3Fields(b *testing.B, c *client.Client) {
	for b.Loop() {
		c.Info("request handled", client.String("path", "/api/v1/items"), client.Int("status", 200), client.Float("took", 1.25))
	}
}

func benchGauge(b *testing.B, c *client.Client) {
	for b.Loop() {
		c.Gauge("bench.gauge", 42.5)
	}
}

func discardClient(b *testing.B) *client.Client {
	c, err := client.New(client.Config{Logger: "bench", Output: discard{}})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	return c
}

// tcpClient returns a client sending over TCP to a listener that reads and
// discards everything. Calls block when the queue is full, so that nothing
// is dropped and the benchmark measures sustained throughput; at the end
// it checks that every message was written.
func tcpClient(b *testing.B) *client.Client {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Go(func() {
				_, _ = io.Copy(io.Discard, conn)
				_ = conn.Close()
			})
		}
	})
	c, err := client.New(client.Config{Logger: "bench", Sender: client.SenderConfig{
		URL: "tcp://" + ln.Addr().String(), Block: true}})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := c.Flush(ctx); err != nil {
			b.Error(err)
		}
		if s := c.Stats(); s.Dropped != 0 || s.Failed != 0 || s.Errors != 0 {
			b.Errorf("stats after the benchmark: %+v", s)
		}
		_ = c.Close()
		_ = ln.Close()
		wg.Wait()
	})
	b.ReportAllocs()
	return c
}

func BenchmarkIncr(b *testing.B)           { benchIncr(b, discardClient(b)) }
func BenchmarkTimerSend(b *testing.B)      { benchTimerSend(b, discardClient(b)) }
func BenchmarkInfo3Fields(b *testing.B)    { benchInfo3Fields(b, discardClient(b)) }
func BenchmarkGauge(b *testing.B)          { benchGauge(b, discardClient(b)) }
func BenchmarkIncrTCP(b *testing.B)        { benchIncr(b, tcpClient(b)) }
func BenchmarkTimerSendTCP(b *testing.B)   { benchTimerSend(b, tcpClient(b)) }
func BenchmarkInfo3FieldsTCP(b *testing.B) { benchInfo3Fields(b, tcpClient(b)) }
func BenchmarkGaugeTCP(b *testing.B)       { benchGauge(b, tcpClient(b)) }

// BenchmarkIncrParallel measures contention on the shared buffer pool.
func BenchmarkIncrParallel(b *testing.B) {
	c := discardClient(b)
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			c.Incr("bench.counter")
		}
	})
}
