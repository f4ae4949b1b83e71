package matcher

import (
	"bytes"
	"regexp"
	"regexp/syntax"
	"strings"
	"unicode/utf8"
)

// predKind is how a strPred tests a string.
type predKind uint8

const (
	pEq       predKind = iota // s == lit
	pNe                       // s != lit
	pLt                       // s < lit
	pLe                       // s <= lit
	pGt                       // s > lit
	pGe                       // s >= lit
	pPrefix                   // strings.HasPrefix(s, lit): /^lit/
	pSuffix                   // strings.HasSuffix(s, lit): /lit$/
	pContains                 // strings.Contains(s, lit): /lit/
	pSeq                      // seq.match(s) for strings, re.Match(b) for bytes
	pRegexp                   // re.MatchString(s)
)

// strPred is a compiled test of a string: a lexical comparison, or a regex
// match that is done with the strings package when the regex is a literal.
type strPred struct {
	kind  predKind
	neg   bool // !~: the result is inverted
	lit   string
	blit  []byte // lit as bytes, for bytes.Contains
	re    *regexp.Regexp
	seq   *seqMatcher
	regex string // the regex source, for the tests
}

// relPreds maps a relational operator to its predKind.
var relPreds = [...]predKind{opEq: pEq, opNe: pNe, opLt: pLt, opLe: pLe, opGt: pGt, opGe: pGe}

// newRelPred returns the test "s op lit" for a relational op.
func newRelPred(op cmpOp, lit string) strPred {
	return strPred{kind: relPreds[op], lit: lit}
}

// newRegexPred compiles the test "s =~ /src/" (or !~ when neg), turning a
// literal regex into a strings call. The error is RE2's.
func newRegexPred(src string, neg bool) (strPred, error) {
	expanded := expandHelpers(src)
	re, err := regexp.Compile(expanded)
	if err != nil {
		return strPred{}, err
	}
	p := strPred{kind: pRegexp, neg: neg, re: re, regex: expanded}
	if kind, lit, ok := literalRegex(expanded); ok {
		p.kind, p.lit, p.blit, p.re = kind, lit, []byte(lit), nil
	} else if seq, ok := seqRegex(expanded); ok {
		p.kind, p.seq = pSeq, seq
	}
	return p, nil
}

// literalRegex reports whether the regex src matches exactly the strings
// that contain, start with, end with or equal a literal (/lit/, /^lit/,
// /lit$/, /^lit$/), and returns the test that replaces it.
func literalRegex(src string) (predKind, string, bool) {
	re, err := syntax.Parse(src, syntax.Perl)
	if err != nil {
		return 0, "", false
	}
	subs := flatten(re.Simplify(), nil)
	begin, end := false, false
	if len(subs) > 0 && subs[0].Op == syntax.OpBeginText {
		begin, subs = true, subs[1:]
	}
	if len(subs) > 0 && subs[len(subs)-1].Op == syntax.OpEndText {
		end, subs = true, subs[:len(subs)-1]
	}
	var lit strings.Builder
	for _, s := range subs {
		switch {
		case s.Op == syntax.OpEmptyMatch:
		case s.Op == syntax.OpLiteral && s.Flags&syntax.FoldCase == 0:
			for _, r := range s.Rune {
				// RE2 reads an invalid UTF-8 byte of the subject as
				// U+FFFD, which a byte search would not find.
				if r == utf8.RuneError {
					return 0, "", false
				}
				lit.WriteRune(r)
			}
		default:
			return 0, "", false
		}
	}
	switch {
	case begin && end:
		return pEq, lit.String(), true
	case begin:
		return pPrefix, lit.String(), true
	case end:
		return pSuffix, lit.String(), true
	}
	return pContains, lit.String(), true
}

// flatten appends re to subs, or its operands if it is a concatenation,
// recursively.
func flatten(re *syntax.Regexp, subs []*syntax.Regexp) []*syntax.Regexp {
	if re.Op != syntax.OpConcat {
		return append(subs, re)
	}
	for _, s := range re.Sub {
		subs = flatten(s, subs)
	}
	return subs
}

// matchString tests s.
func (p *strPred) matchString(s string) bool {
	switch p.kind {
	case pRegexp:
		return p.re.MatchString(s) != p.neg
	case pSeq:
		return p.seq.match(s) != p.neg
	}
	return p.literalString(s)
}

