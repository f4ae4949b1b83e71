package message

import (
	"bytes"
	"strconv"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// metlog JSON is the envelope metlog-py sends, one object per UDP datagram
// or line:
//
//	{"severity": 6, "timestamp": "2026-11-24T23:48:03.080606Z", "metlog_hostname": "vm",
//	 "fields": {"rate": 1.0, "name": "req.count"}, "metlog_pid": 10273, "logger": "myapp",
//	 "type": "counter", "payload": "1", "env_version": "0.8"}

// DecodeMetlogJSON replaces m's contents with the metlog JSON object in b,
// reusing the capacity of m.Fields; m keeps no reference to b.
//
// The keys type, timestamp, logger, severity, payload, fields, env_version,
// metlog_pid, metlog_hostname and uuid fill the message header; any other
// key becomes a field, as the members of "fields" do. A missing (or null)
// severity is 6, Info, metlog-py's default, and a missing timestamp 0.
// Severity and metlog_pid are integers, also written as 4.0 or "4". A
// timestamp is an RFC 3339 time, UTC when it has no zone, or a number of
// seconds since the epoch. A payload of another type than string becomes
// its JSON text ("" for null); other strings are "" when null.
//
// Fields: nested objects flatten to dotted names ({"b": {"c": 1}} is the
// field "b.c"); strings are String fields, integers in the range of int64
// Integer, other numbers Double, booleans Bool, null adds no field. An array
// is one field of several values typed by its elements, or, when they are of
// mixed types or objects, a String field of their JSON texts. Invalid UTF-8
// becomes U+FFFD. Objects and arrays may nest 32 deep, and flattened names
// may take at most 64 KiB more than the input. On error m holds what was
// decoded so far.
func DecodeMetlogJSON(b []byte, m *Message) error {
	d := newJSONDecoder(b, true)
	err := d.message(m)
	d.release()
	return err
}

// AppendMetlogJSON appends m to dst as metlog-py's json.dumps writes a
// message, byte for byte, and returns the result; it allocates only when
// dst must grow (or when m has more than 64 fields). The keys come in
// metlog-py's order, all of them always; the timestamp is UTC with
// microseconds; strings are ASCII with \uXXXX escapes; doubles are written as
// Python's repr writes floats. There is no uuid, as metlog-py has none.
//
// Dotted field names nest again ("b.c" is written {"b": {"c": …}}), in the
// order names first appear, except a name below another field's name ("a.b"
// when "a" exists), which stays flat, as do all names of a message with
// more than 64 fields. Fields of one name merge into one list. A single value is a scalar, none or several a list. Bytes are base64
// strings; NaN and the infinities, which JSON numbers cannot hold, are the
// strings "NaN", "Infinity" and "-Infinity".
func AppendMetlogJSON(dst []byte, m *Message) []byte {
	dst = append(dst, `{"severity": `...)
	dst = strconv.AppendInt(dst, int64(m.Severity), 10)
	dst = append(dst, `, "timestamp": "`...)
	dst = appendTime(dst, m.Timestamp, 6)
	dst = append(dst, `", "metlog_hostname": `...)
	dst = appendPyString(dst, m.Hostname)
	dst = append(dst, `, "fields": {`...)
	if n := len(m.Fields); n > 0 {
		var nextBuf [smallFields]int32
		var dupBuf [smallFields]bool
		l := links{nextBuf[:], dupBuf[:], ^uint64(0)}
		if n > smallFields {
			l.next, l.dup = make([]int32, n), make([]bool, n)
		} else {
			l.flat = flatNames(m.Fields)
		}
		linkNames(m.Fields, l.next, l.dup)
		dst = l.appendFields(dst, m.Fields, "")
	}
	dst = append(dst, `}, "metlog_pid": `...)
	dst = strconv.AppendInt(dst, int64(m.Pid), 10)
	dst = append(dst, `, "logger": `...)
	dst = appendPyString(dst, m.Logger)
	dst = append(dst, `, "type": `...)
	dst = appendPyString(dst, m.Type)
	dst = append(dst, `, "payload": `...)
	dst = appendPyString(dst, m.Payload)
	dst = append(dst, `, "env_version": `...)
	dst = appendPyString(dst, m.EnvVersion)
	return append(dst, '}')
}

// links says how the fields of a message sit in metlog JSON: next and dup
// link the fields of one name (see linkNames), and bit i of flat is set
// when fields[i] keeps its dotted name flat.
type links struct {
	next []int32
	dup  []bool
	flat uint64
}

// flatNames returns the set of the (at most smallFields) fields that stay
// flat: those whose name has a proper dotted prefix that is the name of
// another field. Messages of more fields stay flat entirely, so that the
// quadratic work here and in memberBefore stays small.
func flatNames(fields []Field) uint64 {
	var flat uint64
	for i := range fields {
		name := fields[i].Name
		for k := 0; k < len(name); k++ {
			if name[k] == '.' && hasName(fields, name[:k]) {
				flat |= 1 << i
				break
			}
		}
	}
	return flat
}

func hasName(fields []Field, name string) bool {
	for i := range fields {
		if fields[i].Name == name {
			return true
		}
	}
	return false
}

// member returns the key under which fields[i] appears in the object of the
// fields named prefix… ("" for the top), and whether it appears there at
// all. leaf is true when the key holds the field's values rather than an
// object of fields nested deeper. Flat fields appear at the top under their
// whole name.
func (l *links) member(fields []Field, i int, prefix string) (key string, leaf, ok bool) {
	name := fields[i].Name
	if i >= smallFields || l.flat&(1<<i) != 0 {
		return name, true, prefix == ""
	}
	if !strings.HasPrefix(name, prefix) {
		return "", false, false
	}
	key = name[len(prefix):]
	if k := strings.IndexByte(key, '.'); k >= 0 {
		return key[:k], false, true
	}
	return key, true, true
}

// appendFields appends the members of the object of the fields named
// prefix…, each key in the place of its first field.
func (l *links) appendFields(dst []byte, fields []Field, prefix string) []byte {
	first := true
	for i := range fields {
		key, leaf, ok := l.member(fields, i, prefix)
		if !ok || leaf && l.dup[i] || !leaf && l.memberBefore(fields, i, prefix, key) {
			continue
		}
		if !first {
			dst = append(dst, ',', ' ')
		}
		first = false
		dst = appendPyString(dst, key)
		dst = append(dst, ':', ' ')
		if leaf {
			dst = l.appendMerged(dst, fields, i)
		} else {
			dst = append(dst, '{')
			dst = l.appendFields(dst, fields, fields[i].Name[:len(prefix)+len(key)+1])
			dst = append(dst, '}')
		}
	}
	return dst
}

// memberBefore reports whether a field before fields[i] appears under key
// in the object of the fields named prefix….
func (l *links) memberBefore(fields []Field, i int, prefix, key string) bool {
	for j := range i {
		if k, _, ok := l.member(fields, j, prefix); ok && k == key {
			return true
		}
	}
	return false
}

// appendMerged appends the values of fields[i] and the fields after it of
// the same name as one value: a scalar when they hold one in all, else a
// list.
func (l *links) appendMerged(dst []byte, fields []Field, i int) []byte {
	n, only := 0, int32(i)
	for j := int32(i); j >= 0; j = l.next[j] {
		if k := fields[j].Len(); k > 0 {
			n += k
			only = j
		}
	}
	if n == 1 {
		return appendValue(dst, &fields[only], 0, true)
	}
	dst = append(dst, '[')
	first := true
	for j := int32(i); j >= 0; j = l.next[j] {
		for k := range fields[j].Len() {
			if !first {
				dst = append(dst, ',', ' ')
			}
			first = false
			dst = appendValue(dst, &fields[j], k, true)
		}
	}
	return append(dst, ']')
}

// appendPyString appends s as Python's json.dumps writes a string with
// ensure_ascii: printable ASCII as is, '"' and '\\' escaped, \n \r \t \b
// \f, every other character as \uXXXX in lower-case hex (a surrogate pair
// above U+FFFF), each byte of invalid UTF-8 as \ufffd.
func appendPyString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c >= ' ' && c < utf8.RuneSelf-1 && c != '"' && c != '\\' {
			i++
			continue
		}
		dst = append(dst, s[start:i]...)
		if c < utf8.RuneSelf {
			dst = appendEscape(dst, c)
			i++
		} else {
			r, size := utf8.DecodeRuneInString(s[i:])
			if r1, r2 := utf16.EncodeRune(r); r1 != utf8.RuneError {
				dst = appendU(appendU(dst, r1), r2)
			} else {
				dst = appendU(dst, r)
			}
			i += size
		}
		start = i
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}

