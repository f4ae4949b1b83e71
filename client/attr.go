package client

import (
	"math"
	"time"
	"unsafe"

	"github.com/metlog/metlog/message"
)

// An Attr is one typed field of a message: a name, a value or list of
// values, and an optional representation (unit or format). Build them with
// String, Int, Float, Bool, Bytes, Duration and the list forms. Passing
// Attrs to a logging call does not allocate, with one exception: the
// values of a list written out as arguments, Strings("k", "a", "b"), are
// moved to the heap (the message may keep the strings of a String Attr,
// and the compiler does not tell one kind of Attr from another); a list
// built from an existing slice, Strings("k", tags...), costs nothing.
type Attr struct {
	Key  string
	repr string
	kind attrKind
	num  uint64         // Int, Float (bits), Bool; the length of a string or slice
	ptr  unsafe.Pointer // the bytes of a string, the elements of a slice
}

type attrKind uint8

const (
	kindString attrKind = iota
	kindInt
	kindFloat
	kindBool
	kindBytes
	kindStrings
	kindInts
	kindFloats
	kindBools
)

// Strings and slices are kept as a data pointer and a length, as slog does
// for strings, rather than in an interface, whose conversion would allocate.

// String returns a string field.
func String(key, v string) Attr {
	return Attr{Key: key, kind: kindString, num: uint64(len(v)), ptr: unsafe.Pointer(unsafe.StringData(v))}
}

// Int returns an integer field.
func Int(key string, v int) Attr { return Attr{Key: key, kind: kindInt, num: uint64(int64(v))} }

// Int64 returns an integer field.
func Int64(key string, v int64) Attr { return Attr{Key: key, kind: kindInt, num: uint64(v)} }

// Float returns a double field.
func Float(key string, v float64) Attr {
	return Attr{Key: key, kind: kindFloat, num: math.Float64bits(v)}
}

// Bool returns a boolean field.
func Bool(key string, v bool) Attr {
	a := Attr{Key: key, kind: kindBool}
	if v {
		a.num = 1
	}
	return a
}

// Bytes returns a bytes field. The message refers to v until it is sent.
func Bytes(key string, v []byte) Attr { return sliceAttr(key, kindBytes, v) }

// Duration returns a double field holding d in milliseconds, with
// representation "ms", the unit timers use.
func Duration(key string, d time.Duration) Attr {
	return Float(key, float64(d)/float64(time.Millisecond)).WithRepresentation("ms")
}

// Strings returns a string field with several values.
func Strings(key string, vs ...string) Attr { return sliceAttr(key, kindStrings, vs) }

// Ints returns an integer field with several values.
func Ints(key string, vs ...int64) Attr { return sliceAttr(key, kindInts, vs) }

// Floats returns a double field with several values.
func Floats(key string, vs ...float64) Attr { return sliceAttr(key, kindFloats, vs) }

// Bools returns a boolean field with several values.
func Bools(key string, vs ...bool) Attr { return sliceAttr(key, kindBools, vs) }

func sliceAttr[T any](key string, kind attrKind, vs []T) Attr {
	return Attr{Key: key, kind: kind, num: uint64(len(vs)), ptr: unsafe.Pointer(unsafe.SliceData(vs))}
}

// slice returns the slice a was built from (nil for a nil slice).
func slice[T any](a *Attr) []T { return unsafe.Slice((*T)(a.ptr), a.num) }

// WithRepresentation returns a with its representation (a unit such as
// "ms" or "bytes", or a format) set to r.
func (a Attr) WithRepresentation(r string) Attr {
	a.repr = r
	return a
}

// appendTo adds a as a field of m, reusing m's field capacity.
func (a *Attr) appendTo(m *message.Message) {
	name := a.Key
	var f *message.Field
	switch a.kind {
	case kindString:
		f = m.AddField(name, message.String)
		f.Strings = append(f.Strings, unsafe.String((*byte)(a.ptr), a.num))
	case kindInt:
		f = m.AddField(name, message.Integer)
		f.Integers = append(f.Integers, int64(a.num))
	case kindFloat:
		f = m.AddField(name, message.Double)
		f.Doubles = append(f.Doubles, math.Float64frombits(a.num))
	case kindBool:
		f = m.AddField(name, message.Bool)
		f.Bools = append(f.Bools, a.num != 0)
	case kindBytes:
		f = m.AddField(name, message.Bytes)
		f.Bytes = append(f.Bytes, slice[byte](a))
	case kindStrings:
		f = m.AddField(name, message.String)
		f.Strings = append(f.Strings, slice[string](a)...)
	case kindInts:
		f = m.AddField(name, message.Integer)
		f.Integers = append(f.Integers, slice[int64](a)...)
	case kindFloats:
		f = m.AddField(name, message.Double)
		f.Doubles = append(f.Doubles, slice[float64](a)...)
	case kindBools:
		f = m.AddField(name, message.Bool)
		f.Bools = append(f.Bools, slice[bool](a)...)
	}
	f.Representation = a.repr
}

// Value returns a's value as a string, int64, float64, bool, []byte,
// []string, []int64, []float64 or []bool.
func (a Attr) Value() any {
	switch a.kind {
	case kindString:
		return unsafe.String((*byte)(a.ptr), a.num)
	case kindInt:
		return int64(a.num)
	case kindFloat:
		return math.Float64frombits(a.num)
	case kindBool:
		return a.num != 0
	case kindBytes:
		return slice[byte](&a)
	case kindStrings:
		return slice[string](&a)
	case kindInts:
		return slice[int64](&a)
	case kindFloats:
		return slice[float64](&a)
	case kindBools:
		return slice[bool](&a)
	}
	return nil
}
