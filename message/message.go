// Package message is the metlog message: its Go type, the typed field
// helpers, and every wire form a message takes.
//
//   - Protobuf, byte-compatible with Heka's message.proto (see subpackage pb
//     for the schema): [Message.MarshalAppend], [Message.Unmarshal].
//   - Heka stream framing with optional HMAC signing: [AppendFrame],
//     [ParseFrame], [FrameScanner], [Signer], [KeyRing].
//   - metlog JSON, the envelope metlog-py sends: [AppendMetlogJSON],
//     [DecodeMetlogJSON].
//   - Canonical JSON, one lossless object per line, for files and HTTP:
//     [AppendJSON], [DecodeJSON].
//
// Encoders append to a caller's buffer and allocate nothing; decoders reuse
// the capacity of the Message they fill.
package message

import (
	"bytes"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
)

// Severities of RFC 5424, as carried in Message.Severity.
const (
	Emergency = 0
	Alert     = 1
	Critical  = 2
	Error     = 3
	Warning   = 4
	Notice    = 5
	Info      = 6
	Debug     = 7
)

// DefaultSeverity is the severity protobuf decoding gives a message that
// carries none (the schema default, as in Heka). Clients send Info by default.
const DefaultSeverity = Debug

var severityNames = [...]string{"emergency", "alert", "critical", "error", "warning", "notice", "info", "debug"}

// SeverityName returns the RFC 5424 name of severity s ("info" for 6), or its
// decimal form when s is outside 0..7.
func SeverityName(s int32) string {
	if s >= 0 && int(s) < len(severityNames) {
		return severityNames[s]
	}
	return strconv.Itoa(int(s))
}

// ParseSeverity reads a severity given by name (case-insensitive; "warn",
// "err", "crit", "emerg" and "panic" are accepted as syslog spells them) or
// as a number 0..7.
func ParseSeverity(s string) (int32, error) {
	t := strings.ToLower(strings.TrimSpace(s))
	for i, n := range severityNames {
		if t == n {
			return int32(i), nil
		}
	}
	switch t {
	case "emerg", "panic":
		return Emergency, nil
	case "crit":
		return Critical, nil
	case "err":
		return Error, nil
	case "warn":
		return Warning, nil
	}
	if n, err := strconv.Atoi(t); err == nil && n >= 0 && n <= 7 {
		return int32(n), nil
	}
	return 0, fmt.Errorf("severity %q is not a number 0..7 or one of emergency, alert, critical, error, warning, notice, info, debug", s)
}

// Message is one metlog message. The zero value is an empty message.
//
// Ownership: a Message is not safe for concurrent mutation. Whoever holds a
// *Message may keep the strings and values it reads from it; byte slices in
// Field.Bytes must be copied before the Message is reused or mutated.
type Message struct {
	UUID       [16]byte // zero when the sender gave none
	Timestamp  int64    // nanoseconds since the UNIX epoch
	Type       string   // counter, timer, gauge, oldstyle, exception, sentry, cef, or any label
	Logger     string   // the emitting application or component
	Severity   int32    // RFC 5424: 0 emergency .. 7 debug
	Payload    string
	EnvVersion string
	Pid        int32
	Hostname   string
	Fields     []Field
}

// ValueType is the type of a Field's values, numbered as in Heka's schema.
type ValueType int32

// The value types of a Field.
const (
	String  ValueType = 0
	Bytes   ValueType = 1
	Integer ValueType = 2
	Double  ValueType = 3
	Bool    ValueType = 4
)

var valueTypeNames = [...]string{"string", "bytes", "integer", "double", "bool"}

// String returns the lower-case name of t ("string", "bytes", "integer",
// "double", "bool").
func (t ValueType) String() string {
	if t >= 0 && int(t) < len(valueTypeNames) {
		return valueTypeNames[t]
	}
	return "valuetype(" + strconv.Itoa(int(t)) + ")"
}

// ParseValueType is the inverse of ValueType.String; it also accepts "int"
// and "float".
func ParseValueType(s string) (ValueType, bool) {
	for i, n := range valueTypeNames {
		if s == n {
			return ValueType(i), true
		}
	}
	switch s {
	case "int":
		return Integer, true
	case "float":
		return Double, true
	}
	return 0, false
}

// Field is one named array of values of one type. Only the slice that
// matches Type is meaningful; decoders keep whatever arrays arrived, and
// encoders write every non-empty one, as protobuf does.
type Field struct {
	Name           string
	Representation string // unit or format, such as "ms" or "count"
	Type           ValueType
	Strings        []string
	Bytes          [][]byte
	Integers       []int64
	Doubles        []float64
	Bools          []bool
}