// literalString tests s for every kind but pRegexp and pSeq.
func (p *strPred) literalString(s string) bool {
	var r bool
	switch p.kind {
	case pEq:
		r = s == p.lit
	case pNe:
		r = s != p.lit
	case pLt:
		r = s < p.lit
	case pLe:
		r = s <= p.lit
	case pGt:
		r = s > p.lit
	case pGe:
		r = s >= p.lit
	case pPrefix:
		r = strings.HasPrefix(s, p.lit)
	case pSuffix:
		r = strings.HasSuffix(s, p.lit)
	case pContains:
		r = strings.Contains(s, p.lit)
	}
	return r != p.neg
}

// matchBytes tests b as a string, without copying it.
func (p *strPred) matchBytes(b []byte) bool {
	if p.kind == pRegexp || p.kind == pSeq {
		return p.re.Match(b) != p.neg
	}
	return p.literalBytes(b)
}

// usesRegexp reports whether p runs the regexp package on bytes.
func (p *strPred) usesRegexp() bool { return p.kind == pRegexp || p.kind == pSeq }

// literalBytes tests b as a string for every kind but pRegexp and pSeq. b
// does not escape, so a caller may pass a buffer on its stack.
func (p *strPred) literalBytes(b []byte) bool {
	var r bool
	switch p.kind {
	case pEq:
		r = string(b) == p.lit
	case pNe:
		r = string(b) != p.lit
	case pLt:
		r = string(b) < p.lit
	case pLe:
		r = string(b) <= p.lit
	case pGt:
		r = string(b) > p.lit
	case pGe:
		r = string(b) >= p.lit
	case pPrefix:
		r = len(b) >= len(p.lit) && string(b[:len(p.lit)]) == p.lit
	case pSuffix:
		r = len(b) >= len(p.lit) && string(b[len(b)-len(p.lit):]) == p.lit
	case pContains:
		r = bytes.Contains(b, p.blit)
	}
	return r != p.neg
}

// Limits of a seqMatcher: bigger classes, such as \p{L}, and longer
// sequences are left to RE2, which is as fast there.
const (
	maxSeqRanges = 8  // rune ranges in a class
	maxSeqElems  = 64 // elements in the sequence
)

// seqElem is one element of a seqMatcher: a literal, or one rune from a
// class.
type seqElem struct {
	lit    string // when not empty, the literal
	ranges []rune // otherwise pairs lo, hi of the runes the element matches
}

// seqMatcher matches a regex that is a sequence of literals and
// single-rune classes (such as /Pay.oad/, /^[0-9a-f]{8}-/, /\d\d:\d\d$/):
// each element consumes a known width at a given position, so a match is
// found without backtracking, trying each start where the first literal
// occurs. It reads runes as RE2 does (an invalid UTF-8 byte is U+FFFD, one
// byte wide), so it gives RE2's results exactly.
type seqMatcher struct {
	begin, end bool // anchored at the start, at the end
	elems      []seqElem
}

// seqRegex returns a seqMatcher for src, if src is such a sequence.
func seqRegex(src string) (*seqMatcher, bool) {
	re, err := syntax.Parse(src, syntax.Perl)
	if err != nil {
		return nil, false
	}
	subs := flatten(re.Simplify(), nil)
	q := &seqMatcher{}
	if len(subs) > 0 && subs[0].Op == syntax.OpBeginText {
		q.begin, subs = true, subs[1:]
	}
	if len(subs) > 0 && subs[len(subs)-1].Op == syntax.OpEndText {
		q.end, subs = true, subs[:len(subs)-1]
	}
	for _, s := range subs {
		var e seqElem
		switch s.Op {
		case syntax.OpEmptyMatch:
			continue
		case syntax.OpLiteral:
			if s.Flags&syntax.FoldCase != 0 {
				return nil, false
			}
			for _, r := range s.Rune {
				if r == utf8.RuneError {
					return nil, false
				}
			}
			e.lit = string(s.Rune)
		case syntax.OpAnyCharNotNL:
			e.ranges = []rune{0, '\n' - 1, '\n' + 1, utf8.MaxRune}
		case syntax.OpAnyChar:
			e.ranges = []rune{0, utf8.MaxRune}
		case syntax.OpCharClass:
			if len(s.Rune) == 0 || len(s.Rune) > 2*maxSeqRanges {
				return nil, false
			}
			e.ranges = s.Rune
		default:
			return nil, false
		}
		if n := len(q.elems); e.lit != "" && n > 0 && q.elems[n-1].lit != "" {
			q.elems[n-1].lit += e.lit
			continue
		}
		q.elems = append(q.elems, e)
	}
	if len(q.elems) == 0 || len(q.elems) > maxSeqElems {
		return nil, false
	}
	return q, true
}

