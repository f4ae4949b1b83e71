package message

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"slices"

	"google.golang.org/protobuf/encoding/protowire"
)

// The protobuf codec of Message and Header. It writes exactly the bytes
// Heka's Go client writes (fields in number order, value_type and
// representation always present on a field, numeric arrays packed), and
// reads everything a proto2 parser accepts: packed or unpacked arrays,
// unknown fields, fields in any order. pb.Message is the reference these
// functions are tested against.

// Field numbers of message.proto.
const (
	fnUUID       = 1
	fnTimestamp  = 2
	fnType       = 3
	fnLogger     = 4
	fnSeverity   = 5
	fnPayload    = 6
	fnEnvVersion = 7
	fnPid        = 8
	fnHostname   = 9
	fnFields     = 10

	fnFieldName           = 1
	fnFieldValueType      = 2
	fnFieldRepresentation = 3
	fnFieldString         = 4
	fnFieldBytes          = 5
	fnFieldInteger        = 6
	fnFieldDouble         = 7
	fnFieldBool           = 8

	fnHeaderLength     = 1
	fnHeaderHashFunc   = 3
	fnHeaderSigner     = 4
	fnHeaderKeyVersion = 5
	fnHeaderHmac       = 6
)

// Size returns the length of m's protobuf encoding.
func (m *Message) Size() int {
	var buf [16]int
	n, _ := m.sizes(buf[:0])
	return n
}

// sizes returns the length of m's encoding and the encoded length of each
// field, appended to fs (pass a stack array; it grows only past 16 fields).
func (m *Message) sizes(fs []int) (int, []int) {
	n := 2 + 16 // uuid tag, length, bytes
	n += 1 + protowire.SizeVarint(uint64(m.Timestamp))
	n += sizeOptString(m.Type) + sizeOptString(m.Logger)
	n += 1 + protowire.SizeVarint(uint64(int64(m.Severity)))
	n += sizeOptString(m.Payload) + sizeOptString(m.EnvVersion)
	if m.Pid != 0 {
		n += 1 + protowire.SizeVarint(uint64(int64(m.Pid)))
	}
	n += sizeOptString(m.Hostname)
	for i := range m.Fields {
		fsz := m.Fields[i].size()
		fs = append(fs, fsz)
		n += 1 + protowire.SizeVarint(uint64(fsz)) + fsz
	}
	return n, fs
}

func sizeOptString(s string) int {
	if s == "" {
		return 0
	}
	return 1 + protowire.SizeBytes(len(s))
}

func (f *Field) size() int {
	n := 1 + protowire.SizeBytes(len(f.Name))
	n += 1 + protowire.SizeVarint(uint64(int64(f.Type)))
	n += 1 + protowire.SizeBytes(len(f.Representation))
	for _, s := range f.Strings {
		n += 1 + protowire.SizeBytes(len(s))
	}
	for _, b := range f.Bytes {
		n += 1 + protowire.SizeBytes(len(b))
	}
	if len(f.Integers) > 0 {
		n += 1 + protowire.SizeBytes(sizeInts(f.Integers))
	}
	if len(f.Doubles) > 0 {
		n += 1 + protowire.SizeBytes(8*len(f.Doubles))
	}
	if len(f.Bools) > 0 {
		n += 1 + protowire.SizeBytes(len(f.Bools))
	}
	return n
}

func sizeInts(vs []int64) int {
	n := 0
	for _, v := range vs {
		n += protowire.SizeVarint(uint64(v))
	}
	return n
}

// Every tag of the schema fits in one byte: (field number << 3) | wire type.
const (
	wireVarint  = byte(protowire.VarintType)
	wireFixed64 = byte(protowire.Fixed64Type)
	wireBytes   = byte(protowire.BytesType)
)

// appendVarint is protowire.AppendVarint with the one-byte case, most of
// them here, small enough to inline.
func appendVarint(b []byte, v uint64) []byte {
	if v < 1<<7 {
		return append(b, byte(v))
	}
	return protowire.AppendVarint(b, v)
}

