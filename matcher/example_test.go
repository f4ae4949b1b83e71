package matcher_test

import (
	"errors"
	"fmt"

	"github.com/metlog/metlog/matcher"
	"github.com/metlog/metlog/message"
)

func Example() {
	m, err := matcher.Compile("Type == 'timer' && Fields[name] =~ /^db\\./")
	if err != nil {
		panic(err)
	}
	msg := &message.Message{Type: "timer"}
	msg.AddString("name", "db.query")
	msg.AddInt("value", 12)
	fmt.Println(m.Match(msg))
	// Output: true
}

func ExampleSyntaxError_Caret() {
	_, err := matcher.Compile("Type == 'exception' Severity <= 3")
	var se *matcher.SyntaxError
	if errors.As(err, &se) {
		fmt.Println(se)
		fmt.Println(se.Caret())
	}
	// Output:
	// matcher: column 21: expected '&&', '||' or end of input, found 'Severity'
	// Type == 'exception' Severity <= 3
	//                     ^
}

func ExampleMatcher_Match_nil() {
	// A test of an absent field is false whatever the operator, except
	// == NIL.
	msg := &message.Message{Type: "counter"}
	for _, expr := range []string{
		"Fields[rate] != 1",
		"Fields[rate] == NIL",
		"Fields[rate] == NIL || Fields[rate] != 1",
	} {
		fmt.Println(expr, "=>", matcher.MustCompile(expr).Match(msg))
	}
	// Output:
	// Fields[rate] != 1 => false
	// Fields[rate] == NIL => true
	// Fields[rate] == NIL || Fields[rate] != 1 => true
}