// match reports whether the regex matches s.
func (q *seqMatcher) match(s string) bool {
	if q.begin {
		return q.matchAt(s, 0)
	}
	if first := q.elems[0].lit; first != "" {
		// Only a rune start can begin a match: a literal is valid UTF-8,
		// so strings.Index never finds one inside a rune.
		for i := 0; i <= len(s); {
			j := strings.Index(s[i:], first)
			if j < 0 {
				return false
			}
			if q.matchAt(s, i+j) {
				return true
			}
			i += j + 1
		}
		return false
	}
	for i := 0; i < len(s); {
		if q.matchAt(s, i) {
			return true
		}
		if s[i] < utf8.RuneSelf {
			i++
		} else {
			_, w := utf8.DecodeRuneInString(s[i:])
			i += w
		}
	}
	return false // no element matches the empty rest
}

// matchAt reports whether the sequence matches s from byte i.
func (q *seqMatcher) matchAt(s string, i int) bool {
	for k := range q.elems {
		e := &q.elems[k]
		if e.lit != "" {
			if !strings.HasPrefix(s[i:], e.lit) {
				return false
			}
			i += len(e.lit)
			continue
		}
		if i >= len(s) {
			return false
		}
		r, w := rune(s[i]), 1
		if r >= utf8.RuneSelf {
			r, w = utf8.DecodeRuneInString(s[i:])
		}
		in := false
		for j := 0; j < len(e.ranges); j += 2 {
			if e.ranges[j] <= r && r <= e.ranges[j+1] {
				in = true
				break
			}
		}
		if !in {
			return false
		}
		i += w
	}
	return !q.end || i == len(s)
}

// expandHelpers replaces Heka's regex helpers (%TIMESTAMP%) in src.
func expandHelpers(src string) string {
	if !strings.Contains(src, "%TIMESTAMP%") {
		return src
	}
	return strings.ReplaceAll(src, "%TIMESTAMP%", timestampRegex)
}

// timestampRegex is Heka's %TIMESTAMP% helper: it matches any of the
// layouts of Go's time package, in the named group Timestamp.
var timestampRegex = func() string {
	const (
		sday   = `(?:Sun|Mon|Tue|Wed|Thu|Fri|Sat)`
		day    = `(?:Sunday|Monday|Tuesday|Wednesday|Thursday|Friday|Saturday)`
		smonth = `(?:---|Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)`
	)
	layouts := []string{
		sday + ` ` + smonth + `\s{1,2}\d{1,2} \d{2}:\d{2}:\d{2} \d{4}`,       // ANSIC
		sday + ` ` + smonth + `\s{1,2}\d{1,2} \d{2}:\d{2}:\d{2} \w{3} \d{4}`, // UnixDate
		sday + ` ` + smonth + ` \d{2} \d{2}:\d{2}:\d{2} -\d{4} \d{4}`,        // RubyDate
		sday + ` ` + smonth + ` \d{2} \d{2}:\d{2} \w{3}`,                     // RFC822 (as Heka wrote it)
		`\d{2} ` + smonth + ` \d{2} \d{2}:\d{2} \w{3} -\d{4}`,                // RFC822Z (as Heka wrote it)
		day + ` \d{2}-` + smonth + `-\d{2} \d{2}:\d{2}:\d{2} \w{3}`,          // RFC850
		sday + ` \d{2} ` + smonth + ` \d{4} \d{2}:\d{2}:\d{2} \w{3}`,         // RFC1123
		sday + ` \d{2} ` + smonth + ` \d{4} \d{2}:\d{2}:\d{2} \w{3} -\d{4}`,  // RFC1123Z (as Heka wrote it)
		`\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z\d{2}:\d{2}`,                    // RFC3339
		`\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d+Z\d{2}:\d{2}`,                      // RFC3339Nano
		`\d{1,2}:\d{2}[AP]M`,                               // Kitchen
		smonth + `\s{1,2}\d{1,2} \d{2}:\d{2}:\d{2}`,        // Stamp
		smonth + `\s{1,2}\d{1,2} \d{2}:\d{2}:\d{2}\.\d{3}`, // StampMilli
		smonth + `\s{1,2}\d{1,2} \d{2}:\d{2}:\d{2}\.\d{6}`, // StampMicro
		smonth + `\s{1,2}\d{1,2} \d{2}:\d{2}:\d{2}\.\d{9}`, // StampNano
	}
	for i, l := range layouts {
		layouts[i] = "(?:" + l + ")"
	}
	return "(?P<Timestamp>" + strings.Join(layouts, "|") + ")"
}()
