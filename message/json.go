package message

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/go-json-experiment/json/jsontext"
)

// Canonical JSON: one lossless object per message, keys in a fixed order,
// for files, HTTP outputs, jq and Elasticsearch:
//
//	{"uuid":"…","timestamp":"2026-11-24T23:48:03.080606123Z","type":"counter",
//	 "logger":"myapp","severity":6,"payload":"1","env_version":"0.8","pid":10273,
//	 "hostname":"vm","fields":{"name":"req.count","rate":1.0}}
//
// A field takes the plain form, a scalar or an array of scalars, when its
// type (string, integer, double or bool) can be told from its values: it has
// no representation, at least one value, and no NaN or infinite double.
// Doubles always carry a '.' or an exponent, so 1.0 stays a double. Every
// other field takes the descriptor form,
//
//	{"type":"bytes","representation":"ms","value":["AAE="]}
//
// with bytes in standard base64 and NaN and infinities as the strings "NaN",
// "+Inf" and "-Inf". Fields sharing a name appear under that name once, as
// an array of descriptors in message order. The fields of one name thus move
// to where the first of them stands: the order among fields of one name,
// which is what Heka's Fields[name][i] addresses, is kept.

// AppendJSON appends m as one canonical JSON object (without a trailing
// newline) to dst and returns the result. It allocates only when dst must
// grow.
func AppendJSON(dst []byte, m *Message) []byte {
	dst = append(dst, `{"uuid":"`...)
	dst = AppendUUID(dst, m.UUID)
	dst = append(dst, `","timestamp":"`...)
	dst = appendTime(dst, m.Timestamp, 9)
	dst = append(dst, `","type":`...)
	dst = appendJSONString(dst, m.Type)
	dst = append(dst, `,"logger":`...)
	dst = appendJSONString(dst, m.Logger)
	dst = append(dst, `,"severity":`...)
	dst = strconv.AppendInt(dst, int64(m.Severity), 10)
	dst = append(dst, `,"payload":`...)
	dst = appendJSONString(dst, m.Payload)
	dst = append(dst, `,"env_version":`...)
	dst = appendJSONString(dst, m.EnvVersion)
	dst = append(dst, `,"pid":`...)
	dst = strconv.AppendInt(dst, int64(m.Pid), 10)
	dst = append(dst, `,"hostname":`...)
	dst = appendJSONString(dst, m.Hostname)
	if n := len(m.Fields); n > 0 {
		var nextBuf [smallFields]int32
		var dupBuf [smallFields]bool
		next, dup := nextBuf[:], dupBuf[:]
		if n > smallFields {
			next, dup = make([]int32, n), make([]bool, n)
		}
		linkNames(m.Fields, next, dup)
		dst = append(dst, `,"fields":{`...)
		for i := range m.Fields {
			f := &m.Fields[i]
			if dup[i] {
				continue // written with the first field of its name
			}
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = appendJSONString(dst, f.Name)
			dst = append(dst, ':')
			switch {
			case next[i] < 0 && isPlain(f):
				dst = appendValues(dst, f)
			case next[i] < 0:
				dst = appendDescriptor(dst, f)
			default:
				dst = append(dst, '[')
				for j := int32(i); j >= 0; j = next[j] {
					if j > int32(i) {
						dst = append(dst, ',')
					}
					dst = appendDescriptor(dst, &m.Fields[j])
				}
				dst = append(dst, ']')
			}
		}
		dst = append(dst, '}')
	}
	return append(dst, '}')
}

// smallFields is the number of fields up to which the encoders allocate
// nothing.
const smallFields = 64

// linkNames sets next[i] to the index of the next field named like
// fields[i], or -1, and dup[i] to whether a field before it has its name.
// It takes time linear in the number of fields beyond smallFields, and
// allocates only then.
func linkNames(fields []Field, next []int32, dup []bool) {
	var last map[string]int32
	if len(fields) > smallFields {
		last = make(map[string]int32, len(fields))
	}
	for i := range fields {
		next[i], dup[i] = -1, false
		prev, ok := int32(-1), false
		if last != nil {
			prev, ok = last[fields[i].Name]
			last[fields[i].Name] = int32(i)
		} else {
			for j := i - 1; j >= 0 && !ok; j-- {
				prev, ok = int32(j), fields[j].Name == fields[i].Name
			}
		}
		if ok {
			next[prev], dup[i] = int32(i), true
		}
	}
}

