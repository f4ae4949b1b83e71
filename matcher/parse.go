package matcher

import (
	"errors"
	"regexp/syntax"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/metlog/metlog/message"
)

// parser is a recursive-descent parser that compiles as it goes. It
// recurses only into parentheses, so its depth is bounded by MaxDepth.
type parser struct {
	lex   lexer
	tok   token // the current token, not yet consumed
	prev  token // the token before it
	depth int
}

func (p *parser) advance() *SyntaxError {
	t, err := p.lex.next()
	if err != nil {
		return err
	}
	p.prev, p.tok = p.tok, t
	return nil
}

// unexpected returns the error for a token that cannot continue an
// expression where one is complete: want lists what could.
func (p *parser) unexpected(want string) *SyntaxError {
	msg := "expected " + want + ", found " + p.describe(p.tok)
	if p.prev.kind == tRegex && p.tok.kind == tIdent && p.tok.pos == p.prev.end {
		msg += "; regex flags go inside the regex, as in /(?i)abc/"
	}
	return p.errAt(p.tok.pos, msg)
}

func (p *parser) errAt(off int, msg string) *SyntaxError { return errorAt(p.lex.src, off, msg) }

// source returns the text of t as written.
func (p *parser) source(t token) string { return p.lex.src[t.pos:t.end] }

// describe names t for an error message.
func (p *parser) describe(t token) string {
	switch t.kind {
	case tEOF:
		return "end of input"
	case tString:
		return "string " + quoteSnippet(p.source(t)[1:t.end-t.pos-1])
	case tNumber:
		return "number " + t.text
	case tRegex:
		return "regex " + snippet(p.source(t))
	}
	return quoteSnippet(p.source(t))
}

// parse parses the whole expression.
func (p *parser) parse() (node, *SyntaxError) {
	if err := p.advance(); err != nil {
		return nil, err
	}
	n, err := p.or("")
	if err != nil {
		return nil, err
	}
	if p.tok.kind != tEOF {
		return nil, p.unexpected("'&&', '||' or end of input")
	}
	return n, nil
}

// or parses and { "||" and }. after names the token before it, for errors.
func (p *parser) or(after string) (node, *SyntaxError) {
	n, err := p.and(after)
	if err != nil || p.tok.kind != tOr {
		return n, err
	}
	nodes := []node{n}
	for p.tok.kind == tOr {
		if err := p.advance(); err != nil {
			return nil, err
		}
		n, err := p.and("'||'")
		if err != nil {
			return nil, err
		}
		nodes = append(nodes, n)
	}
	return foldOr(nodes), nil
}

// and parses primary { "&&" primary }.
func (p *parser) and(after string) (node, *SyntaxError) {
	n, err := p.primary(after)
	if err != nil || p.tok.kind != tAnd {
		return n, err
	}
	nodes := []node{n}
	for p.tok.kind == tAnd {
		if err := p.advance(); err != nil {
			return nil, err
		}
		n, err := p.primary("'&&'")
		if err != nil {
			return nil, err
		}
		nodes = append(nodes, n)
	}
	return foldAnd(nodes), nil
}

// primary parses "(" or ")", TRUE, FALSE or a test.
func (p *parser) primary(after string) (node, *SyntaxError) {
	t := p.tok
	switch t.kind {
	case tLParen:
		p.depth++
		if p.depth > MaxDepth {
			return nil, p.errAt(t.pos, "parentheses nest deeper than "+strconv.Itoa(MaxDepth))
		}
		if err := p.advance(); err != nil {
			return nil, err
		}
		n, err := p.or("'('")
		if err != nil {
			return nil, err
		}
		if p.tok.kind != tRParen {
			return nil, p.unexpected("'&&', '||' or ')' to close the '(' at column " +
				strconv.Itoa(errorAt(p.lex.src, t.pos, "").Column))
		}
		p.depth--
		return n, p.advance()
	case tIdent:
		switch t.text {
		case "TRUE", "FALSE":
			return constNode(t.text == "TRUE"), p.advance()
		case "NIL":
			return nil, p.errAt(t.pos, "NIL is a value: compare a field with it, as in Fields[name] == NIL")
		}
		h, ok := headers[t.text]
		if !ok {
			return nil, p.errAt(t.pos, unknownVariable(t.text))
		}
		return p.test(t, h)
	case tField:
		return p.test(t, 0)
	}
	msg := "expected an expression"
	if after != "" {
		msg += " after " + after
	}
	return nil, p.errAt(t.pos, msg+", found "+p.describe(t))
}

// variableNames lists the names a test may start with, for errors.
var variableNames = []string{"Uuid", "Type", "Logger", "Payload", "EnvVersion", "Hostname",
	"Timestamp", "Severity", "Pid", "Fields", "TRUE", "FALSE", "NIL"}

