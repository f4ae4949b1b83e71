package client

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"reflect"
	"runtime"
	"strings"
	"sync"
	"testing"
	"testing/slogtest"
	"time"

	"github.com/metlog/metlog/message"
)

// newSlogClient returns a client that captures what it sends, leaving
// zero timestamps at 0, with the configured filters.
func newSlogClient(t testing.TB, filter FilterConfig) (*Client, *Capture) {
	t.Helper()
	capture := NewCapture()
	c, err := New(Config{Logger: "slogtest", Hostname: "h", Output: capture, LeaveTimestamp: true, Filter: filter})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c, capture
}

// onlyMessage returns the one message captured, failing when there are
// more or fewer.
func onlyMessage(t testing.TB, capture *Capture) *message.Message {
	t.Helper()
	if errs := capture.Errors(); len(errs) > 0 {
		t.Fatalf("capture errors: %v", errs)
	}
	msgs := capture.Messages()
	if len(msgs) != 1 {
		t.Fatalf("captured %d messages, want 1", len(msgs))
	}
	return msgs[0]
}

// levelOfSeverity is the inverse of SeverityOfLevel on slog's named levels
// and the lowest level of each other severity.
func levelOfSeverity(sev int32) slog.Level {
	return [...]slog.Level{
		slog.LevelError + 12, slog.LevelError + 8, slog.LevelError + 4, slog.LevelError,
		slog.LevelWarn, slog.LevelInfo + 1, slog.LevelInfo, slog.LevelDebug,
	}[sev]
}

// fieldValue returns f's value as slogtest compares it: the one value of
// its type, or a slice of them.
func fieldValue(f *message.Field) any {
	var vs []any
	for i := range f.Len() {
		v, _ := f.Value(i)
		vs = append(vs, v)
	}
	if len(vs) == 1 {
		return vs[0]
	}
	return vs
}

// slogResult maps a message back to what slogtest expects: the built-in
// keys, and the fields, their dotted names nested in groups.
func slogResult(m *message.Message) map[string]any {
	out := map[string]any{
		slog.MessageKey: m.Payload,
		slog.LevelKey:   levelOfSeverity(m.Severity),
	}
	if m.Timestamp != 0 {
		out[slog.TimeKey] = time.Unix(0, m.Timestamp)
	}
	for i := range m.Fields {
		f := &m.Fields[i]
		path := strings.Split(f.Name, ".")
		group := out
		for _, g := range path[:len(path)-1] {
			sub, ok := group[g].(map[string]any)
			if !ok {
				sub = map[string]any{}
				group[g] = sub
			}
			group = sub
		}
		group[path[len(path)-1]] = fieldValue(f)
	}
	return out
}

func TestSlogtest(t *testing.T) {
	for _, addSource := range []bool{false, true} {
		t.Run(fmt.Sprintf("AddSource=%v", addSource), func(t *testing.T) {
			var capture *Capture
			slogtest.Run(t,
				func(t *testing.T) slog.Handler {
					var c *Client
					c, capture = newSlogClient(t, FilterConfig{})
					return NewHandler(c, &HandlerOptions{AddSource: addSource})
				},
				func(t *testing.T) map[string]any {
					return slogResult(onlyMessage(t, capture))
				})
		})
	}
}

func TestSlogtestHandler(t *testing.T) {
	c, capture := newSlogClient(t, FilterConfig{})
	err := slogtest.TestHandler(NewHandler(c, nil), func() []map[string]any {
		var res []map[string]any
		for _, m := range capture.Messages() {
			res = append(res, slogResult(m))
		}
		return res
	})
	if err != nil {
		t.Error(err)
	}
}