// isPlain reports whether f's type can be told from its values alone.
func isPlain(f *Field) bool {
	if f.Representation != "" || f.Len() == 0 || f.Type == Bytes {
		return false
	}
	for _, v := range f.Doubles {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return false
		}
	}
	return true
}

func appendDescriptor(dst []byte, f *Field) []byte {
	dst = append(dst, `{"type":"`...)
	dst = append(dst, f.Type.String()...)
	dst = append(dst, '"')
	if f.Representation != "" {
		dst = append(dst, `,"representation":`...)
		dst = appendJSONString(dst, f.Representation)
	}
	dst = append(dst, `,"value":`...)
	if f.Len() == 0 {
		dst = append(dst, '[', ']')
	} else {
		dst = appendValues(dst, f)
	}
	return append(dst, '}')
}

// appendValues appends f's values in canonical JSON: a scalar for one
// value, else an array.
func appendValues(dst []byte, f *Field) []byte {
	n := f.Len()
	if n == 1 {
		return appendValue(dst, f, 0, false)
	}
	dst = append(dst, '[')
	for i := range n {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = appendValue(dst, f, i, false)
	}
	return append(dst, ']')
}

// appendValue appends the i-th value of f; py selects metlog JSON's forms
// of strings and doubles. NaN and the infinities, which JSON numbers cannot
// hold, become strings: "NaN", "+Inf" and "-Inf" in canonical JSON; "NaN",
// "Infinity" and "-Infinity", the names Python's json module uses, in
// metlog JSON.
func appendValue(dst []byte, f *Field, i int, py bool) []byte {
	switch f.Type {
	case String:
		if py {
			return appendPyString(dst, f.Strings[i])
		}
		return appendJSONString(dst, f.Strings[i])
	case Bytes:
		dst = append(dst, '"')
		dst = base64.StdEncoding.AppendEncode(dst, f.Bytes[i])
		return append(dst, '"')
	case Integer:
		return strconv.AppendInt(dst, f.Integers[i], 10)
	case Double:
		v := f.Doubles[i]
		switch {
		case math.IsNaN(v):
			return append(dst, `"NaN"`...)
		case math.IsInf(v, 1) && py:
			return append(dst, `"Infinity"`...)
		case math.IsInf(v, 1):
			return append(dst, `"+Inf"`...)
		case math.IsInf(v, -1) && py:
			return append(dst, `"-Infinity"`...)
		case math.IsInf(v, -1):
			return append(dst, `"-Inf"`...)
		case py:
			return appendPyFloat(dst, v)
		}
		// Shortest digits, in the notation encoding/json and JavaScript use
		// (fixed unless tiny or huge), and always with a '.' or an exponent
		// so the value reads back as a double, not an integer.
		start := len(dst)
		format := byte('f')
		if abs := math.Abs(v); abs != 0 && (abs < 1e-6 || abs >= 1e21) {
			format = 'e'
		}
		dst = strconv.AppendFloat(dst, v, format, -1, 64)
		if format == 'e' { // 1e-07 as 1e-7
			if n := len(dst); dst[n-4] == 'e' && dst[n-3] == '-' && dst[n-2] == '0' {
				dst[n-2] = dst[n-1]
				dst = dst[:n-1]
			}
		}
		if !bytes.ContainsAny(dst[start:], ".e") {
			dst = append(dst, '.', '0')
		}
		return dst
	case Bool:
		return strconv.AppendBool(dst, f.Bools[i])
	}
	return dst
}

// appendJSONString appends s as a JSON string: UTF-8 as is; '"', '\\' and
// control characters escaped; each byte of invalid UTF-8 as \ufffd.
func appendJSONString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= ' ' && c != '"' && c != '\\' {
				i++
				continue
			}
			dst = appendEscape(append(dst, s[start:i]...), c)
		} else {
			r, size := utf8.DecodeRuneInString(s[i:])
			if r != utf8.RuneError || size != 1 {
				i += size
				continue
			}
			dst = append(append(dst, s[start:i]...), `\ufffd`...)
		}
		i++
		start = i
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}

// appendEscape appends the JSON escape of the ASCII character c.
func appendEscape(dst []byte, c byte) []byte {
	switch c {
	case '"', '\\':
		return append(dst, '\\', c)
	case '\n':
		return append(dst, '\\', 'n')
	case '\r':
		return append(dst, '\\', 'r')
	case '\t':
		return append(dst, '\\', 't')
	case '\b':
		return append(dst, '\\', 'b')
	case '\f':
		return append(dst, '\\', 'f')
	}
	return append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
}

