package message

import (
	"encoding/binary"
	"errors"
	"math/rand/v2"
)

// NewUUID returns a random (version 4, RFC 9562) UUID. It draws from the
// runtime's per-thread ChaCha8 generator, which the OS seeds: unique in
// practice, lock-free, and about ten times cheaper than crypto/rand. UUIDs
// name messages; they are not secrets.
func NewUUID() (u [16]byte) {
	// Byte 6 holds the version in its high nibble, byte 8 the variant in
	// its two high bits; little-endian, they are bits 52-55 of the first
	// word and 6-7 of the second.
	hi := rand.Uint64()&^(0xf<<52) | 0x4<<52 // version 4
	lo := rand.Uint64()&^(0x3<<6) | 0x2<<6   // RFC 9562 variant
	binary.LittleEndian.PutUint64(u[0:8], hi)
	binary.LittleEndian.PutUint64(u[8:16], lo)
	return u
}

const hexDigits = "0123456789abcdef"

// AppendUUID appends the canonical 36-character form of u
// (xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx, lower case) to dst.
func AppendUUID(dst []byte, u [16]byte) []byte {
	for i, b := range u {
		if i == 4 || i == 6 || i == 8 || i == 10 {
			dst = append(dst, '-')
		}
		dst = append(dst, hexDigits[b>>4], hexDigits[b&0xf])
	}
	return dst
}

// FormatUUID returns the canonical 36-character form of u.
func FormatUUID(u [16]byte) string {
	return string(AppendUUID(make([]byte, 0, 36), u))
}

var errBadUUID = errors.New("uuid is not 32 hex digits in the form xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx")

// ParseUUID reads a UUID in its canonical 36-character form, or as 32 hex
// digits without dashes. Upper- and lower-case digits are accepted.
func ParseUUID(s string) ([16]byte, error) {
	var u [16]byte
	switch len(s) {
	case 36:
		if s[8] != '-' || s[13] != '-' || s[18] != '-' || s[23] != '-' {
			return u, errBadUUID
		}
	case 32:
	default:
		return u, errBadUUID
	}
	dashed := len(s) == 36
	j := 0
	for i := 0; i < 16; i++ {
		if dashed && (i == 4 || i == 6 || i == 8 || i == 10) {
			j++
		}
		hi, ok1 := unhex(s[j])
		lo, ok2 := unhex(s[j+1])
		if !ok1 || !ok2 {
			return [16]byte{}, errBadUUID
		}
		u[i] = hi<<4 | lo
		j += 2
	}
	return u, nil
}

func unhex(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}