// appendString appends a tag, a length and s; strings under 128 bytes take
// an inlined path.
func appendString(b []byte, tag byte, s string) []byte {
	if len(s) >= 1<<7 {
		return appendLongString(b, tag, s)
	}
	b = append(b, tag, byte(len(s)))
	return append(b, s...)
}

func appendLongString(b []byte, tag byte, s string) []byte {
	return append(protowire.AppendVarint(append(b, tag), uint64(len(s))), s...)
}

func appendOptString(b []byte, tag byte, s string) []byte {
	if s == "" {
		return b
	}
	return appendString(b, tag, s)
}

// MarshalAppend appends m's protobuf encoding to dst and returns the result.
// It allocates only when dst must grow.
func (m *Message) MarshalAppend(dst []byte) []byte {
	return m.marshal(dst, nil)
}

// marshal is MarshalAppend with the header values hc holds already encoded.
func (m *Message) marshal(dst []byte, hc *headerCache) []byte {
	dst = m.appendHeader(dst, hc)
	for i := range m.Fields {
		dst = m.Fields[i].appendPatched(dst)
	}
	return dst
}

// headerCache holds the encoding of the header values that repeat from
// message to message of one sender: the logger, and env_version, pid and
// hostname, which are adjacent on the wire. The zero value caches the
// empty values, whose encoding is empty.
type headerCache struct {
	logger     string
	envVersion string
	hostname   string
	pid        int32
	loggerEnc  []byte
	tailEnc    []byte
}

func newHeaderCache(logger, envVersion string, pid int32, hostname string) *headerCache {
	hc := &headerCache{logger: logger, envVersion: envVersion, hostname: hostname, pid: pid}
	hc.loggerEnc = appendOptString(nil, fnLogger<<3|wireBytes, logger)
	m := Message{EnvVersion: envVersion, Pid: pid, Hostname: hostname}
	hc.tailEnc = m.appendTail(nil)
	return hc
}

// appendHeader encodes the message's header values, everything but the
// fields, copying those that hc (if not nil) has encoded already.
func (m *Message) appendHeader(dst []byte, hc *headerCache) []byte {
	dst = append(dst, fnUUID<<3|wireBytes, 16)
	dst = append(dst, m.UUID[:]...)
	dst = appendVarint(append(dst, fnTimestamp<<3|wireVarint), uint64(m.Timestamp))
	dst = appendOptString(dst, fnType<<3|wireBytes, m.Type)
	if hc != nil && m.Logger == hc.logger {
		dst = append(dst, hc.loggerEnc...)
	} else {
		dst = appendOptString(dst, fnLogger<<3|wireBytes, m.Logger)
	}
	dst = appendVarint(append(dst, fnSeverity<<3|wireVarint), uint64(int64(m.Severity)))
	dst = appendOptString(dst, fnPayload<<3|wireBytes, m.Payload)
	if hc != nil && m.Pid == hc.pid && m.EnvVersion == hc.envVersion && m.Hostname == hc.hostname {
		return append(dst, hc.tailEnc...)
	}
	return m.appendTail(dst)
}

// appendTail encodes env_version, pid and hostname.
func (m *Message) appendTail(dst []byte) []byte {
	dst = appendOptString(dst, fnEnvVersion<<3|wireBytes, m.EnvVersion)
	if m.Pid != 0 {
		dst = appendVarint(append(dst, fnPid<<3|wireVarint), uint64(int64(m.Pid)))
	}
	return appendOptString(dst, fnHostname<<3|wireBytes, m.Hostname)
}

// appendSized encodes m given the field sizes that sizes computed.
func (m *Message) appendSized(dst []byte, fs []int, hc *headerCache) []byte {
	dst = m.appendHeader(dst, hc)
	for i := range m.Fields {
		dst = appendVarint(append(dst, fnFields<<3|wireBytes), uint64(fs[i]))
		dst = m.Fields[i].appendBody(dst)
	}
	return dst
}