// appendTime appends ns as a UTC time YYYY-MM-DDTHH:MM:SS.fffZ with digits
// fraction digits, truncated, except where that would leave the range of
// int64 nanoseconds.
func appendTime(dst []byte, ns int64, digits int) []byte {
	t := time.Unix(0, ns).UTC()
	step := int(pow10[9-digits])
	frac := t.Nanosecond() / step
	if ns < math.MinInt64+int64(t.Nanosecond()%step) {
		frac++ // no carry: the fraction of math.MinInt64 is .145224192
	}
	y, mo, d := t.Date()
	h, mi, s := t.Clock()
	dst = appendDigits(dst, y, 4)
	dst = appendDigits(append(dst, '-'), int(mo), 2)
	dst = appendDigits(append(dst, '-'), d, 2)
	dst = appendDigits(append(dst, 'T'), h, 2)
	dst = appendDigits(append(dst, ':'), mi, 2)
	dst = appendDigits(append(dst, ':'), s, 2)
	dst = appendDigits(append(dst, '.'), frac, digits)
	return append(dst, 'Z')
}

// appendDigits appends the non-negative v in decimal, zero-padded to width.
func appendDigits(dst []byte, v, width int) []byte {
	var b [20]byte
	i := len(b)
	for v > 0 || i > len(b)-width {
		i--
		b[i] = byte('0' + v%10)
		v /= 10
	}
	return append(dst, b[i:]...)
}

var pow10 = [...]int64{1, 10, 100, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9}

// DecodeJSON replaces m's contents with the canonical JSON object in b,
// reusing the capacity of m.Fields; m keeps no reference to b. Being also
// the decoder of JSON that people write, it is lenient: keys may come in any
// order and are all optional (severity defaults to 6, Info), "timestamp" may
// be an integer of nanoseconds or any RFC 3339 time, "uuid" may lack its
// dashes, "severity" may be a name such as "warning", a plain array of
// integers and fractions is a double field, a descriptor without "type"
// takes the type its values suggest, and any other key becomes a field as
// DecodeMetlogJSON makes them. Invalid UTF-8 becomes U+FFFD. On error m
// holds what was decoded so far.
func DecodeJSON(b []byte, m *Message) error {
	d := newJSONDecoder(b, false)
	err := d.message(m)
	d.release()
	return err
}

// maxJSONDepth bounds the nesting of objects and arrays that the decoders
// descend into, and so their recursion.
const maxJSONDepth = 32

// jsonDecoder is the state of one decode. It is pooled so that its
// jsontext.Decoder and scratch buffers are reused.
type jsonDecoder struct {
	dec    jsontext.Decoder
	rd     bytes.Reader
	in     string // a copy of the input; decoded strings are substrings of it where possible
	off    int    // offset in in of the value read last
	path   []byte // dotted name of the field being flattened
	names  int    // bytes that flattened names may still take
	buf    []byte // scratch
	metlog bool   // decoding metlog JSON rather than canonical JSON
}

var jsonDecoders = sync.Pool{New: func() any { return new(jsonDecoder) }}

// decodeOptions accept duplicate names (the last wins, or every one becomes
// a field) and invalid UTF-8 (it becomes U+FFFD), as hostile input may have
// both.
var decodeOptions = []jsontext.Options{jsontext.AllowDuplicateNames(true), jsontext.AllowInvalidUTF8(true)}

func newJSONDecoder(b []byte, metlog bool) *jsonDecoder {
	d := jsonDecoders.Get().(*jsonDecoder)
	d.rd.Reset(b)
	d.dec.Reset(&d.rd, decodeOptions...)
	d.in = string(b)
	d.names = len(b) + 64<<10
	d.metlog = metlog
	return d
}

// release returns d to the pool, unless a large input made its buffers
// grow: those are left to the garbage collector.
func (d *jsonDecoder) release() {
	if d.rd.Size() > 64<<10 || cap(d.buf) > 64<<10 {
		return
	}
	d.rd.Reset(nil)
	d.in = ""
	jsonDecoders.Put(d)
}