func unknownVariable(name string) string {
	msg := "unknown variable " + quoteSnippet(name)
	for _, v := range variableNames {
		if strings.EqualFold(v, name) {
			return msg + "; did you mean '" + v + "'?"
		}
	}
	return msg + "; the variables are Uuid, Type, Logger, Payload, EnvVersion, Hostname, " +
		"Timestamp, Severity, Pid and Fields[name]"
}

// test parses the operator and value after the variable v (the current
// token) and compiles the comparison.
func (p *parser) test(v token, h header) (node, *SyntaxError) {
	if err := p.advance(); err != nil {
		return nil, err
	}
	op := p.tok
	if op.kind != tOp {
		return nil, p.errAt(op.pos, "expected an operator (== != < <= > >= =~ !~) after "+
			p.describe(v)+", found "+p.describe(op))
	}
	if err := p.advance(); err != nil {
		return nil, err
	}
	val := p.tok
	switch {
	case val.kind == tString, val.kind == tNumber, val.kind == tRegex:
	case val.kind == tIdent && (val.text == "TRUE" || val.text == "FALSE" || val.text == "NIL"):
	default:
		return nil, p.errAt(val.pos, "expected a value after '"+op.op.String()+"', found "+p.describe(val))
	}
	if err := p.advance(); err != nil {
		return nil, err
	}
	if v.kind == tField {
		return p.fieldTest(v, op, val)
	}
	return p.headerTest(v, h, op, val)
}

// valueName names the type of a literal for errors: "a string", "TRUE".
func valueName(val token) string {
	switch val.kind {
	case tString:
		return "a string"
	case tNumber:
		return "a number"
	case tRegex:
		return "a regex"
	}
	return val.text
}

// regexPred compiles a regex value for op =~ or !~.
func (p *parser) regexPred(op, val token) (strPred, *SyntaxError) {
	if val.kind != tRegex {
		return strPred{}, p.errAt(val.pos, "'"+op.op.String()+"' needs a /regex/, found "+p.describe(val))
	}
	pred, err := newRegexPred(val.text, op.op == opNre)
	if err != nil {
		msg := err.Error()
		var se *syntax.Error
		if errors.As(err, &se) {
			if utf8.ValidString(se.Expr) {
				msg = se.Code.String() + ": `" + se.Expr + "`"
			} else {
				msg = se.Code.String() + ": " + strconv.Quote(se.Expr)
			}
		}
		return strPred{}, p.errAt(val.pos, "invalid regex: "+msg)
	}
	return pred, nil
}

// headerTest compiles a test of a header variable.
func (p *parser) headerTest(v token, h header, op, val token) (node, *SyntaxError) {
	name := v.text
	if h.isNumber() {
		if op.op.isRegexOp() {
			return nil, p.errAt(op.pos, name+" is a number: '"+op.op.String()+"' matches only strings")
		}
		switch val.kind {
		case tNumber:
		case tRegex:
			return nil, p.errAt(val.pos, "a /regex/ needs '=~' or '!~', not '"+op.op.String()+"'")
		default:
			if val.text == "NIL" {
				return nil, p.errAt(val.pos, name+" is always present: NIL compares only with Fields[name]")
			}
			return nil, p.errAt(val.pos, name+" is a number: compare it with a number, not "+valueName(val))
		}
		t := newIntTest(op.op, val.num)
		if r, ok := t.konst(); ok {
			return constNode(r), nil
		}
		return &numHeader{h: h, t: t}, nil
	}

	if op.op.isRegexOp() {
		pred, err := p.regexPred(op, val)
		if err != nil {
			return nil, err
		}
		switch {
		case h != hUUID && pred.kind == pPrefix:
			return &strHeaderPrefix{h: h, lit: pred.lit, neg: pred.neg}, nil
		case h != hUUID && pred.kind == pSuffix:
			return &strHeaderSuffix{h: h, lit: pred.lit, neg: pred.neg}, nil
		case h != hUUID && pred.kind == pEq && !pred.neg:
			return &strHeaderEq{h: h, lit: pred.lit}, nil
		case h != hUUID:
			return &strHeader{h: h, p: pred}, nil
		case pred.usesRegexp():
			return &uuidRegexp{p: pred}, nil
		}
		return &uuidLiteral{p: pred}, nil
	}
	switch val.kind {
	case tString:
	case tRegex:
		return nil, p.errAt(val.pos, "a /regex/ needs '=~' or '!~', not '"+op.op.String()+"'")
	default:
		if val.text == "NIL" {
			return nil, p.errAt(val.pos, name+" is always present: NIL compares only with Fields[name]")
		}
		return nil, p.errAt(val.pos, name+" is a string: compare it with a quoted string, not "+valueName(val))
	}
	if h != hUUID {
		if op.op == opEq {
			return &strHeaderEq{h: h, lit: val.text}, nil
		}
		return &strHeader{h: h, p: newRelPred(op.op, val.text)}, nil
	}
	u, err := message.ParseUUID(val.text)
	switch {
	case err == nil && (op.op == opEq || op.op == opNe):
		return &uuidEq{u: u, ne: op.op == opNe}, nil
	case err == nil:
		return &uuidOrder{u: u, t: intRange(op.op, 0)}, nil
	case op.op == opEq || op.op == opNe:
		return nil, p.errAt(val.pos, p.describe(val)+" is not a UUID: write 32 hex digits, "+
			"as xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx or without the dashes")
	}
	// An ordering against part of a UUID, such as Uuid < '8': compare
	// with the canonical form.
	return &uuidLiteral{p: newRelPred(op.op, val.text)}, nil
}