// appendPatched encodes f without knowing its size first: it writes a
// one-byte length, the body, then the real length, moving the body in the
// rare case that the length takes more than one byte.
func (f *Field) appendPatched(dst []byte) []byte {
	dst = append(dst, fnFields<<3|wireBytes, 0)
	return patchLength(f.appendBody(dst), len(dst))
}

// patchLength writes the varint length of dst[start:] into the one byte
// reserved at dst[start-1], widening the reservation when needed.
func patchLength(dst []byte, start int) []byte {
	n := len(dst) - start
	if n < 1<<7 {
		dst[start-1] = byte(n)
		return dst
	}
	extra := protowire.SizeVarint(uint64(n)) - 1
	dst = slices.Grow(dst, extra)[:len(dst)+extra]
	copy(dst[start+extra:], dst[start:start+n])
	protowire.AppendVarint(dst[start-1:start-1], uint64(n))
	return dst
}

// appendBody encodes the inside of f, without its tag and length.
func (f *Field) appendBody(dst []byte) []byte {
	dst = appendString(dst, fnFieldName<<3|wireBytes, f.Name)
	if f.Type >= 0 && f.Type < 1<<7 && f.Representation == "" { // nearly always
		dst = append(dst, fnFieldValueType<<3|wireVarint, byte(f.Type), fnFieldRepresentation<<3|wireBytes, 0)
	} else {
		dst = appendVarint(append(dst, fnFieldValueType<<3|wireVarint), uint64(int64(f.Type)))
		dst = appendString(dst, fnFieldRepresentation<<3|wireBytes, f.Representation)
	}
	for _, s := range f.Strings {
		dst = appendString(dst, fnFieldString<<3|wireBytes, s)
	}
	for _, b := range f.Bytes {
		dst = appendVarint(append(dst, fnFieldBytes<<3|wireBytes), uint64(len(b)))
		dst = append(dst, b...)
	}
	if len(f.Integers) > 0 {
		dst = appendVarint(append(dst, fnFieldInteger<<3|wireBytes), uint64(sizeInts(f.Integers)))
		for _, v := range f.Integers {
			dst = appendVarint(dst, uint64(v))
		}
	}
	if len(f.Doubles) > 0 {
		dst = appendVarint(append(dst, fnFieldDouble<<3|wireBytes), uint64(8*len(f.Doubles)))
		for _, v := range f.Doubles {
			dst = binary.LittleEndian.AppendUint64(dst, math.Float64bits(v))
		}
	}
	if len(f.Bools) > 0 {
		dst = appendVarint(append(dst, fnFieldBool<<3|wireBytes), uint64(len(f.Bools)))
		for _, v := range f.Bools {
			b := byte(0)
			if v {
				b = 1
			}
			dst = append(dst, b)
		}
	}
	return dst
}

// ErrUUIDLength is returned when a decoded message's uuid is neither absent
// nor 16 bytes long.
var ErrUUIDLength = errors.New("uuid must be 16 bytes")

// decodeError describes malformed protobuf input.
type decodeError struct {
	what string // "message", "field" or "header"
	off  int    // byte offset of the problem within the decoded input
	err  error
}

func (e *decodeError) Error() string {
	return fmt.Sprintf("malformed %s protobuf at byte %d: %v", e.what, e.off, e.err)
}

func (e *decodeError) Unwrap() error { return e.err }

// Unmarshal replaces m's contents with the message encoded in b. It reuses
// the capacity of m.Fields and makes one copy of b that all decoded strings
// share, so m keeps no reference to b. A missing uuid leaves m.UUID zero and
// a missing severity gives DefaultSeverity (7), as the schema says.
func (m *Message) Unmarshal(b []byte) error {
	m.Reset()
	m.Severity = DefaultSeverity
	if len(b) == 0 {
		return nil
	}
	d := protoDecoder{str: string(b), src: b}
	return d.message(m)
}

