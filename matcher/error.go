package matcher

import (
	"strconv"
	"strings"
	"unicode/utf8"
)

// SyntaxError is the error Compile returns for an expression it cannot
// compile: a malformed expression, a type error such as comparing Severity
// with a string, a regex RE2 rejects, or an expression over the length or
// nesting limits.
type SyntaxError struct {
	// Expr is the expression as given to Compile.
	Expr string
	// Column is the 1-based position of the fault, counted in runes from
	// the start of Expr (a newline counts as one rune). At the end of the
	// input it is one past the last rune.
	Column int
	// Msg describes the fault, without the "matcher: column N: " prefix.
	Msg string
}

// Error returns "matcher: column N: message".
func (e *SyntaxError) Error() string {
	return "matcher: column " + strconv.Itoa(e.Column) + ": " + e.Msg
}

// caretWindow is how many runes of a long expression Caret shows.
const caretWindow = 72

// Caret renders the expression on one line with a caret under the column
// at fault:
//
//	Type == 'a' Type == 'b'
//	            ^
//
// Tabs, newlines and other control characters are shown as spaces so that
// the caret lines up in a terminal with a fixed-width font (wide characters
// such as CJK may still shift it). An expression longer than 72 runes is cut
// to a window around the column, with "..." marking the cuts.
func (e *SyntaxError) Caret() string {
	runes := make([]rune, 0, utf8.RuneCountInString(e.Expr))
	for _, r := range e.Expr {
		if r < ' ' || r == 0x7f {
			r = ' '
		}
		runes = append(runes, r)
	}
	col := e.Column - 1 // 0-based index of the caret into runes
	col = max(0, min(col, len(runes)))
	start, end := 0, len(runes)
	prefix, suffix := "", ""
	if len(runes) > caretWindow {
		start = max(0, col-caretWindow/2)
		end = min(len(runes), start+caretWindow)
		start = max(0, end-caretWindow)
		if start > 0 {
			prefix = "..."
		}
		if end < len(runes) {
			suffix = "..."
		}
	}
	var b strings.Builder
	b.WriteString(prefix)
	b.WriteString(string(runes[start:end]))
	b.WriteString(suffix)
	b.WriteByte('\n')
	b.WriteString(strings.Repeat(" ", len(prefix)+col-start))
	b.WriteByte('^')
	return b.String()
}

// errorAt returns a *SyntaxError for the byte offset off of expr.
func errorAt(expr string, off int, msg string) *SyntaxError {
	off = max(0, min(off, len(expr)))
	return &SyntaxError{Expr: expr, Column: utf8.RuneCountInString(expr[:off]) + 1, Msg: msg}
}