// message decodes the top-level object into m.
func (d *jsonDecoder) message(m *Message) error {
	m.Reset()
	m.Severity = Info
	pidKey, hostKey := "pid", "hostname"
	if d.metlog {
		pidKey, hostKey = "metlog_pid", "metlog_hostname"
	}
	switch d.dec.PeekKind() {
	case '{':
		d.dec.ReadToken()
	case jsontext.KindInvalid:
		if _, err := d.dec.ReadToken(); err != io.EOF {
			return d.syntaxError(err)
		}
		return d.errorf("the input is empty")
	default:
		v, err := d.read()
		if err != nil {
			return err
		}
		return d.errorf("the input must be a JSON object, got %s", quoteValue(v))
	}
	for d.dec.PeekKind() != '}' {
		key, err := d.key()
		if err != nil {
			return err
		}
		switch key {
		case "uuid":
			err = d.uuid(m)
		case "timestamp":
			m.Timestamp, err = d.timestamp()
		case "type":
			m.Type, err = d.str(key)
		case "logger":
			m.Logger, err = d.str(key)
		case "severity":
			err = d.severity(m)
		case "payload":
			m.Payload, err = d.payload()
		case "env_version":
			m.EnvVersion, err = d.str(key)
		case pidKey:
			err = d.pid(m, key)
		case hostKey:
			m.Hostname, err = d.str(key)
		case "fields":
			err = d.fields(m)
		default:
			d.path = append(d.path[:0], key...)
			err = d.flat(m, key, false)
		}
		if err != nil {
			return err
		}
	}
	d.dec.ReadToken()
	if _, err := d.dec.ReadToken(); err != io.EOF {
		if err == nil {
			return d.errorf("unexpected data after the JSON object")
		}
		return d.syntaxError(err)
	}
	return nil
}

func (d *jsonDecoder) errorf(format string, args ...any) error {
	what := "JSON: "
	if d.metlog {
		what = "metlog JSON: "
	}
	return errors.New(what + fmt.Sprintf(format, args...))
}

func (d *jsonDecoder) syntaxError(err error) error {
	if err == io.EOF || errors.Is(err, io.ErrUnexpectedEOF) {
		return d.errorf("the input ends early")
	}
	return d.errorf("%s", strings.TrimPrefix(err.Error(), "jsontext: "))
}

// quoteValue returns v for an error message, shortened and as valid UTF-8.
func quoteValue(v jsontext.Value) string {
	s := string(v)
	if len(s) > 64 {
		s = s[:60] + "…"
	}
	return strings.ToValidUTF8(s, "\uFFFD")
}

// read reads the next value and records its offset in d.in.
func (d *jsonDecoder) read() (jsontext.Value, error) {
	v, err := d.dec.ReadValue()
	if err != nil {
		return nil, d.syntaxError(err)
	}
	d.off = int(d.dec.InputOffset()) - len(v)
	return v, nil
}

// key reads an object member's name.
func (d *jsonDecoder) key() (string, error) {
	v, err := d.read()
	if err != nil {
		return "", err
	}
	return d.text(v), nil
}

// text returns what the scalar v, read last, stands for as a string: a
// string's contents, a literal's own text. Without escapes or invalid UTF-8
// it is a substring of d.in and costs nothing.
func (d *jsonDecoder) text(v jsontext.Value) string {
	if v[0] != '"' {
		return d.in[d.off : d.off+len(v)]
	}
	if raw := v[1 : len(v)-1]; bytes.IndexByte(raw, '\\') < 0 && utf8.Valid(raw) {
		return d.in[d.off+1 : d.off+len(v)-1]
	}
	// The decoder has validated v, so the only errors left report invalid
	// UTF-8 or lone surrogates, which have become U+FFFD.
	d.buf, _ = jsontext.AppendUnquote(d.buf[:0], v)
	return string(d.buf)
}

// compact returns the object or array v without insignificant whitespace,
// its strings re-encoded as valid UTF-8. v, read whole, must not nest deeper
// than the values the decoders descend into.
func (d *jsonDecoder) compact(v jsontext.Value) (string, error) {
	depth, inString := d.dec.StackDepth(), false
	for i := 0; i < len(v); i++ {
		switch c := v[i]; {
		case inString && c == '\\':
			i++
		case c == '"':
			inString = !inString
		case inString:
		case c == '{' || c == '[':
			if depth++; depth > maxJSONDepth {
				return "", d.errorf("objects and arrays nest deeper than %d levels", maxJSONDepth)
			}
		case c == '}' || c == ']':
			depth--
		}
	}
	c := jsontext.Value(append(d.buf[:0], v...))
	_ = c.Compact(jsontext.PreserveRawStrings(false)) // cannot fail: v is valid
	d.buf = c
	return string(c), nil
}

