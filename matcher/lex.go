package matcher

import (
	"strconv"
	"strings"
	"unicode/utf8"
)

// tokKind is the kind of a token.
type tokKind uint8

const (
	tEOF    tokKind = iota
	tIdent          // a variable name or TRUE, FALSE, NIL
	tField          // Fields[name], with optional indices
	tString         // a quoted string, unescaped
	tNumber         // a number literal
	tRegex          // a /regex/, with \/ unescaped
	tOp             // a comparison operator
	tAnd            // &&
	tOr             // ||
	tLParen         // (
	tRParen         // )
)

// cmpOp is a comparison operator.
type cmpOp uint8

const (
	opEq  cmpOp = iota // ==
	opNe               // !=
	opLt               // <
	opLe               // <=
	opGt               // >
	opGe               // >=
	opRe               // =~
	opNre              // !~
)

var opNames = [...]string{"==", "!=", "<", "<=", ">", ">=", "=~", "!~"}

func (o cmpOp) String() string { return opNames[o] }

// isRegexOp reports whether o is =~ or !~.
func (o cmpOp) isRegexOp() bool { return o == opRe || o == opNre }

// token is one lexical token of an expression.
type token struct {
	kind tokKind
	pos  int    // byte offset of its first byte
	end  int    // byte offset just past its last byte
	text string // identifier, unescaped string, regex source or number text
	op   cmpOp  // for tOp
	num  numLit // for tNumber
	// For tField: the field name and the field and array indices.
	name   string
	fi, ai int
}

// maxIndex is the largest field or array index accepted.
const maxIndex = 1<<31 - 1

// lexer splits an expression into tokens, one at a time.
type lexer struct {
	src string
	pos int
}

func (l *lexer) errAt(off int, msg string) *SyntaxError { return errorAt(l.src, off, msg) }

// next returns the next token.
func (l *lexer) next() (token, *SyntaxError) {
	s := l.src
	for l.pos < len(s) && isSpace(s[l.pos]) {
		l.pos++
	}
	start := l.pos
	if start >= len(s) {
		return token{kind: tEOF, pos: start, end: start}, nil
	}
	c := s[start]
	two := func(kind tokKind, op cmpOp) (token, *SyntaxError) {
		l.pos = start + 2
		return token{kind: kind, op: op, pos: start, end: l.pos}, nil
	}
	one := func(kind tokKind, op cmpOp) (token, *SyntaxError) {
		l.pos = start + 1
		return token{kind: kind, op: op, pos: start, end: l.pos}, nil
	}
	var c1 byte
	if start+1 < len(s) {
		c1 = s[start+1]
	}
	switch {
	case isLetter(c):
		return l.ident()
	case isDigit(c) || c == '.' || c == '-' && (isDigit(c1) || c1 == '.'):
		return l.number()
	case c == '\'' || c == '"':
		return l.str()
	case c == '/':
		return l.regex()
	case c == '(':
		return one(tLParen, 0)
	case c == ')':
		return one(tRParen, 0)
	case c == '=' && c1 == '=':
		return two(tOp, opEq)
	case c == '=' && c1 == '~':
		return two(tOp, opRe)
	case c == '!' && c1 == '=':
		return two(tOp, opNe)
	case c == '!' && c1 == '~':
		return two(tOp, opNre)
	case c == '<' && c1 == '=':
		return two(tOp, opLe)
	case c == '<':
		return one(tOp, opLt)
	case c == '>' && c1 == '=':
		return two(tOp, opGe)
	case c == '>':
		return one(tOp, opGt)
	case c == '&' && c1 == '&':
		return two(tAnd, 0)
	case c == '|' && c1 == '|':
		return two(tOr, 0)
	case c == '=':
		return token{}, l.errAt(start, "unexpected '='; use '==' to compare or '=~' to match a regex")
	case c == '!':
		return token{}, l.errAt(start, "unexpected '!'; did you mean '!=' or '!~'?")
	case c == '&':
		return token{}, l.errAt(start, "unexpected '&'; did you mean '&&'?")
	case c == '|':
		return token{}, l.errAt(start, "unexpected '|'; did you mean '||'?")
	}
	return token{}, l.errAt(start, "unexpected "+describeRuneAt(s, start))
}

// describeRuneAt names the character at s[off] for an error message.
func describeRuneAt(s string, off int) string {
	r, n := utf8.DecodeRuneInString(s[off:])
	if r == utf8.RuneError && n <= 1 {
		return "byte 0x" + strconv.FormatUint(uint64(s[off]), 16) + " (not UTF-8)"
	}
	return "character " + strconv.QuoteRune(r)
}

// ident lexes a variable name or keyword, and for Fields the brackets that
// follow it.
func (l *lexer) ident() (token, *SyntaxError) {
	s, start := l.src, l.pos
	i := start + 1
	for i < len(s) && (isLetter(s[i]) || isDigit(s[i])) {
		i++
	}
	l.pos = i
	name := s[start:i]
	if name != "Fields" {
		return token{kind: tIdent, text: name, pos: start, end: i}, nil
	}
	if i >= len(s) || s[i] != '[' {
		return token{}, l.errAt(i, "expected '[' right after Fields, found "+describeByteAt(s, i))
	}
	// The name runs to the first ']': it may hold any other character.
	j := strings.IndexByte(s[i+1:], ']')
	if j < 0 {
		return token{}, l.errAt(len(s), "expected ']' to end the field name, found end of input")
	}
	if j == 0 {
		return token{}, l.errAt(i+1, "empty field name in Fields[]")
	}
	tok := token{kind: tField, pos: start, name: s[i+1 : i+1+j]}
	i += j + 2
	for n := 0; i < len(s) && s[i] == '['; n++ {
		if n == 2 {
			return token{}, l.errAt(i, "too many indices: Fields[name][field index][array index] takes at most two")
		}
		d := i + 1
		for d < len(s) && isDigit(s[d]) {
			d++
		}
		what, article := "field index", "a "
		if n == 1 {
			what, article = "array index", "an "
		}
		if d == i+1 {
			return token{}, l.errAt(d, "expected "+article+what+" (0, 1, 2 ...) after '[', found "+describeByteAt(s, d))
		}
		v, err := strconv.ParseInt(s[i+1:d], 10, 32)
		if err != nil {
			return token{}, l.errAt(i+1, what+" "+s[i+1:d]+" is too large (the limit is "+strconv.Itoa(maxIndex)+")")
		}
		if d >= len(s) || s[d] != ']' {
			return token{}, l.errAt(d, "expected ']' after the "+what+", found "+describeByteAt(s, d))
		}
		if n == 0 {
			tok.fi = int(v)
		} else {
			tok.ai = int(v)
		}
		i = d + 1
	}
	l.pos = i
	tok.end = i
	return tok, nil
}

