package client_test

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"reflect"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"testing"

	"github.com/metlog/metlog/client"
	"github.com/metlog/metlog/message"
)

type codeError struct{ code int }

func (e *codeError) Error() string { return fmt.Sprintf("code %d", e.code) }

type valueError struct{}

func (valueError) Error() string { return "value error" }

// here returns the function name, file and line of its caller, plus
// lines: the line of the statement lines below the call.
func here(lines int) (function, file string, line int) {
	pc, file, line, _ := runtime.Caller(1)
	return runtime.FuncForPC(pc).Name(), file, line + lines
}

// stack returns the stack fields of an exception message, checking that
// they are three lists of one length, with at least two frames.
func stack(t *testing.T, m *message.Message) (functions, files []string, lines []int64) {
	t.Helper()
	fn, file, line := m.Field("stack.function"), m.Field("stack.file"), m.Field("stack.line")
	if fn == nil || file == nil || line == nil || fn.Type != message.String || file.Type != message.String ||
		line.Type != message.Integer {
		t.Fatalf("stack fields missing or mistyped: %s", fieldsString(m.Fields))
	}
	if len(fn.Strings) != len(file.Strings) || len(fn.Strings) != len(line.Integers) || len(fn.Strings) < 2 {
		t.Fatalf("stack lists of %d functions, %d files and %d lines", len(fn.Strings), len(file.Strings), len(line.Integers))
	}
	for _, f := range fn.Strings {
		if strings.HasPrefix(f, "github.com/metlog/metlog/client.") {
			t.Errorf("the stack includes the client's own frame %s: %q", f, fn.Strings)
		}
	}
	return fn.Strings, file.Strings, line.Integers
}

// checkFirstFrame checks the innermost frame of an exception's stack.
func checkFirstFrame(t *testing.T, m *message.Message, function, file string, line int) {
	t.Helper()
	fns, files, lines := stack(t, m)
	if fns[0] != function || files[0] != file || lines[0] != int64(line) {
		t.Errorf("first frame %s %s:%d, want %s %s:%d (stack %q)", fns[0], files[0], lines[0], function, file, line, fns)
	}
}

// fieldNames returns the names of m's fields, in order.
func fieldNames(m *message.Message) []string {
	var names []string
	for i := range m.Fields {
		names = append(names, m.Fields[i].Name)
	}
	return names
}

// TestException checks the message Exception sends for errors of several
// shapes: type, payload, error.type, error.chain and the caller's stack.
func TestException(t *testing.T) {
	base := errors.New("inner")
	for _, tc := range []struct {
		name  string
		err   error
		typ   string
		chain []string // nil: no error.chain field
	}{
		{"errors.New", errors.New("boom"), "*errors.errorString", nil},
		{"fmt.Errorf without %w", fmt.Errorf("code %d", 7), "*errors.errorString", nil},
		{"wrapped", fmt.Errorf("ctx: %w", base), "*fmt.wrapError", []string{"*fmt.wrapError", "*errors.errorString"}},
		{"wrapped twice", fmt.Errorf("a: %w", fmt.Errorf("b: %w", io.EOF)), "*fmt.wrapError",
			[]string{"*fmt.wrapError", "*fmt.wrapError", "*errors.errorString"}},
		{"errors.Join", errors.Join(base, io.EOF), "*errors.joinError", []string{"*errors.joinError", "*errors.errorString"}},
		{"several %w", fmt.Errorf("%w and %w", &codeError{2}, base), "*fmt.wrapErrors", []string{"*fmt.wrapErrors", "*client_test.codeError"}},
		{"custom pointer", &codeError{404}, "*client_test.codeError", nil},
		{"custom value", valueError{}, "client_test.valueError", nil},
		{"fs.PathError", &fs.PathError{Op: "open", Path: "/x", Err: syscall.ENOENT}, "*fs.PathError",
			[]string{"*fs.PathError", "syscall.Errno"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, capt := newClient(t, client.Config{Logger: "test"})
			function, file, line := here(1)
			c.Exception(tc.err)
			m := only(t, capt)

			fields := []string{"error.type", "error.chain", "stack.function", "stack.file", "stack.line"}
			if tc.chain == nil {
				fields = slices.Delete(fields, 1, 2)
			}
			if m.Type != "exception" || m.Severity != 3 || m.Logger != "test" || m.Payload != tc.err.Error() ||
				!slices.Equal(fieldNames(m), fields) {
				t.Fatalf("got %s", describe(m))
			}
			if got, _ := m.GetString("error.type"); got != tc.typ {
				t.Errorf("error.type %q, want %q", got, tc.typ)
			}
			if tc.chain != nil {
				if got := m.Field("error.chain").Strings; !slices.Equal(got, tc.chain) {
					t.Errorf("error.chain %q, want %q", got, tc.chain)
				}
			}
			checkFirstFrame(t, m, function, file, line)
			fns, _, _ := stack(t, m)
			if fns[1] != "testing.tRunner" {
				t.Errorf("second frame %s, want testing.tRunner", fns[1])
			}
		})
	}
}

