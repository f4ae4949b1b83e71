package matcher

import (
	"bufio"
	"os"
	"strings"
	"testing"

	"github.com/metlog/metlog/message"
)

// benchMessage is Heka's test message (getTestMessage) with the fields of
// the benchmark specs.
func benchMessage() *message.Message {
	u, _ := message.ParseUUID(hekaUUID)
	m := &message.Message{
		UUID: u, Timestamp: 5123456789, Type: "TEST", Logger: "GoSpec", Severity: 6,
		Payload: "Test Payload", EnvVersion: "0.8", Pid: 9283, Hostname: "example.com",
	}
	m.AddString("foo", "bar")
	m.AddString("bar", "foo")
	m.AddInt("number", 64)
	return m
}

// benchSpecs are the expressions of the benchmark list; each
// matches benchMessage.
var benchSpecs = []struct{ name, expr string }{
	{"TypeAndSeverity", "Type == 'TEST' && Severity == 6"},
	{"RegexPayOad", "Payload =~ /Pay.oad/"},
	{"TwoStringFields", "Fields[foo] == 'bar' && Fields[bar] == 'foo'"},
	{"IntField", "Fields[number] == 64"},
	{"MissingFieldNil", "Fields[missing] == NIL"},
	{"RegexPrefix", "Type =~ /^TEST/"},
	{"RegexSuffix", "Type =~ /TEST$/"},
	{"Or5", "Type == 'a' || Type == 'b' || Type == 'c' || Type == 'd' || Type == 'TEST'"},
	{"UuidEq", "Uuid == '" + hekaUUID + "'"},
}

// extraSpecs are further expressions measured, each matching benchMessage.
var extraSpecs = []struct{ name, expr string }{
	{"TimestampExact", "Timestamp == 5123456789"},
	{"SeverityFloat", "Severity < 6.5"},
	{"FieldsFoo0Alt", "Fields[foo][0][0] =~ /^b/"},
	{"UuidPrefix", "Uuid =~ /^0f8fad5b-/"},
	{"UuidOrder", "Uuid < '8'"},
	{"UuidRegexp", "Uuid =~ /^[0-9a-f]{8}-/"},
	{"Or5Mixed", "Logger == 'a' || Severity == 1 || Fields[foo] == 'x' || Type =~ /^x/ || Payload =~ /Payload$/"},
	{"HekaBench", "Type =~ /TEST/ && Severity == 6"},
	{"NoMatchAnd", "Type == 'x' && Payload =~ /Pay.oad/"},
	{"True", "TRUE"},
}

func BenchmarkMatch(b *testing.B) {
	msg := benchMessage()
	for _, s := range append(benchSpecs, extraSpecs...) {
		m := MustCompile(s.expr)
		want := !strings.HasPrefix(s.name, "NoMatch")
		if m.Match(msg) != want {
			b.Fatalf("%s: Match = %v", s.expr, !want)
		}
		b.Run(s.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				m.Match(msg)
			}
		})
	}
}

func BenchmarkCompile(b *testing.B) {
	for _, s := range []struct{ name, expr string }{
		{"TypeAndSeverity", benchSpecs[0].expr},
		{"Regex", benchSpecs[1].expr},
	} {
		b.Run(s.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := Compile(s.expr); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// TestZeroAllocs checks that Match allocates nothing, for the benchmark
// expressions and for every case of testdata/match.txt.
func TestZeroAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector makes sync.Pool drop items: allocation counts mean nothing")
	}
	type tc struct {
		expr string
		msg  *message.Message
	}
	var cases []tc
	bm := benchMessage()
	for _, s := range append(benchSpecs, extraSpecs...) {
		cases = append(cases, tc{s.expr, bm})
	}
	f, err := os.Open("testdata/match.txt")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var msg *message.Message
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		s := strings.TrimSpace(sc.Text())
		switch {
		case s == "" || strings.HasPrefix(s, "#"):
		case strings.HasPrefix(s, "["):
			msg = testMessages[strings.Trim(s, "[]")]
		default:
			_, expr, _ := strings.Cut(s, " ")
			cases = append(cases, tc{strings.TrimLeft(expr, " "), msg})
		}
	}
	if len(cases) < 300 {
		t.Fatalf("only %d cases", len(cases))
	}
	for _, c := range cases {
		m := MustCompile(c.expr)
		if n := testing.AllocsPerRun(20, func() { m.Match(c.msg) }); n != 0 {
			t.Errorf("%s: %v allocations per Match", c.expr, n)
		}
	}
}
