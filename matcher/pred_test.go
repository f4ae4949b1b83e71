package matcher

import (
	"math/rand/v2"
	"regexp"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/metlog/metlog/message"
)

// pieces are the building blocks of the random literals and subjects of
// the property tests: ASCII, regex metacharacters, multi-byte runes,
// U+FFFD, and bytes that are not UTF-8.
var pieces = []string{"a", "b", "ab", "A", ".", "*", "\\", "/", "$", "^", "(", "[", "é", "ж", "✓", "\n", " ",
	"\uFFFD", "\xff", "\xe2\x82", "\xe2", "0", "-"}

func randomString(r *rand.Rand, maxPieces int) string {
	var b strings.Builder
	for range r.IntN(maxPieces + 1) {
		b.WriteString(pieces[r.IntN(len(pieces))])
	}
	return b.String()
}

// TestLiteralRegexProperty checks that the regexes compiled to strings
// calls give exactly the results of RE2 on many subjects, for =~ and !~,
// on strings and on bytes.
func TestLiteralRegexProperty(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	var srcs []string
	literal := map[string]bool{} // the regexes that must be optimised
	// Literal regexes, with every anchoring.
	for range 400 {
		lit := randomString(r, 4)
		if !utf8.ValidString(lit) {
			continue // RE2 rejects such a regex
		}
		q := regexp.QuoteMeta(lit)
		for _, src := range []string{q, "^" + q, q + "$", "^" + q + "$"} {
			srcs = append(srcs, src)
			literal[src] = !strings.ContainsRune(lit, utf8.RuneError)
		}
	}
	// Regexes that look literal, or nearly: some are optimised, some not.
	srcs = append(srcs, ``, `^`, `$`, `^$`, `\A`, `\z`, `\Aab\z`, `(?:ab)`, `(ab)`, `a{2}`, `^a{2}$`,
		`(?s)ab`, `(?i)ab`, `(?i)^ab$`, `(?m)^ab$`, `ab|ab`, `[a]`, `\Qa.b\E`, `\x41`, `\.`, `\/`,
		`a*`, `^^a`, `a$$`, `a^b`, `\bab`, `(?U)ab`, `\x{FFFD}`, `^\x{FFFD}`, "\uFFFD", `.`, `^.$`,
		`(?:)`, `a(?:)b`, `a{0}b`, `\p{L}`, `[^a]`, `é$`, `^ж✓`, `\n`, `^\n$`)

	subjects := []string{"", "a", "ab", "ba", "aab", "abb", "A", "AB", "\xff", "\uFFFD", "\xe2\x82", "\n"}
	n := 400
	if raceEnabled || testing.Short() {
		n = 100 // the race detector makes RE2 30 times slower
	}
	for range n {
		subjects = append(subjects, randomString(r, 6))
	}
	for _, src := range srcs {
		re := regexp.MustCompile(src)
		for _, neg := range []bool{false, true} {
			p, err := newRegexPred(src, neg)
			if err != nil {
				t.Fatalf("newRegexPred(%q): %v", src, err)
			}
			if literal[src] && p.kind == pRegexp {
				t.Errorf("/%s/ is a literal but was not optimised", src)
			}
			for _, s := range subjects {
				want := re.MatchString(s) != neg
				if got := p.matchString(s); got != want {
					t.Errorf("/%s/ (kind %d lit %q neg %v) on %q: matchString = %v, RE2 says %v", src, p.kind, p.lit, neg, s, got, want)
				}
				if got := p.matchBytes([]byte(s)); got != want {
					t.Errorf("/%s/ (kind %d lit %q neg %v) on %q: matchBytes = %v, RE2 says %v", src, p.kind, p.lit, neg, s, got, want)
				}
			}
		}
	}
	if len(literal) < 500 {
		t.Errorf("only %d literal regexes", len(literal))
	}
}

// TestLiteralRegexKinds checks which forms are optimised, and into what.
func TestLiteralRegexKinds(t *testing.T) {
	tests := []struct {
		src  string
		kind predKind
		lit  string
	}{
		{`^TEST`, pPrefix, "TEST"},
		{`TEST$`, pSuffix, "TEST"},
		{`^TEST$`, pEq, "TEST"},
		{`TEST`, pContains, "TEST"},
		{`\.log$`, pSuffix, ".log"},
		{`^\/var\/`, pPrefix, "/var/"},
		{`a\+b`, pContains, "a+b"},
		{`\Aab\z`, pEq, "ab"},
		{``, pContains, ""},
		{`^`, pPrefix, ""},
		{`^$`, pEq, ""},
		{`^ключ`, pPrefix, "ключ"},
		{`Pay.oad`, pSeq, ""},
		{`^[0-9a-f]{8}-`, pSeq, ""},
		{`\d\d:\d\d$`, pSeq, ""},
		{`(?s)a.b`, pSeq, ""},
		{`\p{L}x`, pRegexp, ""},
		{`a+b`, pRegexp, ""},
		{`a?b`, pRegexp, ""},
		{`^a.{63}$`, pSeq, ""},
		{`^a.{64}$`, pRegexp, ""},
		{`(?i)^test`, pRegexp, ""},
		{`(?m)^test`, pRegexp, ""},
		{`^a|b`, pRegexp, ""},
		{`\x{FFFD}`, pRegexp, ""},
		{`(ab)`, pRegexp, ""},
	}
	for _, tt := range tests {
		p, err := newRegexPred(tt.src, false)
		if err != nil {
			t.Fatal(err)
		}
		if p.kind != tt.kind || p.lit != tt.lit {
			t.Errorf("/%s/: kind %d lit %q, want kind %d lit %q", tt.src, p.kind, p.lit, tt.kind, tt.lit)
		}
		if (p.re == nil) != (tt.kind != pRegexp && tt.kind != pSeq) {
			t.Errorf("/%s/: regexp kept = %v", tt.src, p.re != nil)
		}
	}
}