func TestSeverityOfLevel(t *testing.T) {
	e := slog.LevelError
	tests := []struct {
		level slog.Level
		want  int32
	}{
		{slog.Level(math.MinInt), 7},
		{slog.LevelDebug - 4, 7},
		{slog.LevelDebug, 7},
		{slog.LevelInfo - 1, 7},
		{slog.LevelInfo, 6},
		{slog.LevelInfo + 1, 5},
		{slog.LevelWarn - 1, 5},
		{slog.LevelWarn, 4},
		{e - 1, 4},
		{e, 3},
		{e + 3, 3},
		{e + 4, 2},
		{e + 7, 2},
		{e + 8, 1},
		{e + 11, 1},
		{e + 12, 0},
		{e + 100, 0},
		{slog.Level(math.MaxInt), 0},
	}
	for _, tt := range tests {
		t.Run(tt.level.String(), func(t *testing.T) {
			if got := SeverityOfLevel(tt.level); got != tt.want {
				t.Fatalf("SeverityOfLevel(%v) = %d, want %d", tt.level, got, tt.want)
			}
			// The message is sent at that severity.
			c, capture := newSlogClient(t, FilterConfig{})
			l := slog.New(NewHandler(c, &HandlerOptions{Level: slog.Level(math.MinInt)}))
			l.Log(context.Background(), tt.level, "at level")
			if m := onlyMessage(t, capture); m.Severity != tt.want {
				t.Errorf("sent severity %d, want %d", m.Severity, tt.want)
			}
		})
	}
}

func TestHandlerMessage(t *testing.T) {
	c, capture := newSlogClient(t, FilterConfig{})
	h := NewHandler(c, nil)
	when := time.Date(2024, 5, 6, 7, 8, 9, 123456789, time.UTC)
	r := slog.NewRecord(when, slog.LevelWarn, "disk almost full", 0)
	if err := h.Handle(context.Background(), r); err != nil {
		t.Fatal(err)
	}
	m := onlyMessage(t, capture)
	want := &message.Message{
		UUID: m.UUID, Timestamp: when.UnixNano(), Type: "oldstyle", Logger: "slogtest",
		Severity: 4, Payload: "disk almost full", EnvVersion: "0.8", Pid: m.Pid, Hostname: "h",
	}
	if !m.Equal(want) {
		t.Errorf("got  %+v\nwant %+v", m, want)
	}
	if m.UUID == ([16]byte{}) {
		t.Error("no UUID")
	}
}

func TestHandlerZeroTime(t *testing.T) {
	r := slog.NewRecord(time.Time{}, slog.LevelInfo, "no time", 0)
	t.Run("LeaveTimestamp", func(t *testing.T) {
		c, capture := newSlogClient(t, FilterConfig{})
		_ = NewHandler(c, nil).Handle(context.Background(), r)
		if ts := onlyMessage(t, capture).Timestamp; ts != 0 {
			t.Errorf("timestamp %d, want 0", ts)
		}
	})
	t.Run("stamped", func(t *testing.T) {
		capture := NewCapture()
		c, err := New(Config{Output: capture})
		if err != nil {
			t.Fatal(err)
		}
		before := time.Now().UnixNano()
		_ = NewHandler(c, nil).Handle(context.Background(), r)
		after := time.Now().UnixNano()
		if ts := onlyMessage(t, capture).Timestamp; ts < before || ts > after {
			t.Errorf("timestamp %d not in [%d, %d]", ts, before, after)
		}
	})
}

type slogValuer struct{ v slog.Value }

func (v slogValuer) LogValue() slog.Value { return v.v }

type slogStringer struct{}

func (slogStringer) String() string { return "stringer!" }

type slogPoint struct{ X, Y int }

// slogFormatError formats differently from what its Error method says.
type slogFormatError struct{}

func (slogFormatError) Error() string                 { return "from Error" }
func (slogFormatError) Format(f fmt.State, verb rune) { fmt.Fprint(f, "from Format") }