// protoDecoder walks one encoded message. Strings are substrings of str, a
// single copy of the input; bytes values are subslices of a lazily made copy.
type protoDecoder struct {
	str  string
	src  []byte
	bcpy []byte
}

func (d *protoDecoder) bytesAt(off, n int) []byte {
	if d.bcpy == nil {
		d.bcpy = []byte(d.str)
	}
	return d.bcpy[off : off+n : off+n]
}

func (d *protoDecoder) message(m *Message) error {
	b := d.src
	off := 0
	for off < len(b) {
		num, typ, n := consumeTag(b[off:])
		if n < 0 {
			return &decodeError{"message", off, wireError(n)}
		}
		off += n
		start := off
		switch {
		case typ == protowire.BytesType && num <= fnFields && num != fnTimestamp && num != fnSeverity && num != fnPid:
			v, n := protowire.ConsumeBytes(b[off:])
			if n < 0 {
				return &decodeError{"message", off, wireError(n)}
			}
			vOff := off + n - len(v)
			off += n
			s := d.str[vOff : vOff+len(v)]
			switch num {
			case fnUUID:
				switch len(v) {
				case 16:
					copy(m.UUID[:], v)
				case 0:
					m.UUID = [16]byte{}
				default:
					return &decodeError{"message", start, ErrUUIDLength}
				}
			case fnType:
				m.Type = s
			case fnLogger:
				m.Logger = s
			case fnPayload:
				m.Payload = s
			case fnEnvVersion:
				m.EnvVersion = s
			case fnHostname:
				m.Hostname = s
			case fnFields:
				f := m.AddField("", String)
				if err := d.field(f, vOff, vOff+len(v)); err != nil {
					return err
				}
			}
		case typ == protowire.VarintType && (num == fnTimestamp || num == fnSeverity || num == fnPid):
			v, n := protowire.ConsumeVarint(b[off:])
			if n < 0 {
				return &decodeError{"message", off, wireError(n)}
			}
			off += n
			switch num {
			case fnTimestamp:
				m.Timestamp = int64(v)
			case fnSeverity:
				m.Severity = int32(v)
			case fnPid:
				m.Pid = int32(v)
			}
		default: // unknown field, or a known one with a foreign wire type: skip it as proto2 does
			n := protowire.ConsumeFieldValue(num, typ, b[off:])
			if n < 0 {
				return &decodeError{"message", off, wireError(n)}
			}
			off += n
		}
	}
	return nil
}

// field decodes the Field encoded in d.src[lo:hi] into f.
func (d *protoDecoder) field(f *Field, lo, hi int) error {
	b := d.src[:hi]
	off := lo
	for off < hi {
		num, typ, n := consumeTag(b[off:])
		if n < 0 {
			return &decodeError{"field", off, wireError(n)}
		}
		off += n
		switch {
		case typ == protowire.BytesType && (num == fnFieldName || num == fnFieldRepresentation || num == fnFieldString || num == fnFieldBytes):
			v, n := protowire.ConsumeBytes(b[off:])
			if n < 0 {
				return &decodeError{"field", off, wireError(n)}
			}
			vOff := off + n - len(v)
			off += n
			switch num {
			case fnFieldName:
				f.Name = d.str[vOff : vOff+len(v)]
			case fnFieldRepresentation:
				f.Representation = d.str[vOff : vOff+len(v)]
			case fnFieldString:
				f.Strings = append(f.Strings, d.str[vOff:vOff+len(v)])
			case fnFieldBytes:
				f.Bytes = append(f.Bytes, d.bytesAt(vOff, len(v)))
			}
		case typ == protowire.BytesType && (num == fnFieldInteger || num == fnFieldDouble || num == fnFieldBool):
			v, n := protowire.ConsumeBytes(b[off:])
			if n < 0 {
				return &decodeError{"field", off, wireError(n)}
			}
			vOff := off + n - len(v)
			off += n
			if err := f.appendPacked(num, v); err != nil {
				return &decodeError{"field", vOff, err}
			}
		case typ == protowire.VarintType && (num == fnFieldValueType || num == fnFieldInteger || num == fnFieldBool):
			v, n := protowire.ConsumeVarint(b[off:])
			if n < 0 {
				return &decodeError{"field", off, wireError(n)}
			}
			off += n
			switch num {
			case fnFieldValueType:
				// An enum value this schema does not know is an unknown field
				// in proto2: the type keeps its default.
				if t := int32(v); t >= int32(String) && t <= int32(Bool) && v <= math.MaxInt32 {
					f.Type = ValueType(t)
				}
			case fnFieldInteger:
				f.Integers = append(f.Integers, int64(v))
			case fnFieldBool:
				f.Bools = append(f.Bools, protowire.DecodeBool(v))
			}
		case typ == protowire.Fixed64Type && num == fnFieldDouble:
			v, n := protowire.ConsumeFixed64(b[off:])
			if n < 0 {
				return &decodeError{"field", off, wireError(n)}
			}
			off += n
			f.Doubles = append(f.Doubles, math.Float64frombits(v))
		default:
			n := protowire.ConsumeFieldValue(num, typ, b[off:])
			if n < 0 {
				return &decodeError{"field", off, wireError(n)}
			}
			off += n
		}
	}
	return nil
}