// TestUUIDProperty checks the Uuid tests, which never format the UUID on
// the heap, against comparisons of the formatted string, on random UUIDs.
func TestUUIDProperty(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	var uuids [][16]byte
	for range 200 {
		var u [16]byte
		for i := range u {
			u[i] = byte(r.UintN(256))
			if r.IntN(4) == 0 {
				u[i] = 0 // make common prefixes likely
			}
		}
		uuids = append(uuids, u)
	}
	var literals []string
	for _, u := range uuids[:20] {
		s := message.FormatUUID(u)
		literals = append(literals, s, s[:r.IntN(36)], strings.ToUpper(s))
	}
	literals = append(literals, "", "0", "8", "f", "g", "-", "A", "00000000-", "~")
	ops := []string{"==", "!=", "<", "<=", ">", ">="}
	regexes := []string{`^00`, `00$`, `-00`, `^[0-7]`, `(?i)^A`, `^.{8}-0`, `0{4}`, `^00000000-0000-0000-0000-000000000000$`}
	for _, lit := range literals {
		for _, op := range ops {
			expr := "Uuid " + op + " '" + lit + "'"
			m, err := Compile(expr)
			if err != nil {
				if op == "==" || op == "!=" {
					continue // not a UUID: a compile error, tested elsewhere
				}
				t.Fatalf("%s: %v", expr, err)
			}
			canon := lit
			if u, err := message.ParseUUID(lit); err == nil {
				canon = message.FormatUUID(u)
			}
			for _, u := range uuids {
				s := message.FormatUUID(u)
				want := map[string]bool{"==": s == canon, "!=": s != canon, "<": s < canon,
					"<=": s <= canon, ">": s > canon, ">=": s >= canon}[op]
				if got := m.Match(&message.Message{UUID: u}); got != want {
					t.Errorf("%s on %s: got %v, want %v", expr, s, got, want)
				}
			}
		}
	}
	for _, src := range regexes {
		re := regexp.MustCompile(src)
		for _, op := range []string{"=~", "!~"} {
			m := MustCompile("Uuid " + op + " /" + src + "/")
			for _, u := range uuids {
				s := message.FormatUUID(u)
				want := re.MatchString(s) == (op == "=~")
				if got := m.Match(&message.Message{UUID: u}); got != want {
					t.Errorf("Uuid %s /%s/ on %s: got %v, want %v", op, src, s, got, want)
				}
			}
		}
	}
}

func TestTimestampHelper(t *testing.T) {
	m := MustCompile("Fields[created] =~ /^%TIMESTAMP%$/")
	for s, want := range map[string]bool{
		"Mon Jan  2 15:04:05 2006":     true, // ANSIC
		"Jan  2 15:04:05.000":          true, // StampMilli
		"3:04PM":                       true, // Kitchen
		"Mon Jan  2 15:04:05 MST 2006": true, // UnixDate
		"yesterday":                    false,
	} {
		msg := &message.Message{}
		msg.AddString("created", s)
		if got := m.Match(msg); got != want {
			t.Errorf("%%TIMESTAMP%% on %q: got %v, want %v", s, got, want)
		}
	}
	// Other %NAME% sequences are left to RE2 as they are.
	msg := &message.Message{Payload: "100%DONE%"}
	if !MustCompile("Payload =~ /%DONE%$/").Match(msg) {
		t.Error("%DONE% was not taken literally")
	}
}

// seqPieces build random regexes of the form seqMatcher handles, and some
// it does not.
var seqPieces = []string{"a", "b", "ab", `\.`, ".", "(?s:.)", "[ab]", "[^a]", `\d`, `\w`, `\s`, "[é-ж]", "é", "✓",
	`\n`, `[\x{FFFD}]`, `[^\n]`, "[a-c]{2}", "x?"}

// TestSeqRegexProperty checks that the regexes compiled to a seqMatcher
// give exactly the results of RE2 on many subjects.
func TestSeqRegexProperty(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	subjects := []string{"", "a", "ab", "\xff", "\uFFFD", "\n", "a\nb", "é✓", "\xe2\x82\xac", "\xe2\x82"}
	n := 300
	if raceEnabled || testing.Short() {
		n = 100
	}
	for range n {
		subjects = append(subjects, randomString(r, 8))
	}
	seqs := 0
	for range 600 {
		var b strings.Builder
		if r.IntN(3) == 0 {
			b.WriteString("^")
		}
		for range 1 + r.IntN(4) {
			b.WriteString(seqPieces[r.IntN(len(seqPieces))])
		}
		if r.IntN(3) == 0 {
			b.WriteString("$")
		}
		src := b.String()
		re := regexp.MustCompile(src)
		p, err := newRegexPred(src, false)
		if err != nil {
			t.Fatal(err)
		}
		if p.kind == pSeq {
			seqs++
		}
		for _, s := range subjects {
			want := re.MatchString(s)
			if got := p.matchString(s); got != want {
				t.Errorf("/%s/ (kind %d) on %q: %v, RE2 says %v", src, p.kind, s, got, want)
			}
		}
	}
	if seqs < 300 {
		t.Errorf("only %d of 600 regexes compiled to a seqMatcher", seqs)
	}
}