// slogField builds the field a conversion is expected to produce.
func slogField(name string, t message.ValueType, repr string, v any) message.Field {
	f := message.Field{Name: name, Type: t, Representation: repr}
	switch v := v.(type) {
	case string:
		f.Strings = []string{v}
	case int64:
		f.Integers = []int64{v}
	case float64:
		f.Doubles = []float64{v}
	case bool:
		f.Bools = []bool{v}
	}
	return f
}

func TestHandlerAttrs(t *testing.T) {
	when := time.Date(2024, 5, 6, 7, 8, 9, 120000000, time.FixedZone("x", 3600))
	str := func(name, v string) message.Field { return slogField(name, message.String, "", v) }
	integer := func(name string, v int64) message.Field { return slogField(name, message.Integer, "", v) }
	double := func(name string, v float64) message.Field { return slogField(name, message.Double, "", v) }
	boolean := func(name string, v bool) message.Field { return slogField(name, message.Bool, "", v) }
	tests := []struct {
		name  string
		attrs []slog.Attr
		want  []message.Field
	}{
		{"string", []slog.Attr{slog.String("s", "v")}, []message.Field{str("s", "v")}},
		{"empty string", []slog.Attr{slog.String("s", "")}, []message.Field{str("s", "")}},
		{"int", []slog.Attr{slog.Int("i", -42)}, []message.Field{integer("i", -42)}},
		{"int64 min", []slog.Attr{slog.Int64("i", math.MinInt64)}, []message.Field{integer("i", math.MinInt64)}},
		{"uint64 small", []slog.Attr{slog.Uint64("u", 7)}, []message.Field{integer("u", 7)}},
		{"uint64 MaxInt64", []slog.Attr{slog.Uint64("u", math.MaxInt64)}, []message.Field{integer("u", math.MaxInt64)}},
		{"uint64 over MaxInt64", []slog.Attr{slog.Uint64("u", math.MaxInt64+1)}, []message.Field{double("u", 9223372036854775808)}},
		{"uint64 max", []slog.Attr{slog.Uint64("u", math.MaxUint64)}, []message.Field{double("u", 18446744073709551615)}},
		{"float", []slog.Attr{slog.Float64("f", 2.5)}, []message.Field{double("f", 2.5)}},
		{"bool true", []slog.Attr{slog.Bool("b", true)}, []message.Field{boolean("b", true)}},
		{"bool false", []slog.Attr{slog.Bool("b", false)}, []message.Field{boolean("b", false)}},
		{"duration", []slog.Attr{slog.Duration("d", 1500*time.Microsecond)},
			[]message.Field{slogField("d", message.Double, "ms", 1.5)}},
		{"time", []slog.Attr{slog.Time("t", when)}, []message.Field{str("t", "2024-05-06T07:08:09.12+01:00")}},
		{"error", []slog.Attr{slog.Any("err", errors.New("boom"))}, []message.Field{str("err", "boom")}},
		{"wrapped error", []slog.Attr{slog.Any("err", fmt.Errorf("open: %w", errors.New("gone")))},
			[]message.Field{str("err", "open: gone")}},
		{"error with Format", []slog.Attr{slog.Any("err", slogFormatError{})}, []message.Field{str("err", "from Error")}},
		{"stringer", []slog.Attr{slog.Any("s", slogStringer{})}, []message.Field{str("s", "stringer!")}},
		{"struct", []slog.Attr{slog.Any("p", slogPoint{1, 2})}, []message.Field{str("p", "{1 2}")}},
		{"slice", []slog.Attr{slog.Any("l", []int{1, 2, 3})}, []message.Field{str("l", "[1 2 3]")}},
		{"nil", []slog.Attr{slog.Any("n", nil)}, []message.Field{str("n", "<nil>")}},
		{"bytes", []slog.Attr{slog.Any("b", []byte("hi"))}, []message.Field{str("b", "[104 105]")}},
		{"LogValuer", []slog.Attr{slog.Any("v", slogValuer{slog.IntValue(9)})}, []message.Field{integer("v", 9)}},
		{"LogValuer of LogValuer", []slog.Attr{slog.Any("v", slogValuer{slog.AnyValue(slogValuer{slog.StringValue("deep")})})},
			[]message.Field{str("v", "deep")}},
		{"LogValuer group", []slog.Attr{slog.Any("v", slogValuer{slog.GroupValue(slog.Int("a", 1), slog.Bool("b", true))})},
			[]message.Field{integer("v.a", 1), boolean("v.b", true)}},
		{"group", []slog.Attr{slog.Group("g", slog.Int("a", 1), slog.Group("h", slog.String("k", "v")))},
			[]message.Field{integer("g.a", 1), str("g.h.k", "v")}},
		{"group of LogValuers", []slog.Attr{slog.Group("g", slog.Any("a", slogValuer{slog.StringValue("r")}))},
			[]message.Field{str("g.a", "r")}},
		{"inline group", []slog.Attr{slog.Group("", slog.Int("a", 1), slog.Group("", slog.Int("b", 2)))},
			[]message.Field{integer("a", 1), integer("b", 2)}},
		{"inline group in group", []slog.Attr{slog.Group("g", slog.Group("", slog.Int("a", 1)))},
			[]message.Field{integer("g.a", 1)}},
		{"empty group", []slog.Attr{slog.Group("g"), slog.Int("a", 1)}, []message.Field{integer("a", 1)}},
		{"group of empty groups", []slog.Attr{slog.Group("g", slog.Group("h"), slog.Attr{})}, nil},
		{"empty key", []slog.Attr{{}, slog.Int("", 3), slog.Int("a", 1)}, []message.Field{integer("a", 1)}},
		{"many", []slog.Attr{slog.String("a", "x"), slog.Int("b", 1), slog.Float64("c", 0.5), slog.Bool("d", true),
			slog.Duration("e", time.Second), slog.String("f", "y"), slog.Int("g", 2)},
			[]message.Field{str("a", "x"), integer("b", 1), double("c", 0.5), boolean("d", true),
				slogField("e", message.Double, "ms", 1000.0), str("f", "y"), integer("g", 2)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// The same fields whether the attributes come with the record,
			// from WithAttrs, or either of those inside a group.
			for _, path := range []string{"record", "WithAttrs", "group record", "group WithAttrs"} {
				c, capture := newSlogClient(t, FilterConfig{})
				var h slog.Handler = NewHandler(c, nil)
				prefix := ""
				if strings.HasPrefix(path, "group") {
					h, prefix = h.WithGroup("outer").WithGroup("in"), "outer.in."
				}
				r := slog.NewRecord(time.Time{}, slog.LevelInfo, "attrs", 0)
				if strings.HasSuffix(path, "WithAttrs") {
					h = h.WithAttrs(tt.attrs)
				} else {
					r.AddAttrs(tt.attrs...)
				}
				if err := h.Handle(context.Background(), r); err != nil {
					t.Fatal(err)
				}
				got := onlyMessage(t, capture).Fields
				if len(got) != len(tt.want) {
					t.Fatalf("%s: got %d fields %+v, want %+v", path, len(got), got, tt.want)
				}
				for i := range tt.want {
					want := tt.want[i]
					want.Name = prefix + want.Name
					if !got[i].Equal(&want) {
						t.Errorf("%s: field %d\n got  %+v\n want %+v", path, i, got[i], want)
					}
				}
			}
		})
	}
}

