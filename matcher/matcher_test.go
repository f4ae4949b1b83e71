package matcher

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"math"
	"math/big"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"unicode/utf8"

	"github.com/metlog/metlog/message"
)

var update = flag.Bool("update", false, "rewrite the expected results in testdata/*.txt from the current behaviour")

// hekaUUID is the UUID of the heka test message.
const hekaUUID = "0f8fad5b-d9cb-469f-a165-70867728950e"

// testMessages are the fixed messages the golden cases run against, by the
// name a [section] of testdata/match.txt gives.
var testMessages = map[string]*message.Message{
	"heka":  hekaMessage(),
	"edge":  edgeMessage(),
	"empty": {},
}

// hekaMessage is Heka's test message (getTestMessage and the fields its
// matcher tests add), with the fields of its benchmarks.
func hekaMessage() *message.Message {
	u, _ := message.ParseUUID(hekaUUID)
	m := &message.Message{
		UUID: u, Timestamp: 5123456789, Type: "TEST", Logger: "GoSpec", Severity: 6,
		Payload: "Test Payload", EnvVersion: "0.8", Pid: 9283, Hostname: "example.com",
	}
	m.AddString("foo", "bar")
	m.AddString("bar", "foo")
	m.AddInt("number", 64)
	m.AddBytes("bytes", []byte("data"))
	m.Fields = append(m.Fields, message.NewInt("int", 999, 1024))
	m.AddDouble("double", 99.9)
	m.AddBool("bool", true)
	m.AddString("foo", "alternate")
	m.AddString("Payload", "name=test;type=web;")
	return m
}

// edgeMessage holds the values at the edges: extreme numbers, unicode,
// odd field names, empty and multi-valued fields.
func edgeMessage() *message.Message {
	u, _ := message.ParseUUID("abcdef01-2345-6789-abcd-ef0123456789")
	m := &message.Message{
		UUID: u, Timestamp: 1795566216725984879, Type: "", Logger: "ünïcode/логгер", Severity: 0,
		Payload: "line1\nline2 ✓", EnvVersion: "", Pid: -1, Hostname: "host-01.example.org",
	}
	m.AddDouble("delta", -2.5)
	m.AddInt("big", math.MaxInt64)
	m.AddInt("small", math.MinInt64)
	m.AddInt("neg", -3)
	m.AddDouble("nan", math.NaN())
	m.AddDouble("inf", math.Inf(1))
	m.AddString("user-agent", "Mozilla/5.0 (X11)")
	m.AddInt("cef_meta.syslog_facility", 4)
	m.AddString("ключ", "значение")
	m.AddString("a b", "spaced")
	m.AddString("empty", "")
	m.Fields = append(m.Fields, message.Field{Name: "novalue", Type: message.String})
	m.Fields = append(m.Fields, message.NewString("multi", "x", "y", "z"))
	m.Fields = append(m.Fields, message.NewInt("multi", 10, 20))
	m.AddBool("flag", false)
	m.Fields = append(m.Fields, message.NewBool("flags", true, false))
	m.AddBytes("raw", []byte("\xff\xfebinary/data"))
	// An Integer field that also carries a stray string: only the array of
	// its type counts.
	m.Fields = append(m.Fields, message.Field{Name: "mixed", Type: message.Integer, Integers: []int64{7}, Strings: []string{"seven"}})
	m.AddDouble("f64", 3.0)
	m.AddDouble("pow53", 1<<53)
	m.AddDouble("bigd", 1e300)
	m.AddString("path", "/var/log/app.log")
	m.AddString("quote", `it's "quoted" \ back`)
	m.AddString("bracket[", "b")
	m.AddString("tab", "a\tb")
	m.Fields = append(m.Fields, message.Field{Name: "weird", Type: message.ValueType(9), Strings: []string{"x"}})
	return m
}

// goldenLine is one line of a golden file: a case, or text kept as is.
type goldenLine struct {
	text   string // the line as read, for lines that are not cases
	want   string // the expected result
	expr   string
	lineNo int
}