func TestExceptionOptions(t *testing.T) {
	c, capt := newClient(t, client.Config{Logger: "test"})
	c.Exception(errors.New("x"), client.Severity(2), client.Logger("db"), client.Fields(client.String("query", "select 1")))
	m := only(t, capt)
	if m.Severity != 2 || m.Logger != "db" {
		t.Errorf("severity %d, logger %q", m.Severity, m.Logger)
	}
	if names := fieldNames(m); !slices.Equal(names, []string{"error.type", "stack.function", "stack.file", "stack.line", "query"}) {
		t.Errorf("fields %q", names)
	}
}

func TestExceptionNil(t *testing.T) {
	c, capt := newClient(t, client.Config{})
	c.Exception(nil)
	messages(t, capt, 0)
	if s := c.Stats(); s.Filtered != 0 {
		t.Errorf("Exception(nil) counted: %+v", s)
	}
}

// Functions that panic, each reporting the line of the statement that
// panics.

func nilMapWrite(c *client.Client, line *int) {
	defer c.Recover(client.Swallow())
	var m map[string]int
	_, _, *line = here(2)
	//lint:ignore SA5000 the write panics on purpose
	m["x"] = 1
}

func nilMapWriteArrayKey(c *client.Client, line *int) {
	defer c.Recover(client.Swallow())
	var m map[[2]int]string
	_, _, *line = here(2)
	//lint:ignore SA5000 the write panics on purpose
	m[[2]int{1, 2}] = "x"
}

func closeNilChannel(c *client.Client, line *int) {
	defer c.Recover(client.Swallow())
	var ch chan int
	_, _, *line = here(1)
	close(ch)
}

func nilDeref(c *client.Client, line *int) {
	defer c.Recover(client.Swallow())
	var p *codeError
	_, _, *line = here(1)
	fmt.Println(p.code)
}

func indexOutOfRange(c *client.Client, line *int) {
	defer c.Recover(client.Swallow())
	s := []int{1}
	i := 3
	_, _, *line = here(1)
	fmt.Println(s[i])
}

func panicString(c *client.Client, line *int) {
	defer c.Recover(client.Swallow())
	_, _, *line = here(1)
	panic("x")
}

var errCustom = &codeError{500}

func panicError(c *client.Client, line *int) {
	defer c.Recover(client.Swallow())
	_, _, *line = here(1)
	panic(errCustom)
}

func panicInt(c *client.Client, line *int) {
	defer c.Recover(client.Swallow())
	_, _, *line = here(1)
	panic(42)
}

// TestRecoverSwallow checks the report of a swallowed panic: its stack
// starts at the statement that panicked, not in the runtime.
func TestRecoverSwallow(t *testing.T) {
	for _, tc := range []struct {
		f       func(*client.Client, *int)
		payload string
		typ     string
	}{
		{nilMapWrite, "assignment to entry in nil map", "runtime.plainError"},
		{nilMapWriteArrayKey, "assignment to entry in nil map", "runtime.plainError"},
		{closeNilChannel, "close of nil channel", "runtime.plainError"},
		{nilDeref, "runtime error: invalid memory address or nil pointer dereference", "runtime.errorString"},
		{indexOutOfRange, "runtime error: index out of range [3] with length 1", "runtime.boundsError"},
		{panicString, "x", "string"},
		{panicError, "code 500", "*client_test.codeError"},
		{panicInt, "42", "int"},
	} {
		function := runtime.FuncForPC(reflect.ValueOf(tc.f).Pointer()).Name()
		t.Run(strings.TrimPrefix(function, "github.com/metlog/metlog/client_test."), func(t *testing.T) {
			c, capt := newClient(t, client.Config{Logger: "test"})
			var line int
			tc.f(c, &line) // returns normally
			m := only(t, capt)
			if m.Type != "exception" || m.Severity != 3 || m.Payload != tc.payload {
				t.Errorf("got %s", describe(m))
			}
			if names := fieldNames(m); !slices.Equal(names, []string{"error.type", "panic", "stack.function", "stack.file", "stack.line"}) {
				t.Errorf("fields %q", names)
			}
			if p, ok := m.GetBool("panic"); !p || !ok {
				t.Error("no panic=true field")
			}
			if typ, _ := m.GetString("error.type"); typ != tc.typ {
				t.Errorf("error.type %q, want %q", typ, tc.typ)
			}
			_, file, _ := here(0)
			checkFirstFrame(t, m, function, file, line)
			fns, _, _ := stack(t, m)
			if caller, _, _ := here(0); fns[1] != caller {
				t.Errorf("second frame %s, want the test %s", fns[1], caller)
			}
		})
	}
}