// TestHandlerScratchStrings logs strings formatted into the message
// buffer (times, group names, any values) with enough of them to move the
// buffer, and checks none is overwritten.
func TestHandlerScratchStrings(t *testing.T) {
	c, capture := newSlogClient(t, FilterConfig{})
	l := slog.New(NewHandler(c, nil))
	var args []any
	want := map[string]string{}
	for i := range 40 {
		name := fmt.Sprintf("k%02d", i)
		long := strings.Repeat(string(rune('a'+i%26)), i*7)
		args = append(args, slog.Group("grp"+name, slog.Any("p", slogPoint{i, i}), slog.String("s", long),
			slog.Time("t", time.Unix(int64(i), 0).UTC())))
		want["grp"+name+".p"] = fmt.Sprint(slogPoint{i, i})
		want["grp"+name+".s"] = long
		want["grp"+name+".t"] = time.Unix(int64(i), 0).UTC().Format(time.RFC3339Nano)
	}
	for range 3 { // reuse the pooled buffer
		capture.Reset()
		l.Info("many", args...)
		m := onlyMessage(t, capture)
		if len(m.Fields) != len(want) {
			t.Fatalf("got %d fields, want %d", len(m.Fields), len(want))
		}
		for _, f := range m.Fields {
			if got, _ := m.GetString(f.Name); got != want[f.Name] {
				t.Errorf("%s = %q, want %q", f.Name, got, want[f.Name])
			}
		}
	}
}