// TestMatchGolden runs testdata/match.txt: under a [message] header, each
// line "true EXPR" or "false EXPR" is a case. With -update, the results are
// rewritten from what Match returns.
func TestMatchGolden(t *testing.T) {
	const path = "testdata/match.txt"
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	var lines []goldenLine
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		lines = append(lines, goldenLine{text: sc.Text(), lineNo: n})
	}
	f.Close()
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}

	var msg *message.Message
	var msgName string
	cases := 0
	seen := map[string]int{}
	for i := range lines {
		l := &lines[i]
		s := strings.TrimSpace(l.text)
		switch {
		case s == "" || strings.HasPrefix(s, "#"):
			continue
		case strings.HasPrefix(s, "[") && strings.HasSuffix(s, "]"):
			msgName = s[1 : len(s)-1]
			msg = testMessages[msgName]
			if msg == nil {
				t.Fatalf("%s:%d: no test message %q", path, l.lineNo, msgName)
			}
			continue
		}
		want, expr, ok := strings.Cut(s, " ")
		if !ok || (want != "true" && want != "false") || msg == nil {
			t.Fatalf("%s:%d: want [message], or true|false and an expression: %q", path, l.lineNo, l.text)
		}
		expr = strings.TrimLeft(expr, " ")
		l.want, l.expr = want, expr
		key := msgName + "\x00" + expr
		if prev, dup := seen[key]; dup {
			t.Errorf("%s:%d: case repeats line %d", path, l.lineNo, prev)
		}
		seen[key] = l.lineNo
		cases++
		m, err := Compile(expr)
		if err != nil {
			t.Errorf("%s:%d: Compile(%q): %v", path, l.lineNo, expr, err)
			continue
		}
		got := strconv.FormatBool(m.Match(msg))
		if *update {
			l.want = got
			continue
		}
		if got != want {
			t.Errorf("%s:%d: [%s] %s: got %s, want %s", path, l.lineNo, msgName, expr, got, want)
		}
	}
	if cases < 300 {
		t.Errorf("only %d cases in %s", cases, path)
	}
	if *update {
		var b strings.Builder
		for _, l := range lines {
			if l.expr == "" {
				b.WriteString(l.text)
			} else {
				fmt.Fprintf(&b, "%-5s %s", l.want, l.expr)
			}
			b.WriteByte('\n')
		}
		if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// TestErrorsGolden runs testdata/errors.txt: pairs of lines, an expression
// as a Go string literal and the exact error Compile returns for it. With
// -update, the errors are rewritten from what Compile returns.
func TestErrorsGolden(t *testing.T) {
	const path = "testdata/errors.txt"
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(string(data), "\n"), "\n")
	cases := 0
	for i := 0; i < len(lines); i++ {
		s := lines[i]
		if s == "" || strings.HasPrefix(s, "#") {
			continue
		}
		expr, err := strconv.Unquote(s)
		if err != nil || i+1 >= len(lines) {
			t.Fatalf("%s:%d: want a quoted expression followed by its error: %q", path, i+1, s)
		}
		cases++
		want := lines[i+1]
		_, cerr := Compile(expr)
		var got string
		if cerr == nil {
			got = "<compiles>"
		} else {
			got = cerr.Error()
			var se *SyntaxError
			if !errors.As(cerr, &se) {
				t.Errorf("%s:%d: %s: error is %T, not *SyntaxError", path, i+1, s, cerr)
			} else {
				checkSyntaxError(t, expr, se)
			}
		}
		if *update {
			lines[i+1] = got
		} else if got != want {
			t.Errorf("%s:%d: Compile(%s):\n got %s\nwant %s", path, i+1, s, got, want)
		}
		i++
	}
	if cases < 80 {
		t.Errorf("only %d cases in %s", cases, path)
	}
	if *update {
		if err := os.WriteFile(path, []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// checkSyntaxError checks the invariants of every *SyntaxError.
func checkSyntaxError(t *testing.T, expr string, se *SyntaxError) {
	t.Helper()
	if se.Expr != expr {
		t.Errorf("Compile(%q): SyntaxError.Expr = %q", expr, se.Expr)
	}
	if n := utf8.RuneCountInString(expr); se.Column < 1 || se.Column > n+1 {
		t.Errorf("Compile(%q): column %d outside 1..%d", expr, se.Column, n+1)
	}
	if !strings.HasPrefix(se.Error(), "matcher: column "+strconv.Itoa(se.Column)+": ") {
		t.Errorf("Compile(%q): error %q does not start with its column %d", expr, se.Error(), se.Column)
	}
	if se.Msg == "" {
		t.Errorf("Compile(%q): empty message", expr)
	}
	caret := se.Caret()
	first, second, ok := strings.Cut(caret, "\n")
	if !ok || !strings.HasSuffix(second, "^") || strings.Count(second, "^") != 1 ||
		utf8.RuneCountInString(second) > utf8.RuneCountInString(first)+1 {
		t.Errorf("Compile(%q): bad caret rendering:\n%s", expr, caret)
	}
}

func TestCaret(t *testing.T) {
	tests := []struct {
		expr string
		want string
	}{
		{"Type == 'a' Type == 'b'", "Type == 'a' Type == 'b'\n            ^"},
		{"Severity ==", "Severity ==\n           ^"},
		{"Fields[ключ] == ", "Fields[ключ] == \n                ^"},
		{"Type == 'a'\n\t&& Pid", "Type == 'a'  && Pid\n                   ^"},
		{"", "\n^"},
		{"Type == 'x' && " + strings.Repeat("Severity == 1 && ", 10) + "Bogus == 1 && " + strings.Repeat("Pid == 1 && ", 10) + "TRUE",
			"...& Severity == 1 && Severity == 1 && Bogus == 1 && Pid == 1 && Pid == 1 &...\n" +
				"                                       ^"},
	}
	for _, tt := range tests {
		_, err := Compile(tt.expr)
		var se *SyntaxError
		if !errors.As(err, &se) {
			t.Fatalf("Compile(%q) = %v, want a *SyntaxError", tt.expr, err)
		}
		if got := se.Caret(); got != tt.want {
			t.Errorf("Compile(%q).Caret():\n%s\nwant:\n%s", tt.expr, got, tt.want)
		}
	}
}

func TestString(t *testing.T) {
	for _, expr := range []string{"TRUE", " Type == 'x' ", "Fields[a] == NIL || FALSE", "(Pid > 1)"} {
		if got := MustCompile(expr).String(); got != expr {
			t.Errorf("MustCompile(%q).String() = %q", expr, got)
		}
	}
}

func TestMustCompilePanics(t *testing.T) {
	defer func() {
		r := recover()
		if _, ok := r.(*SyntaxError); !ok {
			t.Errorf("MustCompile of a bad expression panicked with %#v, want a *SyntaxError", r)
		}
	}()
	MustCompile("Type ==")
}

// Fault 1: Heka accepted juxtaposed expressions and silently used only the
// last (or some) of them.
func TestJuxtaposedExpressionsAreErrors(t *testing.T) {
	tests := []struct {
		expr string
		col  int
	}{
		{"Type == 'a' Type == 'b'", 13},
		{"TRUE FALSE", 6},
		{"(TRUE) (FALSE)", 8},
		{"(Type == 'a' Severity == 1)", 14},
		{"Severity == 6 7", 15},
		{"Fields[a] == NIL Fields[b] == NIL", 18},
	}
	for _, tt := range tests {
		_, err := Compile(tt.expr)
		var se *SyntaxError
		if !errors.As(err, &se) || se.Column != tt.col {
			t.Errorf("Compile(%q) = %v, want a syntax error at column %d", tt.expr, err, tt.col)
		}
	}
}

// Fault 2: Heka's lexer did not accept a minus sign.
func TestNegativeNumbers(t *testing.T) {
	msg := edgeMessage() // Pid -1, delta -2.5, neg -3
	for expr, want := range map[string]bool{
		"Severity > -1":                         true,
		"Pid == -1":                             true,
		"Pid < -0.5":                            true,
		"Pid > -1.5":                            true,
		"Fields[delta] == -2.5":                 true,
		"Fields[delta] < -2":                    true,
		"Fields[delta] > -2.5e0":                false,
		"Fields[neg] == -3":                     true,
		"Fields[neg] >= -3.0":                   true,
		"Fields[neg] < -3":                      false,
		"Fields[small] == -9223372036854775808": true,
		"Pid==-1&&Severity>-1":                  true,
	} {
		if got := MustCompile(expr).Match(msg); got != want {
			t.Errorf("%s: got %v, want %v", expr, got, want)
		}
	}
}

// Fault 3: Heka compared numbers as float64, so nanosecond timestamps that
// differ in their last digits compared equal.
func TestExactInt64(t *testing.T) {
	const ts = 1795566216725984879
	if float64(ts) != float64(ts+1) {
		t.Fatal("the test needs neighbours that float64 cannot tell apart")
	}
	msg := &message.Message{Timestamp: ts}
	msg.AddInt("ts", ts)
	msg.AddDouble("pow53", 1<<53)
	tests := []struct {
		expr string
		want bool
	}{
		{"Timestamp == 1795566216725984879", true},
		{"Timestamp == 1795566216725984880", false},
		{"Timestamp == 1795566216725984878", false},
		{"Timestamp != 1795566216725984880", true},
		{"Timestamp < 1795566216725984880", true},
		{"Timestamp > 1795566216725984878", true},
		{"Timestamp >= 1795566216725984880", false},
		{"Timestamp <= 1795566216725984878", false},
		{"Fields[ts] == 1795566216725984879", true},
		{"Fields[ts] == 1795566216725984880", false},
		{"Fields[ts] < 1795566216725984880", true},
		// A float literal is compared exactly too: 1.795566216725984879e18
		// is the float64 1795566216725984768.
		{"Timestamp == 1.795566216725984879e18", false},
		{"Timestamp > 1.795566216725984879e18", true},
		{"Fields[ts] > 1.795566216725984879e18", true},
		// A Double field against an integer literal: 2^53+1 is not 2^53.
		{"Fields[pow53] == 9007199254740993", false},
		{"Fields[pow53] < 9007199254740993", true},
		{"Fields[pow53] == 9007199254740992", true},
		{"Timestamp < 9.3e18", true},
		{"Timestamp > -9.3e18", true},
		{"Timestamp == 9223372036854775807", false},
		{"Timestamp < 9223372036854775807", true},
	}
	for _, tt := range tests {
		if got := MustCompile(tt.expr).Match(msg); got != tt.want {
			t.Errorf("%s: got %v, want %v", tt.expr, got, tt.want)
		}
	}
	if _, err := Compile("Timestamp == 9223372036854775808"); err == nil {
		t.Error("an integer literal beyond int64 compiled")
	}
}

// TestNumberSemantics checks the int64/float64 comparisons against exact
// rational arithmetic on many values.
func TestNumberSemantics(t *testing.T) {
	ints := []int64{math.MinInt64, math.MinInt64 + 1, -1 << 53, -1<<53 - 1, -3, -1, 0, 1, 2, 3, 4,
		1 << 53, 1<<53 + 1, 1<<62 + 1, math.MaxInt64 - 1, math.MaxInt64}
	floats := []float64{math.Inf(-1), -0x1p63, -0x1p63 * 1.5, -2.5, -1, -0.5, 0, 0.5, 1, 2.5, 3, 3.5,
		0x1p53, 0x1p53 + 2, 0x1p62, 0x1p63, 0x1p64, math.Inf(1), math.NaN(), math.Copysign(0, -1)}
	ops := []cmpOp{opEq, opNe, opLt, opLe, opGt, opGe}
	for _, v := range ints {
		for _, f := range floats {
			c, ok := compareFloatInt(f, v)
			want, wantOK := bigCompare(f, v)
			if c != want || ok != wantOK {
				t.Errorf("compareFloatInt(%v, %d) = %d, %v; want %d, %v", f, v, c, ok, want, wantOK)
			}
			if math.IsNaN(f) || math.IsInf(f, 0) {
				continue
			}
			for _, op := range ops {
				// int v op float literal f, exactly.
				got := newIntTest(op, floatLit(f)).test(v)
				if exp := opResult(op, -want); got != exp {
					t.Errorf("%d %s %v: got %v, want %v", v, op, f, got, exp)
				}
				// float value f op int literal v.
				got = floatTest{op: op, lit: intLit(v)}.test(f)
				if exp := opResult(op, want); got != exp {
					t.Errorf("%v %s %d: got %v, want %v", f, op, v, got, exp)
				}
			}
		}
	}
	for _, op := range ops {
		if got := (floatTest{op: op, lit: intLit(1)}).test(math.NaN()); got != (op == opNe) {
			t.Errorf("NaN %s 1 = %v", op, got)
		}
	}
}

// bigCompare compares f and v with exact arithmetic.
func bigCompare(f float64, v int64) (int, bool) {
	if math.IsNaN(f) {
		return 0, false
	}
	if math.IsInf(f, 0) {
		if f > 0 {
			return 1, true
		}
		return -1, true
	}
	return big.NewFloat(f).Cmp(new(big.Float).SetInt64(v)), true
}

func opResult(op cmpOp, c int) bool {
	switch op {
	case opEq:
		return c == 0
	case opNe:
		return c != 0
	case opLt:
		return c < 0
	case opLe:
		return c <= 0
	case opGt:
		return c > 0
	case opGe:
		return c >= 0
	}
	panic("bad op")
}

func TestConcurrentUse(t *testing.T) {
	m := MustCompile("Uuid =~ /^[0-9a-f]{8}-/ && (Type == 'TEST' || Fields[foo] =~ /b.r/) && Severity <= 6")
	msg := hekaMessage()
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 1000 {
				if !m.Match(msg) {
					t.Error("no match")
					return
				}
			}
		})
	}
	wg.Wait()
}