var errFieldNumber = errors.New("field number above 2^29-1")

// consumeTag is protowire.ConsumeTag with the range check proto decoders
// apply: numbers above protowire.MaxValidNumber are malformed.
func consumeTag(b []byte) (protowire.Number, protowire.Type, int) {
	num, typ, n := protowire.ConsumeTag(b)
	if n >= 0 && num > protowire.MaxValidNumber {
		return 0, 0, errCodeFieldNumber
	}
	return num, typ, n
}

const errCodeFieldNumber = -100

// wireError turns a negative length from consumeTag or protowire into an error.
func wireError(n int) error {
	if n == errCodeFieldNumber {
		return errFieldNumber
	}
	return protowire.ParseError(n)
}

var errPackedDouble = errors.New("packed doubles are not a multiple of 8 bytes")

func (f *Field) appendPacked(num protowire.Number, v []byte) error {
	switch num {
	case fnFieldDouble:
		if len(v)%8 != 0 {
			return errPackedDouble
		}
		for len(v) > 0 {
			x, _ := protowire.ConsumeFixed64(v)
			f.Doubles = append(f.Doubles, math.Float64frombits(x))
			v = v[8:]
		}
	default:
		for len(v) > 0 {
			x, n := protowire.ConsumeVarint(v)
			if n < 0 {
				return wireError(n)
			}
			v = v[n:]
			if num == fnFieldInteger {
				f.Integers = append(f.Integers, int64(x))
			} else {
				f.Bools = append(f.Bools, protowire.DecodeBool(x))
			}
		}
	}
	return nil
}

// HashFunction names the HMAC hash of a signed frame.
type HashFunction int32

// The hash functions of Header.hmac_hash_function. SHA256 is a metlog
// extension that Heka does not understand.
const (
	MD5    HashFunction = 0
	SHA1   HashFunction = 1
	SHA256 HashFunction = 2
)

// String returns "md5", "sha1" or "sha256".
func (h HashFunction) String() string {
	switch h {
	case MD5:
		return "md5"
	case SHA1:
		return "sha1"
	case SHA256:
		return "sha256"
	}
	return fmt.Sprintf("hash(%d)", int32(h))
}

// ParseHashFunction reads "md5", "sha1" or "sha256" (any case).
func ParseHashFunction(s string) (HashFunction, error) {
	switch s {
	case "md5", "MD5":
		return MD5, nil
	case "sha1", "SHA1", "sha-1", "SHA-1":
		return SHA1, nil
	case "sha256", "SHA256", "sha-256", "SHA-256":
		return SHA256, nil
	}
	return 0, fmt.Errorf("hash function %q is not md5, sha1 or sha256", s)
}