// open reads the '{' or '[' that comes next, refusing to nest too deep.
func (d *jsonDecoder) open() error {
	if d.dec.StackDepth() >= maxJSONDepth {
		return d.errorf("objects and arrays nest deeper than %d levels", maxJSONDepth)
	}
	if _, err := d.dec.ReadToken(); err != nil {
		return d.syntaxError(err)
	}
	return nil
}

// str reads a string member; null is "".
func (d *jsonDecoder) str(key string) (string, error) {
	v, err := d.read()
	switch {
	case err != nil:
		return "", err
	case v[0] == '"':
		return d.text(v), nil
	case v[0] == 'n':
		return "", nil
	}
	return "", d.errorf("%q must be a string, got %s", key, quoteValue(v))
}

// payload reads a value of any type as a string: a string's contents, a
// number's or boolean's text, "" for null, an object's or array's compact
// JSON.
func (d *jsonDecoder) payload() (string, error) {
	v, err := d.read()
	switch {
	case err != nil:
		return "", err
	case v[0] == 'n':
		return "", nil
	case v[0] == '{' || v[0] == '[':
		return d.compact(v)
	}
	return d.text(v), nil
}

func (d *jsonDecoder) uuid(m *Message) error {
	v, err := d.read()
	if err != nil || v[0] == 'n' {
		m.UUID = [16]byte{}
		return err
	}
	if v[0] == '"' {
		s := d.text(v)
		if s == "" {
			m.UUID = [16]byte{}
			return nil
		}
		if m.UUID, err = ParseUUID(s); err == nil {
			return nil
		}
	}
	return d.errorf(`"uuid" must be a UUID such as "f5a18dd2-f443-49ed-8000-7b10dcbe87f1", got %s`, quoteValue(v))
}

// integer reads v as an integer: a JSON integer, a number with an integral
// value, or a string holding either.
func (d *jsonDecoder) integer(v jsontext.Value) (int64, bool) {
	if c := v[0]; c != '"' && c != '-' && (c < '0' || c > '9') {
		return 0, false
	}
	s := d.text(v)
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		return n, true
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || f != math.Trunc(f) || f < -(1<<63) || f >= 1<<63 {
		return 0, false
	}
	return int64(f), true
}

// severity reads an integer 0..7, as a string too; canonical JSON takes any
// int32 and the names of ParseSeverity. null is the default, Info.
func (d *jsonDecoder) severity(m *Message) error {
	v, err := d.read()
	if err != nil || v[0] == 'n' {
		m.Severity = Info
		return err
	}
	n, ok := d.integer(v)
	switch {
	case d.metlog && ok && n >= 0 && n <= 7:
		m.Severity = int32(n)
		return nil
	case d.metlog:
		return d.errorf(`"severity" must be an integer 0..7, got %s`, quoteValue(v))
	case ok && n == int64(int32(n)):
		m.Severity = int32(n)
		return nil
	case v[0] == '"':
		if m.Severity, err = ParseSeverity(d.text(v)); err == nil {
			return nil
		}
	}
	return d.errorf(`"severity" must be an integer 0..7 or a severity name, got %s`, quoteValue(v))
}

func (d *jsonDecoder) pid(m *Message, key string) error {
	v, err := d.read()
	if err != nil || v[0] == 'n' {
		m.Pid = 0
		return err
	}
	n, ok := d.integer(v)
	if !ok || n != int64(int32(n)) {
		return d.errorf("%q must be an integer in the range of int32, got %s", key, quoteValue(v))
	}
	m.Pid = int32(n)
	return nil
}

// timestamp reads an RFC 3339 time, or a number: seconds since the epoch in
// metlog JSON, integer nanoseconds in canonical JSON. null is 0.
func (d *jsonDecoder) timestamp() (int64, error) {
	v, err := d.read()
	if err != nil || v[0] == 'n' {
		return 0, err
	}
	if v[0] == '"' {
		ns, err := parseTimestamp(d.text(v))
		if err != nil {
			return 0, d.errorf(`"timestamp" %s is not a valid time: %v`, quoteValue(v), err)
		}
		return ns, nil
	}
	if v[0] == '-' || v[0] >= '0' && v[0] <= '9' {
		if d.metlog {
			if ns, ok := parseEpochSeconds(d.text(v)); ok {
				return ns, nil
			}
		} else if ns, err := strconv.ParseInt(d.text(v), 10, 64); err == nil {
			return ns, nil
		}
	}
	unit := "integer nanoseconds"
	if d.metlog {
		unit = "seconds"
	}
	return 0, d.errorf(`"timestamp" must be an RFC 3339 time or %s since the epoch, got %s`, unit, quoteValue(v))
}