func TestHandlerAddSource(t *testing.T) {
	c, capture := newSlogClient(t, FilterConfig{})
	l := slog.New(NewHandler(c, &HandlerOptions{AddSource: true}))
	_, file, line, _ := runtime.Caller(0)
	l.Info("here") // must stay on the line after runtime.Caller
	m := onlyMessage(t, capture)
	want := []message.Field{
		message.NewString("source.function", "github.com/metlog/metlog/client.TestHandlerAddSource"),
		message.NewString("source.file", file),
		message.NewInt("source.line", int64(line+1)),
	}
	if len(m.Fields) != len(want) {
		t.Fatalf("got fields %+v, want %+v", m.Fields, want)
	}
	for i := range want {
		if !m.Fields[i].Equal(&want[i]) {
			t.Errorf("field %d: got %+v, want %+v", i, m.Fields[i], want[i])
		}
	}

	// Groups do not apply to the source; without a PC there is none.
	capture.Reset()
	h := NewHandler(c, &HandlerOptions{AddSource: true}).WithGroup("g")
	r := slog.NewRecord(time.Time{}, slog.LevelInfo, "no pc", 0)
	r.AddAttrs(slog.Int("a", 1))
	_ = h.Handle(context.Background(), r)
	if fs := onlyMessage(t, capture).Fields; len(fs) != 1 || fs[0].Name != "g.a" {
		t.Errorf("without a PC got fields %+v, want only g.a", fs)
	}

	// Without AddSource, no source.
	capture.Reset()
	slog.New(NewHandler(c, nil)).Info("here")
	if fs := onlyMessage(t, capture).Fields; len(fs) != 0 {
		t.Errorf("without AddSource got fields %+v", fs)
	}
}

// fieldNames lists the names of m's fields, in order.
func fieldNames(m *message.Message) []string {
	names := []string{}
	for _, f := range m.Fields {
		names = append(names, f.Name)
	}
	return names
}