// Header is the protobuf header of a framed message.
type Header struct {
	MessageLength uint32
	HashFunction  HashFunction
	Signer        string // empty when the message is not signed
	KeyVersion    uint32
	HMAC          []byte
	hasLength     bool   // message_length was on the wire
	hashFuncKnown bool   // hmac_hash_function, if present, is one of ours
	rawHashFunc   uint64 // hmac_hash_function as it arrived
}

// size returns the length of h's encoding.
func (h *Header) size() int {
	n := 1 + protowire.SizeVarint(uint64(h.MessageLength))
	if h.Signer != "" {
		if h.HashFunction != MD5 {
			n += 1 + protowire.SizeVarint(uint64(h.HashFunction))
		}
		n += 1 + protowire.SizeBytes(len(h.Signer))
		n += 1 + protowire.SizeVarint(uint64(h.KeyVersion))
		n += 1 + protowire.SizeBytes(len(h.HMAC))
	}
	return n
}

// appendProto appends h's encoding. Like Heka's Go client it omits the
// hash function when it is MD5, the schema default.
func (h *Header) appendProto(dst []byte) []byte {
	dst = protowire.AppendTag(dst, fnHeaderLength, protowire.VarintType)
	dst = protowire.AppendVarint(dst, uint64(h.MessageLength))
	if h.Signer != "" {
		if h.HashFunction != MD5 {
			dst = protowire.AppendTag(dst, fnHeaderHashFunc, protowire.VarintType)
			dst = protowire.AppendVarint(dst, uint64(h.HashFunction))
		}
		dst = protowire.AppendTag(dst, fnHeaderSigner, protowire.BytesType)
		dst = protowire.AppendString(dst, h.Signer)
		dst = protowire.AppendTag(dst, fnHeaderKeyVersion, protowire.VarintType)
		dst = protowire.AppendVarint(dst, uint64(h.KeyVersion))
		dst = protowire.AppendTag(dst, fnHeaderHmac, protowire.BytesType)
		dst = protowire.AppendBytes(dst, h.HMAC)
	}
	return dst
}

var errNoLength = errors.New("header has no message_length")

// unmarshal decodes a header. h.Signer and h.HMAC alias b.
func (h *Header) unmarshal(b []byte) error {
	*h = Header{hashFuncKnown: true}
	off := 0
	for off < len(b) {
		num, typ, n := consumeTag(b[off:])
		if n < 0 {
			return &decodeError{"header", off, wireError(n)}
		}
		off += n
		switch {
		case typ == protowire.VarintType && (num == fnHeaderLength || num == fnHeaderHashFunc || num == fnHeaderKeyVersion):
			v, n := protowire.ConsumeVarint(b[off:])
			if n < 0 {
				return &decodeError{"header", off, wireError(n)}
			}
			off += n
			switch num {
			case fnHeaderLength:
				h.MessageLength = uint32(v)
				h.hasLength = true
			case fnHeaderHashFunc:
				h.rawHashFunc = v
				h.hashFuncKnown = v <= uint64(SHA256)
				if h.hashFuncKnown {
					h.HashFunction = HashFunction(v)
				}
			case fnHeaderKeyVersion:
				h.KeyVersion = uint32(v)
			}
		case typ == protowire.BytesType && (num == fnHeaderSigner || num == fnHeaderHmac):
			v, n := protowire.ConsumeBytes(b[off:])
			if n < 0 {
				return &decodeError{"header", off, wireError(n)}
			}
			off += n
			if num == fnHeaderSigner {
				h.Signer = string(v)
			} else {
				h.HMAC = v
			}
		default:
			n := protowire.ConsumeFieldValue(num, typ, b[off:])
			if n < 0 {
				return &decodeError{"header", off, wireError(n)}
			}
			off += n
		}
	}
	if !h.hasLength {
		return &decodeError{"header", 0, errNoLength}
	}
	return nil
}