// fields reads the "fields" object: nested objects flatten to dotted names
// in metlog JSON; canonical JSON holds plain values and descriptors.
func (d *jsonDecoder) fields(m *Message) error {
	switch d.dec.PeekKind() {
	case '{':
	case 'n':
		_, err := d.read()
		return err
	default:
		v, err := d.read()
		if err != nil {
			return err
		}
		return d.errorf(`"fields" must be an object, got %s`, quoteValue(v))
	}
	if err := d.open(); err != nil {
		return err
	}
	for d.dec.PeekKind() != '}' {
		name, err := d.key()
		if err != nil {
			return err
		}
		switch k := d.dec.PeekKind(); {
		case d.metlog || k != '{' && k != '[':
			d.path = append(d.path[:0], name...)
			err = d.flat(m, name, false)
		case k == '{':
			err = d.descriptor(m.AddField(name, String))
		default:
			err = d.array(m, name, true)
		}
		if err != nil {
			return err
		}
	}
	_, err := d.dec.ReadToken()
	return err
}

// flat reads a value into fields named by d.path, flattening objects into
// dotted names; null adds nothing. name is d.path as a string when nested
// is false.
func (d *jsonDecoder) flat(m *Message, name string, nested bool) error {
	switch d.dec.PeekKind() {
	case 'n':
		_, err := d.read()
		return err
	case '{':
		if err := d.open(); err != nil {
			return err
		}
		for d.dec.PeekKind() != '}' {
			key, err := d.key()
			if err != nil {
				return err
			}
			n := len(d.path)
			d.path = append(append(d.path, '.'), key...)
			err = d.flat(m, "", true)
			d.path = d.path[:n]
			if err != nil {
				return err
			}
		}
		_, err := d.dec.ReadToken()
		return err
	}
	if nested {
		// Each flattened name repeats its prefix; bound what that costs.
		if d.names -= len(d.path); d.names < 0 {
			return d.errorf("the flattened field names take more than 64 KiB beyond the size of the input")
		}
		name = string(d.path)
	}
	if d.dec.PeekKind() == '[' {
		return d.array(m, name, false)
	}
	f := m.AddField(name, String)
	k, err := d.elem(f)
	infer(f, k)
	return err
}

// Kinds of JSON values, as bits of a set.
const (
	kindString = 1 << iota
	kindInt    // an integer literal in the range of int64
	kindFloat  // any other number
	kindBool
	kindOther // null, object or array
)

// elem reads one value, appends its text to f.Strings (a string's contents,
// a literal's text, an object's or array's compact JSON) and returns its
// kind.
func (d *jsonDecoder) elem(f *Field) (int, error) {
	v, err := d.read()
	if err != nil {
		return 0, err
	}
	if v[0] == '{' || v[0] == '[' {
		s, err := d.compact(v)
		f.Strings = append(f.Strings, s)
		return kindOther, err
	}
	s := d.text(v)
	f.Strings = append(f.Strings, s)
	switch v[0] {
	case '"':
		return kindString, nil
	case 't', 'f':
		return kindBool, nil
	case 'n':
		return kindOther, nil
	}
	if bytes.ContainsAny(v, ".eE") {
		return kindFloat, nil
	}
	if _, err := strconv.ParseInt(s, 10, 64); err != nil {
		return kindFloat, nil
	}
	return kindInt, nil
}

// array reads an array into one field named name whose type its elements
// decide (see infer); with descriptors, an array of objects is one field
// per descriptor.
func (d *jsonDecoder) array(m *Message, name string, descriptors bool) error {
	if err := d.open(); err != nil {
		return err
	}
	if descriptors && d.dec.PeekKind() == '{' {
		for d.dec.PeekKind() == '{' {
			if err := d.descriptor(m.AddField(name, String)); err != nil {
				return err
			}
		}
		if d.dec.PeekKind() != ']' {
			return d.errorf("field %q: an array of descriptors must hold only objects", name)
		}
	} else {
		f := m.AddField(name, String)
		kinds := 0
		for d.dec.PeekKind() != ']' {
			k, err := d.elem(f)
			if err != nil {
				return err
			}
			kinds |= k
		}
		infer(f, kinds)
	}
	_, err := d.dec.ReadToken()
	return err
}

