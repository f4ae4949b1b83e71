package main

import (
	"encoding/hex"
	"math"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/metlog/metlog/message"
)

// appendPretty appends the one-line human rendering of m that tail and
// match -pretty print:
//
//	2026-11-25T00:23:33.553Z info    counter acceptance: 1 {rate=1 name=req.count}
//
// time (UTC, milliseconds), severity name, type, logger, payload with line
// breaks and control characters escaped, and the fields in braces. With
// color, the severity is coloured with ANSI escapes.
func appendPretty(dst []byte, m *message.Message, color bool) []byte {
	if m.Timestamp == 0 {
		dst = append(dst, "-                       "...)
	} else {
		dst = time.Unix(0, m.Timestamp).UTC().AppendFormat(dst, "2006-01-02T15:04:05.000Z")
	}
	dst = append(dst, ' ')
	sev := message.SeverityName(m.Severity)
	if color {
		dst = append(dst, severityColor(m.Severity)...)
	}
	dst = append(dst, sev...)
	if color {
		dst = append(dst, "\x1b[0m"...)
	}
	for i := len(sev); i < len("warning"); i++ {
		dst = append(dst, ' ')
	}
	dst = append(dst, ' ')
	dst = appendOr(dst, m.Type, "-")
	dst = append(dst, ' ')
	dst = appendOr(dst, m.Logger, "-")
	dst = append(dst, ':')
	if m.Payload != "" {
		dst = append(dst, ' ')
		dst = appendEscaped(dst, m.Payload)
	}
	if len(m.Fields) > 0 {
		dst = append(dst, " {"...)
		for i := range m.Fields {
			if i > 0 {
				dst = append(dst, ' ')
			}
			dst = appendField(dst, &m.Fields[i])
		}
		dst = append(dst, '}')
	}
	return dst
}

func appendOr(dst []byte, s, alt string) []byte {
	if s == "" {
		return append(dst, alt...)
	}
	return appendEscaped(dst, s)
}

// severityColor is the ANSI colour of a severity: red for error and worse,
// yellow for warning, cyan for notice, plain for info, dim for debug.
func severityColor(s int32) string {
	switch {
	case s <= message.Error:
		return "\x1b[31m"
	case s == message.Warning:
		return "\x1b[33m"
	case s == message.Notice:
		return "\x1b[36m"
	case s == message.Debug:
		return "\x1b[2m"
	}
	return "\x1b[0m"
}

// appendEscaped appends s with backslash, line breaks, tabs, other control
// characters and invalid UTF-8 escaped, so that it stays on one line.
func appendEscaped(dst []byte, s string) []byte {
	for i := 0; i < len(s); {
		c := s[i]
		if c >= 0x20 && c != 0x7f && c != '\\' && c < utf8.RuneSelf {
			dst = append(dst, c)
			i++
			continue
		}
		switch c {
		case '\\':
			dst = append(dst, `\\`...)
			i++
			continue
		case '\n':
			dst = append(dst, `\n`...)
			i++
			continue
		case '\r':
			dst = append(dst, `\r`...)
			i++
			continue
		case '\t':
			dst = append(dst, `\t`...)
			i++
			continue
		}
		if c < utf8.RuneSelf {
			dst = append(dst, `\x`...)
			dst = append(dst, hexDigit(c>>4), hexDigit(c&15))
			i++
			continue
		}
		r, n := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && n == 1 {
			dst = append(dst, `\x`...)
			dst = append(dst, hexDigit(c>>4), hexDigit(c&15))
		} else {
			dst = append(dst, s[i:i+n]...)
		}
		i += n
	}
	return dst
}

func hexDigit(b byte) byte { return "0123456789abcdef"[b&15] }

// appendField appends name=value, or name=[v1,v2] for several values.
func appendField(dst []byte, f *message.Field) []byte {
	dst = appendEscaped(dst, f.Name)
	dst = append(dst, '=')
	n := f.Len()
	if n != 1 {
		dst = append(dst, '[')
	}
	for i := 0; i < n; i++ {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = appendValue(dst, f, i)
	}
	if n != 1 {
		dst = append(dst, ']')
	}
	return dst
}

// appendValue appends the i-th value of f: strings quoted when they are
// empty or hold spaces, quotes, '=', braces, brackets or commas; bytes in
// hex with a 0x prefix.
func appendValue(dst []byte, f *message.Field, i int) []byte {
	switch f.Type {
	case message.String:
		s := f.Strings[i]
		if needsQuotes(s) {
			return strconv.AppendQuote(dst, s)
		}
		return appendEscaped(dst, s)
	case message.Bytes:
		dst = append(dst, "0x"...)
		return hex.AppendEncode(dst, f.Bytes[i])
	case message.Integer:
		return strconv.AppendInt(dst, f.Integers[i], 10)
	case message.Double:
		return appendDouble(dst, f.Doubles[i])
	case message.Bool:
		return strconv.AppendBool(dst, f.Bools[i])
	}
	return dst
}

// appendDouble writes v as the shortest decimal that reads back the same,
// without an exponent for ordinary magnitudes.
func appendDouble(dst []byte, v float64) []byte {
	if a := math.Abs(v); a != 0 && (a < 1e-6 || a >= 1e21) {
		return strconv.AppendFloat(dst, v, 'g', -1, 64)
	}
	return strconv.AppendFloat(dst, v, 'f', -1, 64)
}

func needsQuotes(s string) bool {
	if s == "" {
		return true
	}
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case ' ', '"', '=', '{', '}', '[', ']', ',':
			return true
		default:
			if c < 0x20 || c == 0x7f {
				return true
			}
		}
	}
	return false
}