func TestHandlerWithImmutable(t *testing.T) {
	c, capture := newSlogClient(t, FilterConfig{})
	base := NewHandler(c, nil)
	withA := base.WithAttrs([]slog.Attr{slog.Int("a", 1)})
	withAB := withA.WithAttrs([]slog.Attr{slog.Int("b", 2)})
	withAC := withA.WithAttrs([]slog.Attr{slog.Int("c", 3)}) // must not overwrite b
	grouped := withA.WithGroup("g")
	groupedD := grouped.WithAttrs([]slog.Attr{slog.Int("d", 4)})
	groupedH := groupedD.WithGroup("h")
	withABC := base.WithAttrs([]slog.Attr{slog.Int("a", 1), slog.Int("b", 2), slog.Int("c", 3)})
	withABCD := withABC.WithAttrs([]slog.Attr{slog.Int("d", 4)})
	withABCE := withABC.WithAttrs([]slog.Attr{slog.Int("e", 5)}) // must not overwrite d
	tests := []struct {
		name string
		h    slog.Handler
		want []string
	}{
		{"base", base, []string{"x"}},
		{"withA", withA, []string{"a", "x"}},
		{"withAB", withAB, []string{"a", "b", "x"}},
		{"withAC", withAC, []string{"a", "c", "x"}},
		{"grouped", grouped, []string{"a", "g.x"}},
		{"groupedD", groupedD, []string{"a", "g.d", "g.x"}},
		{"groupedH", groupedH, []string{"a", "g.d", "g.h.x"}},
		{"withABC", withABC, []string{"a", "b", "c", "x"}},
		{"withABCD", withABCD, []string{"a", "b", "c", "d", "x"}},
		{"withABCE", withABCE, []string{"a", "b", "c", "e", "x"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			capture.Reset()
			slog.New(tt.h).Info("m", "x", true)
			if got := fieldNames(onlyMessage(t, capture)); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("fields %q, want %q", got, tt.want)
			}
		})
	}
	if base.WithGroup("") != slog.Handler(base) {
		t.Error(`WithGroup("") did not return the receiver`)
	}
	if base.WithAttrs(nil) != slog.Handler(base) {
		t.Error("WithAttrs(nil) did not return the receiver")
	}
}

func TestHandlerEnabled(t *testing.T) {
	lv := func(s int32) Level { return LevelOf(s) }
	all := []slog.Level{slog.LevelDebug, slog.LevelInfo, slog.LevelInfo + 2, slog.LevelWarn, slog.LevelError,
		slog.LevelError + 4, slog.LevelError + 8, slog.LevelError + 12}
	tests := []struct {
		name   string
		opts   *HandlerOptions
		filter FilterConfig
		want   []bool // for each of all
	}{
		{"default", nil, FilterConfig{},
			[]bool{false, true, true, true, true, true, true, true}},
		{"debug", &HandlerOptions{Level: slog.LevelDebug}, FilterConfig{},
			[]bool{true, true, true, true, true, true, true, true}},
		{"handler level warn", &HandlerOptions{Level: slog.LevelWarn}, FilterConfig{},
			[]bool{false, false, false, true, true, true, true, true}},
		{"max_severity warning", &HandlerOptions{Level: slog.LevelDebug}, FilterConfig{MaxSeverity: lv(4)},
			[]bool{false, false, false, true, true, true, true, true}},
		{"max_severity notice", &HandlerOptions{Level: slog.LevelDebug}, FilterConfig{MaxSeverity: lv(5)},
			[]bool{false, false, true, true, true, true, true, true}},
		{"max_severity critical", nil, FilterConfig{MaxSeverity: lv(2)},
			[]bool{false, false, false, false, false, true, true, true}},
		{"max_severity emergency", nil, FilterConfig{MaxSeverity: lv(0)},
			[]bool{false, false, false, false, false, false, false, true}},
		{"type_max_severity oldstyle", nil, FilterConfig{TypeMaxSeverity: map[string]Level{"oldstyle": lv(3)}},
			[]bool{false, false, false, false, true, true, true, true}},
		{"type_max_severity other type", nil, FilterConfig{TypeMaxSeverity: map[string]Level{"counter": lv(0)}},
			[]bool{false, true, true, true, true, true, true, true}},
		{"types_deny oldstyle", nil, FilterConfig{TypesDeny: []string{"oldstyle"}},
			[]bool{false, false, false, false, false, false, false, false}},
		{"types_allow others", nil, FilterConfig{TypesAllow: []string{"counter"}},
			[]bool{false, false, false, false, false, false, false, false}},
		{"types_allow oldstyle", nil, FilterConfig{TypesAllow: []string{"oldstyle"}},
			[]bool{false, true, true, true, true, true, true, true}},
	}
	ctx := context.Background()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, capture := newSlogClient(t, tt.filter)
			h := NewHandler(c, tt.opts)
			l := slog.New(h)
			var wantSent []int32
			for i, level := range all {
				if got := h.Enabled(ctx, level); got != tt.want[i] {
					t.Errorf("Enabled(%v) = %v, want %v", level, got, tt.want[i])
				}
				l.Log(ctx, level, "m")
				if tt.want[i] {
					wantSent = append(wantSent, SeverityOfLevel(level))
				}
			}
			var sent []int32
			for _, m := range capture.Messages() {
				sent = append(sent, m.Severity)
			}
			if !reflect.DeepEqual(sent, wantSent) {
				t.Errorf("sent severities %v, want %v", sent, wantSent)
			}
		})
	}

	// Handle, called without asking Enabled, still applies the filters,
	// and counts what they drop.
	c, capture := newSlogClient(t, FilterConfig{MaxSeverity: lv(4)})
	h := NewHandler(c, &HandlerOptions{Level: slog.LevelDebug})
	_ = h.Handle(ctx, slog.NewRecord(time.Now(), slog.LevelInfo, "dropped", 0))
	_ = h.Handle(ctx, slog.NewRecord(time.Now(), slog.LevelError, "kept", 0))
	if m := onlyMessage(t, capture); m.Payload != "kept" {
		t.Errorf("sent %q, want kept", m.Payload)
	}
	if got := c.Stats().Filtered; got != 1 {
		t.Errorf("Filtered = %d, want 1", got)
	}
}