// describeByteAt names what is at s[off] for an error message: end of
// input, or the character there.
func describeByteAt(s string, off int) string {
	if off >= len(s) {
		return "end of input"
	}
	return describeRuneAt(s, off)
}

// number lexes a number literal: [-] digits [. digits] [e [+-] digits].
func (l *lexer) number() (token, *SyntaxError) {
	s, start := l.src, l.pos
	i := start
	if s[i] == '-' {
		i++
	}
	mant := 0
	for i < len(s) && isDigit(s[i]) {
		i++
		mant++
	}
	isInt := true
	if i < len(s) && s[i] == '.' {
		isInt = false
		i++
		for i < len(s) && isDigit(s[i]) {
			i++
			mant++
		}
	}
	ok := mant > 0
	if ok && i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		isInt = false
		i++
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			i++
		}
		exp := 0
		for i < len(s) && isDigit(s[i]) {
			i++
			exp++
		}
		ok = exp > 0
	}
	if !ok || i < len(s) && (isLetter(s[i]) || isDigit(s[i]) || s[i] == '.') {
		for i < len(s) && (isLetter(s[i]) || isDigit(s[i]) || s[i] == '.' || s[i] == '+' || s[i] == '-') {
			i++
		}
		return token{}, l.errAt(start, "malformed number "+quoteSnippet(s[start:i]))
	}
	text := s[start:i]
	l.pos = i
	tok := token{kind: tNumber, text: text, pos: start, end: i}
	if isInt {
		v, err := strconv.ParseInt(text, 10, 64)
		if err != nil {
			return token{}, l.errAt(start, "integer "+text+" does not fit in 64 bits")
		}
		tok.num = intLit(v)
		return tok, nil
	}
	f, err := strconv.ParseFloat(text, 64)
	if err != nil {
		return token{}, l.errAt(start, "number "+text+" is out of the range of a 64-bit float")
	}
	tok.num = floatLit(f)
	return tok, nil
}

// str lexes a single- or double-quoted string.
func (l *lexer) str() (token, *SyntaxError) {
	s, start := l.src, l.pos
	q := s[start]
	var b []byte // nil until the first escape
	from := start + 1
	for i := start + 1; i < len(s); {
		c := s[i]
		switch c {
		case q:
			var text string
			if b == nil {
				text = s[from:i]
			} else {
				text = string(append(b, s[from:i]...))
			}
			l.pos = i + 1
			return token{kind: tString, text: text, pos: start, end: l.pos}, nil
		case '\\':
			if i+1 >= len(s) {
				i++
				continue // unterminated
			}
			var e byte
			switch s[i+1] {
			case '\'', '"', '\\':
				e = s[i+1]
			case 'n':
				e = '\n'
			case 't':
				e = '\t'
			case 'r':
				e = '\r'
			default:
				r, _ := utf8.DecodeRuneInString(s[i+1:])
				return token{}, l.errAt(i, `unknown escape '\`+string(r)+`' in string; the escapes are \' \" \\ \n \t \r`)
			}
			b = append(b, s[from:i]...)
			b = append(b, e)
			i += 2
			from = i
		default:
			i++
		}
	}
	return token{}, l.errAt(start, "unterminated string: no closing "+string(q))
}

// regex lexes a /regex/. \/ stands for a slash; every other backslash
// sequence is left for RE2.
func (l *lexer) regex() (token, *SyntaxError) {
	s, start := l.src, l.pos
	var b []byte
	from := start + 1
	for i := start + 1; i < len(s); {
		switch s[i] {
		case '/':
			var text string
			if b == nil {
				text = s[from:i]
			} else {
				text = string(append(b, s[from:i]...))
			}
			l.pos = i + 1
			return token{kind: tRegex, text: text, pos: start, end: l.pos}, nil
		case '\\':
			if i+1 < len(s) && s[i+1] == '/' {
				b = append(b, s[from:i]...)
				b = append(b, '/')
				i += 2
				from = i
				continue
			}
			i += 2 // keep the escape, and never end on an escaped byte
		default:
			i++
		}
	}
	return token{}, l.errAt(start, "unterminated regex: no closing /")
}

func isSpace(c byte) bool  { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }
func isLetter(c byte) bool { return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || c == '_' }
func isDigit(c byte) bool  { return '0' <= c && c <= '9' }

// quoteSnippet quotes s for an error message, cut to 40 runes.
func quoteSnippet(s string) string { return "'" + snippet(s) + "'" }

// snippet cuts s to 40 runes for an error message.
func snippet(s string) string {
	if utf8.RuneCountInString(s) > 40 {
		n := 0
		for i := range s {
			if n == 37 {
				return s[:i] + "..."
			}
			n++
		}
	}
	return s
}