// NewString returns a string field holding vs.
func NewString(name string, vs ...string) Field {
	return Field{Name: name, Type: String, Strings: vs}
}

// NewBytes returns a bytes field holding vs.
func NewBytes(name string, vs ...[]byte) Field {
	return Field{Name: name, Type: Bytes, Bytes: vs}
}

// NewInt returns an integer field holding vs.
func NewInt(name string, vs ...int64) Field {
	return Field{Name: name, Type: Integer, Integers: vs}
}

// NewDouble returns a double field holding vs.
func NewDouble(name string, vs ...float64) Field {
	return Field{Name: name, Type: Double, Doubles: vs}
}

// NewBool returns a bool field holding vs.
func NewBool(name string, vs ...bool) Field {
	return Field{Name: name, Type: Bool, Bools: vs}
}

// WithRepresentation returns f with its representation set to r.
func (f Field) WithRepresentation(r string) Field {
	f.Representation = r
	return f
}

// Len returns the number of values of f's type.
func (f *Field) Len() int {
	switch f.Type {
	case String:
		return len(f.Strings)
	case Bytes:
		return len(f.Bytes)
	case Integer:
		return len(f.Integers)
	case Double:
		return len(f.Doubles)
	case Bool:
		return len(f.Bools)
	}
	return 0
}

// Value returns the i-th value of f's type as a string, []byte, int64,
// float64 or bool, and false when there is none. It allocates for all but
// strings and byte slices; hot paths read the typed slices directly.
func (f *Field) Value(i int) (any, bool) {
	if i < 0 || i >= f.Len() {
		return nil, false
	}
	switch f.Type {
	case String:
		return f.Strings[i], true
	case Bytes:
		return f.Bytes[i], true
	case Integer:
		return f.Integers[i], true
	case Double:
		return f.Doubles[i], true
	case Bool:
		return f.Bools[i], true
	}
	return nil, false
}

// reset empties f for reuse, keeping the capacity of its arrays.
func (f *Field) reset(name string, t ValueType) {
	f.Name = name
	f.Representation = ""
	f.Type = t
	f.Strings = f.Strings[:0]
	f.Bytes = f.Bytes[:0]
	f.Integers = f.Integers[:0]
	f.Doubles = f.Doubles[:0]
	f.Bools = f.Bools[:0]
}

// Equal reports whether f and g have the same name, representation, type and
// values. Doubles compare by bits, so NaN equals NaN.
func (f *Field) Equal(g *Field) bool {
	if f.Name != g.Name || f.Representation != g.Representation || f.Type != g.Type ||
		!slices.Equal(f.Strings, g.Strings) || !slices.Equal(f.Integers, g.Integers) ||
		!slices.Equal(f.Bools, g.Bools) || len(f.Doubles) != len(g.Doubles) || len(f.Bytes) != len(g.Bytes) {
		return false
	}
	for i := range f.Doubles {
		if math.Float64bits(f.Doubles[i]) != math.Float64bits(g.Doubles[i]) {
			return false
		}
	}
	for i := range f.Bytes {
		if !bytes.Equal(f.Bytes[i], g.Bytes[i]) {
			return false
		}
	}
	return true
}

// Reset empties m for reuse, keeping the capacity of its fields.
func (m *Message) Reset() {
	fields := m.Fields[:0]
	*m = Message{Fields: fields}
}

// Equal reports whether m and o carry the same header values and fields, in
// the same order.
func (m *Message) Equal(o *Message) bool {
	if m.UUID != o.UUID || m.Timestamp != o.Timestamp || m.Type != o.Type || m.Logger != o.Logger ||
		m.Severity != o.Severity || m.Payload != o.Payload || m.EnvVersion != o.EnvVersion ||
		m.Pid != o.Pid || m.Hostname != o.Hostname || len(m.Fields) != len(o.Fields) {
		return false
	}
	for i := range m.Fields {
		if !m.Fields[i].Equal(&o.Fields[i]) {
			return false
		}
	}
	return true
}

// Clone returns a deep copy of m that shares no memory with it.
func (m *Message) Clone() *Message {
	c := *m
	c.Fields = nil
	if len(m.Fields) > 0 {
		c.Fields = make([]Field, len(m.Fields))
		for i := range m.Fields {
			f := &m.Fields[i]
			c.Fields[i] = Field{
				Name: f.Name, Representation: f.Representation, Type: f.Type,
				Strings: slices.Clone(f.Strings), Integers: slices.Clone(f.Integers),
				Doubles: slices.Clone(f.Doubles), Bools: slices.Clone(f.Bools),
			}
			if f.Bytes != nil {
				c.Fields[i].Bytes = make([][]byte, len(f.Bytes))
				for j, b := range f.Bytes {
					c.Fields[i].Bytes[j] = bytes.Clone(b)
				}
			}
		}
	}
	return &c
}