// infer gives f, whose values elem collected as text, the type they share:
// strings are String, integers Integer, numbers with at least one fraction
// Double, booleans Bool; no values, or values of mixed kinds, are String
// (each the element's text).
func infer(f *Field, kinds int) {
	switch kinds {
	case kindInt:
		f.fromText(Integer)
	case kindFloat, kindInt | kindFloat:
		f.fromText(Double)
	case kindBool:
		f.fromText(Bool)
	default:
		f.Type = String
	}
}

// kindsOf are the kinds of JSON values that a descriptor's values of each
// type may have.
var kindsOf = [...]int{
	String:  kindString,
	Bytes:   kindString,
	Integer: kindInt,
	Double:  kindInt | kindFloat | kindString,
	Bool:    kindBool,
}

// descriptor reads {"type":…,"representation":…,"value":…} into f.
func (d *jsonDecoder) descriptor(f *Field) error {
	if err := d.open(); err != nil {
		return err
	}
	t, typed, kinds := String, false, 0
	for d.dec.PeekKind() != '}' {
		key, err := d.key()
		if err != nil {
			return err
		}
		switch key {
		case "type":
			v, err := d.read()
			if err != nil {
				return err
			}
			if t, typed = ParseValueType(d.text(v)); !typed || v[0] != '"' {
				return d.errorf(`field %q: "type" must be one of "string", "bytes", "integer", "double", "bool", got %s`, f.Name, quoteValue(v))
			}
		case "representation":
			v, err := d.read()
			if err != nil {
				return err
			}
			if v[0] != '"' {
				return d.errorf(`field %q: "representation" must be a string, got %s`, f.Name, quoteValue(v))
			}
			f.Representation = d.text(v)
		case "value":
			f.Strings, kinds = f.Strings[:0], 0
			if d.dec.PeekKind() != '[' {
				kinds, err = d.elem(f)
				if err != nil {
					return err
				}
				break
			}
			if err := d.open(); err != nil {
				return err
			}
			for d.dec.PeekKind() != ']' {
				k, err := d.elem(f)
				if err != nil {
					return err
				}
				kinds |= k
			}
			d.dec.ReadToken()
		default:
			return d.errorf(`field %q: a descriptor has only "type", "representation" and "value", got %q`, f.Name, key)
		}
	}
	d.dec.ReadToken()
	if !typed {
		infer(f, kinds)
		return nil
	}
	if kinds&^kindsOf[t] != 0 {
		return d.errorf("field %q: the values of a %s field must all be %s", f.Name, t, kindNames[t])
	}
	if s, ok := f.fromText(t); !ok {
		return d.errorf("field %q: %q is not a %s value", f.Name, s, t)
	}
	return nil
}

var kindNames = [...]string{
	String:  "strings",
	Bytes:   "base64 strings",
	Integer: "integers in the range of int64",
	Double:  `numbers or "NaN", "+Inf", "-Inf"`,
	Bool:    "true or false",
}

// fromText converts the texts that elem collected in f.Strings to values
// of type t. It returns the first text that is not one.
func (f *Field) fromText(t ValueType) (string, bool) {
	f.Type = t
	if t == String {
		return "", true
	}
	for _, s := range f.Strings {
		switch t {
		case Bytes:
			b, err := base64.StdEncoding.DecodeString(s)
			if err != nil {
				return s, false
			}
			f.Bytes = append(f.Bytes, b)
		case Integer:
			n, err := strconv.ParseInt(s, 10, 64)
			if err != nil {
				return s, false
			}
			f.Integers = append(f.Integers, n)
		case Double:
			x, err := strconv.ParseFloat(s, 64)
			if err != nil && !errors.Is(err, strconv.ErrRange) {
				return s, false
			}
			f.Doubles = append(f.Doubles, x)
		case Bool:
			f.Bools = append(f.Bools, s == "true")
		}
	}
	f.Strings = f.Strings[:0]
	return "", true
}

var (
	errTimeLayout = errors.New("want YYYY-MM-DDTHH:MM:SS, then optionally . and 1 to 9 digits, then optionally Z or ±HH:MM")
	errTimeField  = errors.New("a month, day, hour, minute, second or offset is out of range")
	errTimeRange  = errors.New("it is outside the years 1678 to 2261 that int64 nanoseconds hold")
)

