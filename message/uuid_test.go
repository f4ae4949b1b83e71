package message

import (
	"strings"
	"testing"
)

func TestNewUUID(t *testing.T) {
	seen := make(map[[16]byte]bool)
	for range 10000 {
		u := NewUUID()
		if u[6]>>4 != 4 {
			t.Fatalf("%x: version nibble %d, want 4", u, u[6]>>4)
		}
		if u[8]>>6 != 2 {
			t.Fatalf("%x: variant bits %02b, want 10", u, u[8]>>6)
		}
		if seen[u] {
			t.Fatalf("%x generated twice", u)
		}
		seen[u] = true
	}
	// Every other bit varies: over many UUIDs, each position is sometimes 0
	// and sometimes 1.
	var ones, zeros [16]byte
	for u := range seen {
		for i := range u {
			ones[i] |= u[i]
			zeros[i] |= ^u[i]
		}
	}
	for i := range ones {
		fixed := byte(0)
		switch i {
		case 6:
			fixed = 0xf0
		case 8:
			fixed = 0xc0
		}
		if ones[i]|fixed != 0xff || zeros[i]|fixed != 0xff {
			t.Errorf("byte %d: bits never set %08b, never clear %08b", i, ^ones[i]&^fixed, ^zeros[i]&^fixed)
		}
	}
}

func TestUUIDText(t *testing.T) {
	u := [16]byte{0xf5, 0xa1, 0x8d, 0xd2, 0xf4, 0x43, 0x49, 0xed, 0x80, 0x00, 0x7b, 0x10, 0xdc, 0xbe, 0x87, 0xf1}
	const s = "f5a18dd2-f443-49ed-8000-7b10dcbe87f1"
	if got := FormatUUID(u); got != s {
		t.Fatalf("FormatUUID = %q, want %q", got, s)
	}
	for _, in := range []string{s, strings.ToUpper(s), strings.ReplaceAll(s, "-", "")} {
		if got, err := ParseUUID(in); err != nil || got != u {
			t.Errorf("ParseUUID(%q) = %x, %v", in, got, err)
		}
	}
	for _, bad := range []string{"", "f5a18dd2", s + "0", strings.Replace(s, "-", "x", 1), strings.Replace(s, "f", "g", 1),
		"f5a18dd2f443-49ed-8000-7b10dcbe87f1-", strings.ReplaceAll(s, "-", "")[:31] + "-"} {
		if _, err := ParseUUID(bad); err == nil {
			t.Errorf("ParseUUID(%q) accepted", bad)
		}
	}
}

func BenchmarkNewUUID(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		_ = NewUUID()
	}
}