// fieldTest compiles a test of Fields[name][fi][ai].
func (p *parser) fieldTest(v token, op, val token) (node, *SyntaxError) {
	ref := fieldRef{name: v.name, fi: v.fi, ai: v.ai}
	if op.op.isRegexOp() {
		pred, err := p.regexPred(op, val)
		if err != nil {
			return nil, err
		}
		return &fieldStr{ref: ref, p: pred}, nil
	}
	switch val.kind {
	case tString:
		if op.op == opEq {
			return &fieldStrEq{ref: ref, lit: val.text}, nil
		}
		return &fieldStr{ref: ref, p: newRelPred(op.op, val.text)}, nil
	case tNumber:
		return &fieldNum{ref: ref, it: newIntTest(op.op, val.num), ft: floatTest{op: op.op, lit: val.num}}, nil
	case tRegex:
		return nil, p.errAt(val.pos, "a /regex/ needs '=~' or '!~', not '"+op.op.String()+"'")
	}
	// TRUE, FALSE or NIL.
	if op.op != opEq && op.op != opNe {
		return nil, p.errAt(op.pos, "'"+op.op.String()+"' cannot compare with "+val.text+": use '==' or '!='")
	}
	if val.text == "NIL" {
		return &fieldNil{ref: ref, present: op.op == opNe}, nil
	}
	return &fieldBool{ref: ref, lit: val.text == "TRUE", eq: op.op == opEq}, nil
}

// foldAnd joins the operands of a chain of &&: nested chains are
// flattened, TRUE operands dropped, and a FALSE operand makes it FALSE.
func foldAnd(nodes []node) node {
	out := make(andNode, 0, len(nodes))
	for _, n := range nodes {
		switch n := n.(type) {
		case constNode:
			if !n {
				return constNode(false)
			}
		case andNode:
			out = append(out, n...)
		case *and2:
			out = append(out, n.a, n.b)
		default:
			out = append(out, n)
		}
	}
	switch len(out) {
	case 0:
		return constNode(true)
	case 1:
		return out[0]
	case 2:
		return &and2{out[0], out[1]}
	}
	return out
}

// foldOr joins the operands of a chain of ||: nested chains are flattened,
// FALSE operands dropped, a TRUE operand makes it TRUE, and == tests of
// one string header are merged into one strHeaderIn.
func foldOr(nodes []node) node {
	out := make(orNode, 0, len(nodes))
	in := map[header]*strHeaderIn{}
	var add func(n node)
	add = func(n node) {
		switch n := n.(type) {
		case orNode:
			for _, m := range n {
				add(m)
			}
		case *or2:
			add(n.a)
			add(n.b)
		case *strHeaderEq:
			add(&strHeaderIn{h: n.h, lits: []string{n.lit}})
		case *strHeaderIn:
			if prev := in[n.h]; prev != nil {
				prev.lits = append(prev.lits, n.lits...)
				return
			}
			c := &strHeaderIn{h: n.h, lits: append([]string(nil), n.lits...)}
			in[n.h] = c
			out = append(out, c)
		default:
			out = append(out, n)
		}
	}
	for _, n := range nodes {
		if c, ok := n.(constNode); ok {
			if c {
				return constNode(true)
			}
			continue
		}
		add(n)
	}
	for i, n := range out {
		if c, ok := n.(*strHeaderIn); ok && len(c.lits) == 1 {
			out[i] = &strHeaderEq{h: c.h, lit: c.lits[0]}
		}
	}
	switch len(out) {
	case 0:
		return constNode(false)
	case 1:
		return out[0]
	case 2:
		return &or2{out[0], out[1]}
	}
	return out
}