// parseTimestamp reads an RFC 3339 time, YYYY-MM-DDTHH:MM:SS with 0 to 9
// fraction digits and an optional Z or ±HH:MM offset, into nanoseconds since
// the epoch, exactly. 't' and ' ' may stand for 'T' and 'z' for 'Z'; a
// time without a zone is UTC.
func parseTimestamp(s string) (int64, error) {
	if len(s) < 19 || s[4] != '-' || s[7] != '-' || s[10] != 'T' && s[10] != 't' && s[10] != ' ' || s[13] != ':' || s[16] != ':' {
		return 0, errTimeLayout
	}
	year, ok1 := atoi(s[0:4])
	month, ok2 := atoi(s[5:7])
	day, ok3 := atoi(s[8:10])
	hour, ok4 := atoi(s[11:13])
	minute, ok5 := atoi(s[14:16])
	sec, ok6 := atoi(s[17:19])
	if !ok1 || !ok2 || !ok3 || !ok4 || !ok5 || !ok6 {
		return 0, errTimeLayout
	}
	if month < 1 || month > 12 || day < 1 || day > daysIn(month, year) || hour > 23 || minute > 59 || sec > 59 {
		return 0, errTimeField
	}
	rest := s[19:]
	var frac int64
	if rest != "" && rest[0] == '.' {
		n := 1
		for n < len(rest) && rest[n] >= '0' && rest[n] <= '9' {
			n++
		}
		if n == 1 || n > 10 {
			return 0, errTimeLayout
		}
		f, _ := atoi(rest[1:n])
		frac = f * pow10[10-n]
		rest = rest[n:]
	}
	var offset int64
	switch {
	case rest == "" || rest == "Z" || rest == "z":
	case len(rest) == 6 && (rest[0] == '+' || rest[0] == '-') && rest[3] == ':':
		oh, ok1 := atoi(rest[1:3])
		om, ok2 := atoi(rest[4:6])
		if !ok1 || !ok2 {
			return 0, errTimeLayout
		}
		if oh > 23 || om > 59 {
			return 0, errTimeField
		}
		offset = oh*3600 + om*60
		if rest[0] == '-' {
			offset = -offset
		}
	default:
		return 0, errTimeLayout
	}
	unix := time.Date(int(year), time.Month(month), int(day), int(hour), int(minute), int(sec), 0, time.UTC).Unix()
	ns, ok := unixNano(unix-offset, frac)
	if !ok {
		return 0, errTimeRange
	}
	return ns, nil
}

// atoi reads the unsigned decimal s of at most 18 digits.
func atoi(s string) (int64, bool) {
	var n int64
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int64(c-'0')
	}
	return n, len(s) > 0
}

func daysIn(month, year int64) int64 {
	switch month {
	case 2:
		if year%4 == 0 && (year%100 != 0 || year%400 == 0) {
			return 29
		}
		return 28
	case 4, 6, 9, 11:
		return 30
	}
	return 31
}

// unixNano returns sec seconds plus frac (0 ≤ frac < 1e9) nanoseconds since
// the epoch in nanoseconds, and false when int64 cannot hold them.
func unixNano(sec, frac int64) (int64, bool) {
	const nsPerSec = 1_000_000_000
	const maxSec, minSec = math.MaxInt64 / nsPerSec, math.MinInt64/nsPerSec - 1
	if sec > maxSec || sec < minSec {
		return 0, false
	}
	if sec < 0 { // move a second into frac so that sec*1e9 cannot overflow
		sec++
		frac -= 1e9
	}
	ns := sec * 1e9
	if frac > 0 && ns > math.MaxInt64-frac || frac < 0 && ns < math.MinInt64-frac {
		return 0, false
	}
	return ns + frac, true
}

// parseEpochSeconds reads a JSON number of seconds since the epoch into
// nanoseconds: exactly when it is written without an exponent (digits past
// the ninth decimal are dropped), through float64 otherwise.
func parseEpochSeconds(s string) (int64, bool) {
	if strings.ContainsAny(s, "eE") {
		f, err := strconv.ParseFloat(s, 64)
		ns := math.Round(f * 1e9)
		if err != nil || !(ns >= math.MinInt64 && ns < math.MaxInt64) {
			return 0, false
		}
		return int64(ns), true
	}
	neg := s != "" && s[0] == '-'
	if neg {
		s = s[1:]
	}
	ip, fp, _ := strings.Cut(s, ".")
	sec, ok := atoi(ip)
	if !ok || len(ip) > 18 {
		return 0, false
	}
	fp = fp[:min(len(fp), 9)]
	frac, _ := atoi(fp)
	ns, ok := unixNano(sec, frac*pow10[9-len(fp)])
	if neg {
		ns = -ns
	}
	return ns, ok
}
