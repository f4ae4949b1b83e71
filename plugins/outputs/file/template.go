package fileout

import (
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"time"
)

// A template is a file path with strftime-style time placeholders:
//
//	%Y  year, 4 digits        %H  hour 00..23
//	%m  month 01..12          %M  minute 00..59
//	%d  day of month 01..31   %S  second 00..60
//	%j  day of year 001..366  %%  a percent sign
//
// Anything else after a % is an error, so that a typo is caught when the
// configuration is loaded rather than written into file names.
type template struct {
	segs     []segment
	hasVerbs bool
	// ext is the literal extension of the file name (".jsonl"), kept last
	// in the names of rotated files; "" when the name has none or when a
	// placeholder follows its last dot.
	ext string
}

// A segment is literal text or, when verb is not 0, one placeholder.
type segment struct {
	lit  string
	verb byte
}

// verbWidth is the number of digits each placeholder expands to.
var verbWidth = [256]int8{'Y': 4, 'm': 2, 'd': 2, 'H': 2, 'M': 2, 'S': 2, 'j': 3}

// rotatedStamp is the layout of the time in a rotated file's name, UTC.
const rotatedStamp = "20060102T150405.000Z"

// rotatedGlob matches rotatedStamp's output.
const rotatedGlob = "[0-9][0-9][0-9][0-9][0-9][0-9][0-9][0-9]T[0-9][0-9][0-9][0-9][0-9][0-9].[0-9][0-9][0-9]Z"

// parseTemplate reads a path template.
func parseTemplate(s string) (*template, error) {
	if s == "" {
		return nil, errors.New("is required: the file to write, such as \"./metlog-data/messages-%Y-%m-%d.jsonl\"")
	}
	if strings.IndexByte(s, 0) >= 0 {
		return nil, errors.New("contains a NUL byte")
	}
	if strings.HasSuffix(s, "/") || strings.HasSuffix(s, string(filepath.Separator)) {
		return nil, fmt.Errorf("%q names a directory; give a file name", s)
	}
	t := &template{}
	var lit strings.Builder
	flush := func() {
		if lit.Len() > 0 {
			t.segs = append(t.segs, segment{lit: lit.String()})
			lit.Reset()
		}
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c != '%' {
			lit.WriteByte(c)
			continue
		}
		if i+1 == len(s) {
			return nil, fmt.Errorf("%q ends with a lone %%; write %%%% for a percent sign", s)
		}
		i++
		v := s[i]
		if v == '%' {
			lit.WriteByte('%')
			continue
		}
		if verbWidth[v] == 0 {
			return nil, fmt.Errorf("%%%c in %q is not a placeholder; use %%Y %%m %%d %%H %%M %%S %%j, or %%%% for a percent sign", v, s)
		}
		flush()
		t.segs = append(t.segs, segment{verb: v})
		t.hasVerbs = true
	}
	flush()
	if n := len(t.segs); n > 0 && t.segs[n-1].verb == 0 {
		last := t.segs[n-1].lit
		sep := strings.LastIndexAny(last, "/"+string(filepath.Separator))
		base := last[sep+1:]
		startsName := sep >= 0 || n == 1 // base is the whole file name
		// A leading dot makes a hidden file, not an extension.
		if dot := strings.LastIndexByte(base, '.'); dot > 0 || dot == 0 && !startsName {
			t.ext = base[dot:]
		}
	}
	return t, nil
}

// appendPath appends the path for time tm to dst.
func (t *template) appendPath(dst []byte, tm time.Time) []byte {
	if !t.hasVerbs {
		for _, s := range t.segs {
			dst = append(dst, s.lit...)
		}
		return dst
	}
	year, month, day := tm.Date()
	hour, minute, sec := tm.Clock()
	for _, s := range t.segs {
		switch s.verb {
		case 0:
			dst = append(dst, s.lit...)
		case 'Y':
			dst = appendDigits(dst, year, 4)
		case 'm':
			dst = appendDigits(dst, int(month), 2)
		case 'd':
			dst = appendDigits(dst, day, 2)
		case 'H':
			dst = appendDigits(dst, hour, 2)
		case 'M':
			dst = appendDigits(dst, minute, 2)
		case 'S':
			dst = appendDigits(dst, sec, 2)
		case 'j':
			dst = appendDigits(dst, tm.YearDay(), 3)
		}
	}
	return dst
}

// appendDigits appends v in exactly width decimal digits (the low ones).
func appendDigits(dst []byte, v, width int) []byte {
	if v < 0 {
		v = -v
	}
	n := len(dst)
	for range width {
		dst = append(dst, 0)
	}
	for i := len(dst) - 1; i >= n; i-- {
		dst[i] = byte('0' + v%10)
		v /= 10
	}
	return dst
}

// glob returns a filepath.Glob pattern matching every path the template
// can expand to.
func (t *template) glob() string {
	var b strings.Builder
	for _, s := range t.segs {
		if s.verb == 0 {
			b.WriteString(globEscape(s.lit))
			continue
		}
		for range verbWidth[s.verb] {
			b.WriteString("[0-9]")
		}
	}
	return b.String()
}

// rotatedGlob returns a pattern matching the names rotatedName gives the
// template's files.
func (t *template) rotatedGlob() string {
	g := t.glob()
	ext := globEscape(t.ext)
	return g[:len(g)-len(ext)] + "." + rotatedGlob + ext
}

// rotatedName appends to dst the name a file at path (an expansion of the
// template) takes when it is rotated at tm: the UTC time with milliseconds
// before the extension, "messages.jsonl" becoming
// "messages.20260102T150405.123Z.jsonl".
func (t *template) rotatedName(dst []byte, path string, tm time.Time) []byte {
	dst = append(dst, path[:len(path)-len(t.ext)]...)
	dst = append(dst, '.')
	dst = tm.UTC().AppendFormat(dst, rotatedStamp)
	return append(dst, t.ext...)
}

// globEscape quotes the characters filepath.Glob treats specially.
func globEscape(s string) string {
	if !strings.ContainsAny(s, `*?[\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '*', '?', '[', '\\':
			b.WriteByte('\\')
		}
		b.WriteByte(s[i])
	}
	return b.String()
}
