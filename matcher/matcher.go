package matcher

import (
	"strconv"

	"github.com/metlog/metlog/message"
)

// Limits on the expressions Compile accepts. They keep compilation linear
// and its recursion shallow whatever the input.
const (
	// MaxLength is the longest expression, in bytes.
	MaxLength = 64 << 10
	// MaxDepth is the deepest nesting of parentheses.
	MaxDepth = 100
)

// Matcher is a compiled expression. It is safe for concurrent use.
type Matcher struct {
	expr string
	root node
}

// Compile parses expr and compiles it into a Matcher. Every error it
// returns is a *SyntaxError that gives the column at fault.
func Compile(expr string) (*Matcher, error) {
	if len(expr) > MaxLength {
		return nil, errorAt(expr, MaxLength, "the expression is "+strconv.Itoa(len(expr))+
			" bytes long; the limit is "+strconv.Itoa(MaxLength))
	}
	p := parser{lex: lexer{src: expr}}
	root, err := p.parse()
	if err != nil {
		return nil, err
	}
	return &Matcher{expr: expr, root: root}, nil
}

// MustCompile is like Compile but panics if expr does not compile. It is
// for expressions written in the program, not read from configuration.
func MustCompile(expr string) *Matcher {
	m, err := Compile(expr)
	if err != nil {
		panic(err)
	}
	return m
}

// Match reports whether msg matches the expression. It does not allocate,
// and reads msg without keeping or modifying it. msg must not be nil.
func (m *Matcher) Match(msg *message.Message) bool {
	return m.root.eval(msg)
}

// String returns the expression m was compiled from.
func (m *Matcher) String() string {
	return m.expr
}
