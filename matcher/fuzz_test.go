package matcher

import (
	"errors"
	"math"
	"math/big"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/metlog/metlog/message"
)

// fuzzMessages are the messages every expression FuzzCompile compiles is
// matched against.
var fuzzMessages = []*message.Message{hekaMessage(), edgeMessage(), {}, benchMessage()}

// FuzzCompile checks that Compile never panics or hangs; that an error is
// a *SyntaxError with a column inside the expression; and that a compiled
// expression keeps its text, never panics in Match, and gives the same
// results in parentheses and joined with TRUE or FALSE.
func FuzzCompile(f *testing.F) {
	for _, s := range append(benchSpecs, extraSpecs...) {
		f.Add(s.expr)
	}
	f.Add("Type == 'a' Type == 'b'")
	f.Add("Fields[a b][1][2] != NIL && (Severity < -1.5e3 || Uuid =~ /^ab/)")
	f.Fuzz(func(t *testing.T, expr string) {
		m, err := Compile(expr)
		if err != nil {
			var se *SyntaxError
			if !errors.As(err, &se) {
				t.Fatalf("Compile(%q) returned %T: %v", expr, err, err)
			}
			checkSyntaxError(t, expr, se)
			return
		}
		if m.String() != expr {
			t.Fatalf("Compile(%q).String() = %q", expr, m.String())
		}
		var variants []*Matcher
		if len(expr) < MaxLength-20 {
			for _, v := range []string{"(" + expr + ")", "TRUE && (" + expr + ")", "(" + expr + ") || FALSE"} {
				vm, err := Compile(v)
				if err != nil {
					if strings.Contains(err.Error(), "nest deeper") {
						continue
					}
					t.Fatalf("%q compiles but %q does not: %v", expr, v, err)
				}
				variants = append(variants, vm)
			}
		}
		for _, msg := range fuzzMessages {
			got := m.Match(msg)
			for _, vm := range variants {
				if vm.Match(msg) != got {
					t.Fatalf("%q: %v, but %q: %v", expr, got, vm, !got)
				}
			}
		}
	})
}

// fuzzExprs are the expressions FuzzMatch evaluates on random messages.
var fuzzExprs = func() []string {
	exprs := []string{
		"Type == 'TEST' && Severity == 6",
		"Uuid == '0f8fad5b-d9cb-469f-a165-70867728950e'",
		"Uuid < '8' || Uuid >= '0f8fad5b-d9cb-469f-a165-70867728950e'",
		"Uuid =~ /^0f/ || Uuid =~ /0e$/ || Uuid =~ /-a1/ || Uuid =~ /^[0-7]/",
		"Fields[f] == NIL", "Fields[f] != NIL", "Fields[f][1] == NIL", "Fields[f][0][1] != NIL",
		"Fields[f] == TRUE", "Fields[f] != FALSE", "Fields[f][1] == 'x'",
		"Fields[f] =~ /^a/ || Fields[f] =~ /b$/ || Fields[f] =~ /c/ || Fields[f] =~ /a.c/ || Fields[f] =~ /(?i)x+y/",
		"Timestamp == 1795566216725984879 || Timestamp < -1.5 || Timestamp >= 1e18",
		"Pid != -1 && Severity <= 3.5",
	}
	for _, s := range benchSpecs {
		exprs = append(exprs, s.expr)
	}
	return exprs
}()

// fuzzRegexes are checked against RE2 on the fuzzed Payload.
var fuzzRegexes = []string{``, `^`, `$`, `a`, `^a`, `a$`, `^a$`, `ab`, `Pay.oad`, `^.b`, `a.$`, `[ab]c`,
	`\d\d`, `^[0-9a-f]{2}-`, `é.`, `(?s)a.b`, `\x{FFFD}`, `.`, `^.$`, `a.b.c`, `[^a]$`}

// fuzzNumbers are the literals compared with the fuzzed numbers.
var fuzzNumbers = []string{"0", "-1", "1", "0.5", "-0.5", "1795566216725984879", "1.795566216725984879e18",
	"9223372036854775807", "-9223372036854775808", "9.3e18", "-9.3e18", "9007199254740993", "1e300"}