func TestHandlerLevelVar(t *testing.T) {
	c, capture := newSlogClient(t, FilterConfig{})
	var lv slog.LevelVar
	l := slog.New(NewHandler(c, &HandlerOptions{Level: &lv}))
	l.Debug("no")
	lv.Set(slog.LevelDebug)
	l.Debug("yes")
	lv.Set(slog.LevelError)
	l.Warn("no")
	if m := onlyMessage(t, capture); m.Payload != "yes" {
		t.Errorf("sent %q, want yes", m.Payload)
	}
}

func TestHandlerConcurrent(t *testing.T) {
	c, capture := newSlogClient(t, FilterConfig{})
	base := slog.New(NewHandler(c, nil)).With("app", "x")
	const workers, each = 8, 200
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			l := base.WithGroup(fmt.Sprintf("w%d", w)).With("id", w)
			for i := range each {
				l.Info("msg", "i", i)
			}
		})
	}
	wg.Wait()
	msgs := capture.Messages()
	if len(msgs) != workers*each {
		t.Fatalf("got %d messages, want %d", len(msgs), workers*each)
	}
	next := make([]int64, workers) // each worker's messages arrive in order
	for _, m := range msgs {
		if len(m.Fields) != 3 {
			t.Fatalf("fields %+v", m.Fields)
		}
		app, _ := m.GetString("app")
		g, _, _ := strings.Cut(m.Fields[1].Name, ".")
		var w int
		if _, err := fmt.Sscanf(g, "w%d", &w); err != nil || w < 0 || w >= workers {
			t.Fatalf("bad group %q in %+v", g, m.Fields)
		}
		id, _ := m.GetInt(g + ".id")
		i, _ := m.GetInt(g + ".i")
		if app != "x" || id != int64(w) || i != next[w] {
			t.Fatalf("worker %d: got app=%q id=%d i=%d, want x %d %d", w, app, id, i, w, next[w])
		}
		next[w]++
	}
}