func TestDepthAndLengthLimits(t *testing.T) {
	deep := strings.Repeat("(", MaxDepth) + "TRUE" + strings.Repeat(")", MaxDepth)
	if _, err := Compile(deep); err != nil {
		t.Errorf("nesting of %d: %v", MaxDepth, err)
	}
	tooDeep := strings.Repeat("(", MaxDepth+1) + "TRUE" + strings.Repeat(")", MaxDepth+1)
	_, err := Compile(tooDeep)
	var se *SyntaxError
	if !errors.As(err, &se) || se.Column != MaxDepth+1 || se.Msg != "parentheses nest deeper than 100" {
		t.Errorf("nesting of %d: %v", MaxDepth+1, err)
	}
	// A million open parentheses fail fast, without deep recursion.
	if _, err := Compile(strings.Repeat("(", 1<<20)); err == nil {
		t.Error("a million parentheses compiled")
	}
	long := "Type == '" + strings.Repeat("x", MaxLength) + "'"
	_, err = Compile(long)
	if !errors.As(err, &se) || se.Column != MaxLength+1 ||
		se.Msg != fmt.Sprintf("the expression is %d bytes long; the limit is %d", len(long), MaxLength) {
		t.Errorf("long expression: %v", err)
	}
	// A long chain at the limit compiles: && and || do not recurse.
	chain := strings.TrimSuffix(strings.Repeat("Pid == 1 || ", MaxLength/12), " || ")
	if _, err := Compile(chain); err != nil {
		t.Errorf("long chain: %v", err)
	}
}