// TestRecoverRepanics checks that without Swallow, Recover reports the
// panic, then panics again with the same value.
func TestRecoverRepanics(t *testing.T) {
	for _, v := range []any{"x", errCustom, 42} {
		t.Run(fmt.Sprint(v), func(t *testing.T) {
			c, capt := newClient(t, client.Config{Logger: "test"})
			var sentBefore bool
			var panicLine int
			var function string
			r := func() (r any) {
				defer func() {
					sentBefore = len(capt.Messages()) == 1
					r = recover()
				}()
				func() {
					defer c.Recover()
					function, _, panicLine = here(1)
					panic(v)
				}()
				return nil
			}()
			if r != v {
				t.Fatalf("recovered %v (%T), want %v", r, r, v)
			}
			if !sentBefore {
				t.Error("the report was not sent before the panic went on")
			}
			m := only(t, capt)
			if m.Payload != fmt.Sprint(v) {
				t.Errorf("payload %q", m.Payload)
			}
			_, file, _ := here(0)
			checkFirstFrame(t, m, function, file, panicLine)
		})
	}
}

func TestRecoverWithoutPanic(t *testing.T) {
	c, capt := newClient(t, client.Config{})
	func() {
		defer c.Recover()
	}()
	func() {
		defer c.Recover(client.Swallow())
	}()
	messages(t, capt, 0)
}

func TestRecoverOptions(t *testing.T) {
	c, capt := newClient(t, client.Config{Logger: "test"})
	func() {
		defer c.Recover(client.Swallow(), client.Severity(0), client.Fields(client.String("request", "r1")))
		panic("fatal")
	}()
	m := only(t, capt)
	if m.Severity != 0 || m.Payload != "fatal" {
		t.Errorf("got %s", describe(m))
	}
	if v, _ := m.GetString("request"); v != "r1" {
		t.Errorf("fields %s", fieldsString(m.Fields))
	}
}

// TestRecoverFiltered checks that a filtered exception type still swallows
// or re-panics as asked.
func TestRecoverFiltered(t *testing.T) {
	c, capt := newClient(t, client.Config{Filter: client.FilterConfig{TypesDeny: []string{"exception"}}})
	func() {
		defer c.Recover(client.Swallow())
		panic("quiet")
	}()
	r := func() (r any) {
		defer func() { r = recover() }()
		defer c.Recover()
		panic("loud")
	}()
	if r != "loud" {
		t.Errorf("recovered %v, want loud", r)
	}
	messages(t, capt, 0)
	if s := c.Stats(); s.Filtered != 2 {
		t.Errorf("Stats().Filtered = %d, want 2", s.Filtered)
	}
}

// TestExceptionTypedNil reports an error interface holding a nil pointer,
// whose Error and Unwrap methods panic: reporting it must not crash.
func TestExceptionTypedNil(t *testing.T) {
	c, capt := newClient(t, client.Config{})
	var ce *codeError
	c.Exception(ce)
	m := only(t, capt)
	if typ, _ := m.GetString("error.type"); m.Payload != "<nil>" || typ != "*client_test.codeError" {
		t.Errorf("got %s", describe(m))
	}
	var pe *fs.PathError
	c.Exception(pe)
	m = only(t, capt)
	if chain := m.Field("error.chain"); m.Payload != "<nil>" || chain == nil ||
		!slices.Equal(chain.Strings, []string{"*fs.PathError", "(Unwrap panicked)"}) {
		t.Errorf("got %s", describe(m))
	}
}
