// Package matcher implements Heka's message matcher language: a boolean
// expression over a message's header and fields that the router uses to
// choose the filters and outputs a message goes to, and that `metlog tail
// -match` and `metlog match` use to select messages.
//
//	Type == 'timer' && Fields[name] =~ /^db\./
//	Severity <= 3 || Fields[exception] != NIL
//
// [Compile] turns an expression into a [Matcher] once; [Matcher.Match] then
// evaluates it on a message without allocating, and is safe to call from
// many goroutines at once.
//
// # Grammar
//
//	expression = or .
//	or         = and { "||" and } .
//	and        = primary { "&&" primary } .
//	primary    = "(" or ")" | "TRUE" | "FALSE" | test .
//	test       = strvar ( relop string | reop regex )
//	           | numvar relop number
//	           | field ( relop ( string | number ) | eqop ( "TRUE" | "FALSE" | "NIL" ) | reop regex ) .
//	strvar     = "Uuid" | "Type" | "Logger" | "Payload" | "EnvVersion" | "Hostname" .
//	numvar     = "Timestamp" | "Severity" | "Pid" .
//	field      = "Fields[" name "]" [ "[" index "]" [ "[" index "]" ] ] .
//	name       = any characters but "]", at least one .
//	index      = digit { digit } .  (0 to 2147483647)
//	relop      = "==" | "!=" | "<" | "<=" | ">" | ">=" .
//	eqop       = "==" | "!=" .
//	reop       = "=~" | "!~" .
//	string     = "'" { char | escape } "'" | `"` { char | escape } `"` .
//	escape     = `\'` | `\"` | `\\` | `\n` | `\t` | `\r` .
//	number     = [ "-" ] ( digits [ "." [ digits ] ] | "." digits ) [ ( "e" | "E" ) [ "+" | "-" ] digits ] .
//	regex      = "/" { char | `\/` } "/" .
//
// && binds tighter than ||; both are left-associative and stop at the first
// operand that decides the result. Spaces, tabs and newlines may separate
// tokens; none are needed. Names and keywords are case-sensitive.
// Parentheses nest at most [MaxDepth] deep, and an expression is at most
// [MaxLength] bytes long.
//
// # Semantics
//
// Strings compare byte-wise (==, !=, and lexical order for < <= > >=).
// Uuid compares as its canonical lower-case form
// xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx; a literal compared with == or !=
// must be a UUID, in either case, with or without dashes.
//
// Numbers compare exactly. Timestamp, Severity, Pid and Integer fields are
// int64 and compare with an integer literal as int64; a literal with a
// fraction or an exponent is a float64, and an int64 compares with it by
// value, exactly (Severity < 3.5 holds for 3; Timestamp ==
// 1.795566216725984879e18 is the float64 1795566216725984768 and matches
// only that). Double fields compare with a float64 literal as IEEE 754
// does, and with an integer literal exactly; NaN is unordered: only != is
// true for it. An integer literal outside int64, or a number beyond
// float64, does not compile.
//
// A regex is RE2 syntax (package regexp), unanchored unless it says so;
// \/ stands for a slash, and %TIMESTAMP% for Heka's regex of the layouts of
// package time. A regex that is only a literal (/lit/, /^lit/, /lit$/,
// /^lit$/) runs as strings.Contains, HasPrefix, HasSuffix or ==, and one
// that is a sequence of literals and single characters or classes (/Pay.oad/,
// /^[0-9a-f]{8}-/) runs without RE2 on strings; both give RE2's results.
//
// Fields[name] is the first value of the first field of that name;
// Fields[name][i] the first value of the i-th field of that name, and
// Fields[name][i][j] its j-th value, counting from 0. A field's value is
// compared according to the field's type: a String or Bytes value with a
// string or a regex, an Integer or Double value with a number, a Bool
// value with TRUE or FALSE (== and != only). When the value is absent (no
// such field, field index or array index) or its type does not fit the
// literal, the test is false, whatever the operator, != and !~ included;
// only Fields[...] == NIL is true for an absent value, and Fields[...] !=
// NIL true for a present one. So Fields[x] != 'a' does not match a message
// without x; write Fields[x] == NIL || Fields[x] != 'a' for that.
//
// TRUE alone matches every message and FALSE none.
//
// Comparing a string variable with a number, a numeric variable with a
// string, a header with NIL, TRUE or FALSE, or using =~ without a regex (or
// a regex without =~ or !~) does not compile: such a test could never be
// true. Every compile error is a [*SyntaxError] that gives the column at
// fault.
//
// # Differences from Heka
//
//   - Juxtaposed expressions (Type == 'a' Type == 'b', TRUE FALSE) are a
//     syntax error; Heka accepted them silently.
//   - Negative numbers parse (Severity > -1).
//   - Integers compare exactly as int64; Heka converted them to float64,
//     so nanosecond timestamps that differ in their last digits compared
//     equal.
//   - Match allocates nothing; Heka formatted the UUID to a string on every
//     evaluation of a Uuid test.
//   - Errors give the column, and Compile takes no global lock.
//   - Fields[x] != TRUE is the negation of Fields[x] == TRUE on a Bool
//     field; Heka ignored the operator and tested ==.
//   - Strings know the escapes \\ \n \t \r besides the quotes, and an
//     unknown escape is an error; Heka kept every backslash but the one
//     before the closing quote.
//   - A newline is whitespace; Heka ended the expression at the first
//     newline and ignored the rest.
//   - Uuid == and != need a UUID literal, and Uuid order compares with any
//     string; a full UUID literal is normalised to lower case.
//   - Match reports only whether the message matches: it returns no regex
//     captures.
package matcher