func TestConstantFolding(t *testing.T) {
	tests := []struct {
		expr string
		want node
	}{
		{"TRUE", constNode(true)},
		{"FALSE", constNode(false)},
		{"TRUE && FALSE", constNode(false)},
		{"FALSE || TRUE", constNode(true)},
		{"Type == 'a' || TRUE", constNode(true)},
		{"Type == 'a' && FALSE", constNode(false)},
		{"Severity == 1.5", constNode(false)},
		{"Severity != 1.5", constNode(true)},
		{"Timestamp < 1e19", constNode(true)},
		{"Timestamp < -9223372036854775808", constNode(false)},
		{"Timestamp > 9223372036854775807", constNode(false)},
		{"Timestamp >= -9223372036854775808", constNode(true)},
		{"(TRUE && (FALSE || TRUE)) && TRUE", constNode(true)},
	}
	for _, tt := range tests {
		if got := MustCompile(tt.expr).root; got != tt.want {
			t.Errorf("%s: compiled to %#v, want %#v", tt.expr, got, tt.want)
		}
	}
	if n, ok := MustCompile("TRUE && Type == 'a'").root.(*strHeaderEq); !ok || n.lit != "a" {
		t.Errorf("TRUE && x did not fold to x")
	}
	root := MustCompile("Type == 'a' || Type == 'b' || (Type == 'c' || Logger == 'x') || Type == 'd'").root
	if n, ok := root.(*or2); !ok {
		t.Errorf("|| of Type == tests not merged: %#v", root)
	} else if in, ok := n.a.(*strHeaderIn); !ok || strings.Join(in.lits, ",") != "a,b,c,d" {
		t.Errorf("|| of Type == tests merged to %#v", n.a)
	}
}
