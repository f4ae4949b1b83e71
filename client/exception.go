package client

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"time"

	"github.com/metlog/metlog/message"
)

// maxFrames bounds the stack trace sent with an exception.
const maxFrames = 64

// Exception sends err as an "exception" message at severity error: the
// payload is err.Error(), and the fields carry error.type (the Go type of
// err), error.chain (the types of the errors it wraps, outermost first, when
// it wraps any) and the stack of the caller as three parallel lists,
// stack.function, stack.file and stack.line, innermost frame first.
func (c *Client) Exception(err error, opts ...Option) {
	if err == nil {
		return
	}
	var pcs [maxFrames]uintptr
	n := runtime.Callers(2, pcs[:])
	c.exception(err, typeName(err), pcs[:n], false, opts)
}

// Recover reports a panic in progress as an exception, with the stack of
// the code that panicked and the field panic=true, then panics again with
// the same value (after flushing the sender for up to two seconds so the
// report is not lost when the program dies), or, with the Swallow option,
// returns normally. It must be called directly by defer:
//
//	defer c.Recover()
func (c *Client) Recover(opts ...Option) {
	r := recover()
	if r == nil {
		return
	}
	var pcs [maxFrames]uintptr
	n := runtime.Callers(2, pcs[:])
	err, ok := r.(error)
	if !ok {
		err = fmt.Errorf("%v", r)
	}
	o := c.exception(err, typeName(r), pcs[:n], true, opts)
	if o.swallow {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	_ = c.Flush(ctx)
	cancel()
	panic(r)
}

func typeName(v any) string { return fmt.Sprintf("%T", v) }

func (c *Client) exception(err error, typ string, pcs []uintptr, panicking bool, opts []Option) callOptions {
	o := callOptions{severity: message.Error}.with(opts)
	if !c.filter.allows(typeException, o.severity) {
		c.filtered.Add(1)
		return o
	}
	mb := c.get()
	m := &mb.m
	m.Type = typeException
	m.Severity = o.severity
	m.Logger = o.loggerName()
	m.Payload = errorText(err)
	m.AddString("error.type", typ)
	if chain := errorChain(err); len(chain) > 1 {
		f := m.AddField("error.chain", message.String)
		f.Strings = append(f.Strings, chain...)
	}
	if panicking {
		m.AddBool("panic", true)
	}
	// AddField may move the fields, so take the pointers after adding all three.
	m.AddField("stack.function", message.String)
	m.AddField("stack.file", message.String)
	m.AddField("stack.line", message.Integer)
	k := len(m.Fields)
	fn, file, line := &m.Fields[k-3], &m.Fields[k-2], &m.Fields[k-1]
	frames := runtime.CallersFrames(pcs)
	skipping := panicking // the runtime's own panic frames come first
	for {
		fr, more := frames.Next()
		if skipping && strings.HasPrefix(fr.Function, "runtime.") {
			if !more {
				break
			}
			continue
		}
		skipping = false
		fn.Strings = append(fn.Strings, fr.Function)
		file.Strings = append(file.Strings, fr.File)
		line.Integers = append(line.Integers, int64(fr.Line))
		if !more {
			break
		}
	}
	addAttrs(m, opts)
	c.send(mb)
	return o
}

// errorText returns err.Error(). When Error panics, typically on a nil
// pointer returned as an error, it returns what fmt prints instead ("<nil>"
// or a note of the panic), so that reporting a broken error does not crash
// the program.
func errorText(err error) (s string) {
	defer func() {
		if recover() != nil {
			s = fmt.Sprint(err)
		}
	}()
	return err.Error()
}

// errorChain returns the types of err and of the errors it wraps, outermost
// first, following Unwrap() error (the first branch of Unwrap() []error).
// An Unwrap method that panics (on a typed nil) ends the chain.
func errorChain(err error) (chain []string) {
	defer func() {
		if recover() != nil {
			chain = append(chain, "(Unwrap panicked)")
		}
	}()
	for err != nil && len(chain) < 16 {
		chain = append(chain, typeName(err))
		switch u := err.(type) {
		case interface{ Unwrap() []error }:
			errs := u.Unwrap()
			if len(errs) == 0 {
				return chain
			}
			err = errs[0]
		default:
			err = errors.Unwrap(err)
		}
	}
	return chain
}