// slogDiscardClient returns a client that encodes every message and
// discards it.
func slogDiscardClient(t testing.TB) *Client {
	t.Helper()
	c, err := New(Config{Logger: "bench", Output: discardSender{}})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestHandlerAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector makes sync.Pool allocate")
	}
	c := slogDiscardClient(t)
	filtered, err := New(Config{Output: discardSender{}, Filter: FilterConfig{MaxSeverity: LevelOf(3)}})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	now := time.Now()
	scalars := slog.NewRecord(now, slog.LevelInfo, "five scalars", 0)
	scalars.AddAttrs(slog.String("s", "v"), slog.Int("i", 1), slog.Float64("f", 1.5), slog.Bool("b", true),
		slog.Duration("d", time.Millisecond))
	formatted := slog.NewRecord(now, slog.LevelWarn, "formatted", 0)
	formatted.AddAttrs(slog.Time("t", now), slog.Uint64("u", math.MaxUint64), slog.Int64("i", -1),
		slog.String("s", "v"), slog.Any("e", slogValuer{slog.IntValue(1)}))
	h := NewHandler(c, nil)
	tests := []struct {
		name string
		h    slog.Handler
		r    slog.Record
	}{
		{"scalars", h, scalars},
		{"time, uint64, LogValuer", h, formatted},
		{"WithAttrs", h.WithAttrs([]slog.Attr{slog.String("app", "x"), slog.Any("err", errors.New("e"))}), scalars},
		{"WithGroup", h.WithGroup("g").WithAttrs([]slog.Attr{slog.Int("a", 1)}).WithGroup("h"), scalars},
		{"debug in groups", NewHandler(c, &HandlerOptions{Level: slog.LevelDebug}).WithGroup("g"),
			slog.NewRecord(now, slog.LevelDebug, "debug", 0)},
		{"filtered", NewHandler(filtered, nil).WithGroup("g"), scalars},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			allocs := testing.AllocsPerRun(1000, func() { _ = tt.h.Handle(ctx, tt.r) })
			if allocs != 0 {
				t.Errorf("Handle allocates %v times, want 0", allocs)
			}
		})
	}

	// Through a Logger too.
	l := slog.New(h)
	attrs := []slog.Attr{slog.String("s", "v"), slog.Int("i", 1), slog.Float64("f", 1.5), slog.Bool("b", true),
		slog.Duration("d", time.Millisecond)}
	allocs := testing.AllocsPerRun(1000, func() { l.LogAttrs(ctx, slog.LevelInfo, "m", attrs...) })
	if allocs != 0 {
		t.Errorf("Logger.LogAttrs allocates %v times, want 0", allocs)
	}
}

func BenchmarkSlogHandler(b *testing.B) {
	c := slogDiscardClient(b)
	l := slog.New(NewHandler(c, nil))
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		l.LogAttrs(ctx, slog.LevelInfo, "user logged in",
			slog.String("user", "ana"), slog.Int("attempts", 2), slog.Duration("took", 1500*time.Microsecond))
	}
}

// BenchmarkSlogHandle measures the handler alone, without the Logger's
// work (reading the clock, capturing the caller's PC, building the record).
func BenchmarkSlogHandle(b *testing.B) {
	c := slogDiscardClient(b)
	h := NewHandler(c, nil)
	r := slog.NewRecord(time.Now(), slog.LevelInfo, "user logged in", 0)
	r.AddAttrs(slog.String("user", "ana"), slog.Int("attempts", 2), slog.Duration("took", 1500*time.Microsecond))
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		_ = h.Handle(ctx, r)
	}
}

func BenchmarkSlogHandlerWith(b *testing.B) {
	c := slogDiscardClient(b)
	l := slog.New(NewHandler(c, nil)).With("app", "shop", "version", 3).WithGroup("req")
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		l.LogAttrs(ctx, slog.LevelInfo, "user logged in",
			slog.String("user", "ana"), slog.Int("attempts", 2), slog.Duration("took", 1500*time.Microsecond))
	}
}

// BenchmarkSlogHandlerDisabled measures a record below the handler's level.
func BenchmarkSlogHandlerDisabled(b *testing.B) {
	c := slogDiscardClient(b)
	l := slog.New(NewHandler(c, nil))
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		l.LogAttrs(ctx, slog.LevelDebug, "not logged", slog.String("user", "ana"))
	}
}