// AddField appends a field, reusing the capacity of a field previously
// removed by Reset, and returns it for the caller to fill. It is the
// allocation-free way to build messages in a loop.
func (m *Message) AddField(name string, t ValueType) *Field {
	n := len(m.Fields)
	if n < cap(m.Fields) {
		m.Fields = m.Fields[:n+1]
	} else {
		m.Fields = append(m.Fields, Field{})
	}
	f := &m.Fields[n]
	f.reset(name, t)
	return f
}

// AddString appends a string field with one value.
func (m *Message) AddString(name, v string) {
	f := m.AddField(name, String)
	f.Strings = append(f.Strings, v)
}

// AddBytes appends a bytes field with one value; the message keeps v.
func (m *Message) AddBytes(name string, v []byte) {
	f := m.AddField(name, Bytes)
	f.Bytes = append(f.Bytes, v)
}

// AddInt appends an integer field with one value.
func (m *Message) AddInt(name string, v int64) {
	f := m.AddField(name, Integer)
	f.Integers = append(f.Integers, v)
}

// AddDouble appends a double field with one value.
func (m *Message) AddDouble(name string, v float64) {
	f := m.AddField(name, Double)
	f.Doubles = append(f.Doubles, v)
}

// AddBool appends a bool field with one value.
func (m *Message) AddBool(name string, v bool) {
	f := m.AddField(name, Bool)
	f.Bools = append(f.Bools, v)
}

// Field returns the first field named name, or nil.
func (m *Message) Field(name string) *Field {
	for i := range m.Fields {
		if m.Fields[i].Name == name {
			return &m.Fields[i]
		}
	}
	return nil
}

// FieldAt returns the fi-th field (counting from 0) named name, or nil. A
// message may carry several fields of one name; Heka's matcher addresses
// them as Fields[name][fi].
func (m *Message) FieldAt(name string, fi int) *Field {
	for i := range m.Fields {
		if m.Fields[i].Name == name {
			if fi == 0 {
				return &m.Fields[i]
			}
			fi--
		}
	}
	return nil
}

// RemoveFields deletes every field named name and reports how many it removed.
func (m *Message) RemoveFields(name string) int {
	n := len(m.Fields)
	m.Fields = slices.DeleteFunc(m.Fields, func(f Field) bool { return f.Name == name })
	// DeleteFunc zeroes the tail; the capacity it leaves is reused by AddField.
	return n - len(m.Fields)
}

// GetString returns the first value of the first field named name when that
// field is of type String.
func (m *Message) GetString(name string) (string, bool) {
	if f := m.Field(name); f != nil && f.Type == String && len(f.Strings) > 0 {
		return f.Strings[0], true
	}
	return "", false
}

// GetBytes returns the first value of the first field named name when that
// field is of type Bytes.
func (m *Message) GetBytes(name string) ([]byte, bool) {
	if f := m.Field(name); f != nil && f.Type == Bytes && len(f.Bytes) > 0 {
		return f.Bytes[0], true
	}
	return nil, false
}

// GetInt returns the first value of the first field named name when that
// field is of type Integer.
func (m *Message) GetInt(name string) (int64, bool) {
	if f := m.Field(name); f != nil && f.Type == Integer && len(f.Integers) > 0 {
		return f.Integers[0], true
	}
	return 0, false
}

// GetDouble returns the first value of the first field named name when that
// field is of type Double.
func (m *Message) GetDouble(name string) (float64, bool) {
	if f := m.Field(name); f != nil && f.Type == Double && len(f.Doubles) > 0 {
		return f.Doubles[0], true
	}
	return 0, false
}

// GetNumber returns the first value of the first field named name as a
// float64 when that field is of type Integer or Double.
func (m *Message) GetNumber(name string) (float64, bool) {
	f := m.Field(name)
	switch {
	case f == nil:
	case f.Type == Double && len(f.Doubles) > 0:
		return f.Doubles[0], true
	case f.Type == Integer && len(f.Integers) > 0:
		return float64(f.Integers[0]), true
	}
	return 0, false
}

// GetBool returns the first value of the first field named name when that
// field is of type Bool.
func (m *Message) GetBool(name string) (bool, bool) {
	if f := m.Field(name); f != nil && f.Type == Bool && len(f.Bools) > 0 {
		return f.Bools[0], true
	}
	return false, false
}