// FuzzMatch matches fixed expressions against random messages: Match
// never panics, the string tests agree with RE2, and the number tests
// agree with exact arithmetic.
func FuzzMatch(f *testing.F) {
	f.Add("TEST", "Test Payload", int32(6), int64(5123456789), []byte("0123456789abcdef"), "x", int64(64), 99.9, true, []byte("data"))
	f.Add("", "\xff\xfe", int32(-1), int64(math.MinInt64), []byte{}, "", int64(math.MaxInt64), math.NaN(), false, []byte(nil))
	matchers := make([]*Matcher, len(fuzzExprs))
	for i, e := range fuzzExprs {
		matchers[i] = MustCompile(e)
	}
	var regexes []*regexp.Regexp
	var payloadRe, fieldRe []*Matcher
	for _, src := range fuzzRegexes {
		regexes = append(regexes, regexp.MustCompile(src))
		payloadRe = append(payloadRe, MustCompile("Payload =~ /"+src+"/"))
		fieldRe = append(fieldRe, MustCompile("Fields[b] =~ /"+src+"/"))
	}
	ops := []string{"==", "!=", "<", "<=", ">", ">="}
	var intNum, dblNum []*Matcher
	var lits []*big.Float
	for _, n := range fuzzNumbers {
		// The value of the literal: an exact int64, or a float64.
		var lit *big.Float
		if k, err := strconv.ParseInt(n, 10, 64); err == nil {
			lit = new(big.Float).SetInt64(k)
		} else if x, err := strconv.ParseFloat(n, 64); err == nil {
			lit = big.NewFloat(x)
		} else {
			f.Fatal(err)
		}
		for _, op := range ops {
			intNum = append(intNum, MustCompile("Fields[i] "+op+" "+n))
			dblNum = append(dblNum, MustCompile("Fields[d] "+op+" "+n))
			lits = append(lits, lit)
		}
	}
	f.Fuzz(func(t *testing.T, typ, payload string, sev int32, ts int64, uuid []byte, s string, i int64, d float64, b bool, raw []byte) {
		msg := &message.Message{Type: typ, Payload: payload, Severity: sev, Timestamp: ts, Pid: sev}
		copy(msg.UUID[:], uuid)
		// Fields named f of every type, in an order the inputs choose, so
		// that tests meet every type.
		fields := []message.Field{message.NewString("f", s), message.NewInt("f", i), message.NewDouble("f", d),
			message.NewBool("f", b), message.NewBytes("f", raw), {Name: "f", Type: message.String}}
		for k := range fields {
			j := int(uint64(i+int64(k)) % uint64(len(fields)))
			fields[k], fields[j] = fields[j], fields[k]
		}
		msg.Fields = append(fields, message.NewInt("i", i), message.NewDouble("d", d), message.NewBytes("b", raw))
		for _, m := range matchers {
			m.Match(msg)
		}
		for k, re := range regexes {
			if got, want := payloadRe[k].Match(msg), re.MatchString(payload); got != want {
				t.Errorf("%s on %q: %v, RE2 says %v", payloadRe[k], payload, got, want)
			}
			if got, want := fieldRe[k].Match(msg), re.Match(raw); got != want {
				t.Errorf("%s on %q: %v, RE2 says %v", fieldRe[k], raw, got, want)
			}
		}
		iv := new(big.Float).SetInt64(i)
		for k, m := range intNum {
			op := ops[k%len(ops)]
			if got, want := m.Match(msg), exactCompare(iv, op, lits[k]); got != want {
				t.Errorf("%s with %d: %v, want %v", m, i, got, want)
			}
		}
		if !math.IsNaN(d) {
			dv := big.NewFloat(d) // ±Inf included
			for k, m := range dblNum {
				op := ops[k%len(ops)]
				if got, want := m.Match(msg), exactCompare(dv, op, lits[k]); got != want {
					t.Errorf("%s with %v: %v, want %v", m, d, got, want)
				}
			}
		}
	})
}

func exactCompare(v *big.Float, op string, lit *big.Float) bool {
	c := v.Cmp(lit)
	switch op {
	case "==":
		return c == 0
	case "!=":
		return c != 0
	case "<":
		return c < 0
	case "<=":
		return c <= 0
	case ">":
		return c > 0
	}
	return c >= 0
}