// appendU appends the escape \uXXXX of the UTF-16 code unit r.
func appendU(dst []byte, r rune) []byte {
	return append(dst, '\\', 'u', hexDigits[r>>12&0xf], hexDigits[r>>8&0xf], hexDigits[r>>4&0xf], hexDigits[r&0xf])
}

// appendPyFloat appends the finite v as Python's repr writes it: the
// shortest digits that read back as v, in fixed notation with at least one
// fraction digit when the decimal exponent is in [-4, 16), else in
// exponent notation with a sign and at least two exponent digits (1e+16,
// 1e-05, 1.5e+300).
func appendPyFloat(dst []byte, v float64) []byte {
	var buf [32]byte
	e := strconv.AppendFloat(buf[:0], v, 'e', -1, 64) // [-]d[.ddd]e±dd
	if e[0] == '-' {
		dst = append(dst, '-')
		e = e[1:]
	}
	x := bytes.LastIndexByte(e, 'e')
	mant, exp := e[:x], e[x+1:]
	var digits [20]byte
	ds := append(append(digits[:0], mant[0]), mant[min(2, len(mant)):]...)
	n := 0
	for _, c := range exp[1:] {
		n = n*10 + int(c-'0')
	}
	if exp[0] == '-' {
		n = -n
	}
	switch {
	case n < -4 || n >= 16:
		return append(append(append(dst, mant...), 'e'), exp...)
	case n < 0:
		dst = append(dst, '0', '.')
		for range -n - 1 {
			dst = append(dst, '0')
		}
		return append(dst, ds...)
	case len(ds) <= n+1:
		dst = append(dst, ds...)
		for range n + 1 - len(ds) {
			dst = append(dst, '0')
		}
		return append(dst, '.', '0')
	}
	dst = append(dst, ds[:n+1]...)
	return append(append(dst, '.'), ds[n+1:]...)
}
