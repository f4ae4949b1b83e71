package pipeline

import (
	"encoding/json"
	"fmt"
	"reflect"
	"strconv"
	"strings"
)

// ByteSize is a size in bytes, written in a configuration as a number or
// as a string with a unit: "512", "64KiB", "10MB", "1.5GiB" (KB, MB, GB are
// powers of 1000; KiB, MiB, GiB of 1024; B or nothing means bytes).
type ByteSize int64

// UnmarshalTOML reads a number of bytes or a string with a unit.
func (b *ByteSize) UnmarshalTOML(v any) error {
	switch v := v.(type) {
	case int64:
		if v < 0 {
			return fmt.Errorf("size %d is negative", v)
		}
		*b = ByteSize(v)
		return nil
	case string:
		n, err := ParseByteSize(v)
		if err != nil {
			return err
		}
		*b = n
		return nil
	}
	return fmt.Errorf("a size must be a number of bytes or a string like \"64KiB\", not %T", v)
}

// UnmarshalText reads a size written by MarshalText, or with a unit. It
// lets a section's configuration go through JSON and back (reload
// restores an input's previous configuration that way).
func (b *ByteSize) UnmarshalText(t []byte) error {
	n, err := ParseByteSize(string(t))
	if err != nil {
		return err
	}
	*b = n
	return nil
}

// MarshalText writes the size as a number of bytes.
func (b ByteSize) MarshalText() ([]byte, error) { return []byte(strconv.FormatInt(int64(b), 10)), nil }

var byteUnits = map[string]float64{
	"": 1, "b": 1,
	"kb": 1e3, "mb": 1e6, "gb": 1e9, "tb": 1e12,
	"kib": 1 << 10, "mib": 1 << 20, "gib": 1 << 30, "tib": 1 << 40,
	"k": 1 << 10, "m": 1 << 20, "g": 1 << 30,
}

// ParseByteSize reads a size such as "64KiB" or "10MB".
func ParseByteSize(s string) (ByteSize, error) {
	t := strings.TrimSpace(s)
	i := strings.IndexFunc(t, func(r rune) bool { return !(r >= '0' && r <= '9' || r == '.') })
	num, unit := t, ""
	if i >= 0 {
		num, unit = t[:i], strings.ToLower(strings.TrimSpace(t[i:]))
	}
	f, err := strconv.ParseFloat(num, 64)
	mult, ok := byteUnits[unit]
	if err != nil || !ok || f < 0 {
		return 0, fmt.Errorf("size %q is not a number of bytes with an optional unit (B, KB, MB, GB, KiB, MiB, GiB)", s)
	}
	if v := f * mult; v < 1<<62 {
		return ByteSize(v), nil
	}
	return 0, fmt.Errorf("size %q is too large", s)
}

// tomlFields maps the configuration keys of v (a pointer to a struct: its
// exported fields' toml tags, embedded structs included) to the fields.
func tomlFields(v any) map[string]reflect.Value {
	out := map[string]reflect.Value{}
	var walk func(rv reflect.Value)
	walk = func(rv reflect.Value) {
		for rv.Kind() == reflect.Pointer {
			if rv.IsNil() {
				return
			}
			rv = rv.Elem()
		}
		if rv.Kind() != reflect.Struct {
			return
		}
		t := rv.Type()
		for i := 0; i < t.NumField(); i++ {
			f := t.Field(i)
			if !f.IsExported() {
				continue
			}
			tag := strings.Split(f.Tag.Get("toml"), ",")[0]
			if f.Anonymous && tag == "" {
				walk(rv.Field(i))
				continue
			}
			if tag == "-" {
				continue
			}
			if tag == "" {
				tag = f.Name
			}
			out[tag] = rv.Field(i)
		}
	}
	walk(reflect.ValueOf(v))
	return out
}

// fingerprint renders a section's configuration canonically, so that a
// reload can tell which plugins changed.
func fingerprint(s *Section) string {
	p, err := json.Marshal(s.Plugin)
	if err != nil {
		p = []byte(fmt.Sprintf("%p", s.Plugin)) // not comparable: always a change
	}
	c, _ := json.Marshal(s.common)
	return s.Type + "\x00" + string(c) + "\x00" + string(p)
}
