package message

import (
	"bytes"
	"crypto/hmac"
	"crypto/md5"
	"crypto/sha1"
	"crypto/sha256"
	"errors"
	"fmt"
	"hash"
	"io"
	"slices"
	"sync"

	"google.golang.org/protobuf/encoding/protowire"
)

// Heka stream framing: RecordSeparator, one byte holding the header's
// length, the protobuf Header, UnitSeparator, the protobuf Message.
const (
	RecordSeparator = 0x1E
	UnitSeparator   = 0x1F
	// MaxHeaderSize is the largest header one length byte can describe.
	MaxHeaderSize = 255
	// DefaultMaxMessageSize is the largest message decoders accept unless
	// configured otherwise (64 KiB, as in Heka).
	DefaultMaxMessageSize = 64 << 10
	// frameOverhead is the framing around the header and message bytes.
	frameOverhead = 3
)

// Signer signs frames with an HMAC key. It is safe for concurrent use.
type Signer struct {
	name    string
	version uint32
	fn      HashFunction
	pool    sync.Pool // of hash.Hash keyed with the signer's key
	size    int
}

// NewSigner returns a Signer for signer name and key version, using hash
// function fn and the given key. The name must leave room for the header in
// its 255 bytes.
func NewSigner(name string, version uint32, fn HashFunction, key []byte) (*Signer, error) {
	if name == "" {
		return nil, errors.New("signer name is empty")
	}
	if len(name) > 200 {
		return nil, fmt.Errorf("signer name is %d bytes; at most 200 fit in a frame header", len(name))
	}
	newHash, err := hashConstructor(fn)
	if err != nil {
		return nil, err
	}
	key = bytes.Clone(key)
	s := &Signer{name: name, version: version, fn: fn}
	s.pool.New = func() any { return hmac.New(newHash, key) }
	s.size = newHash().Size()
	return s, nil
}

// Name returns the signer name written into each header.
func (s *Signer) Name() string { return s.name }

func hashConstructor(fn HashFunction) (func() hash.Hash, error) {
	switch fn {
	case MD5:
		return md5.New, nil
	case SHA1:
		return sha1.New, nil
	case SHA256:
		return sha256.New, nil
	}
	return nil, fmt.Errorf("unknown HMAC hash function %d", int32(fn))
}

// sum appends the HMAC of msg to dst.
func (s *Signer) sum(dst, msg []byte) []byte {
	h := s.pool.Get().(hash.Hash)
	h.Reset()
	h.Write(msg)
	dst = h.Sum(dst)
	s.pool.Put(h)
	return dst
}

var zeroHMAC [sha256.Size]byte

// AppendFrame appends m in Heka stream framing to dst, signed by s when s is
// not nil, and returns the result. It allocates only when dst must grow.
func AppendFrame(dst []byte, m *Message, s *Signer) []byte {
	return appendFrame(dst, m, s, nil)
}

// A FrameEncoder frames messages as AppendFrame does, faster for a sender
// whose messages mostly share one logger, env_version, pid and hostname: it
// keeps the encoding of those values. It is safe for concurrent use.
type FrameEncoder struct {
	signer *Signer
	hc     *headerCache
}

// NewFrameEncoder returns a FrameEncoder that signs with s (nil: unsigned)
// and has the encoding of the given header values ready.
func NewFrameEncoder(s *Signer, logger, envVersion string, pid int32, hostname string) *FrameEncoder {
	return &FrameEncoder{signer: s, hc: newHeaderCache(logger, envVersion, pid, hostname)}
}

// Append appends m in Heka stream framing to dst and returns the result.
func (e *FrameEncoder) Append(dst []byte, m *Message) []byte {
	return appendFrame(dst, m, e.signer, e.hc)
}

func appendFrame(dst []byte, m *Message, s *Signer, hc *headerCache) []byte {
	if s != nil {
		var buf [16]int
		n, fs := m.sizes(buf[:0])
		h := Header{MessageLength: uint32(n)}
		dst = slices.Grow(dst, n+frameOverhead+MaxHeaderSize)
		dst, sigAt := appendFrameHeader(dst, &h, s)
		msgAt := len(dst)
		dst = m.appendSized(dst, fs, hc)
		s.sum(dst[sigAt:sigAt], dst[msgAt:])
		return dst
	}
	// Unsigned, the header is just message_length: reserve one byte for it,
	// encode, then patch the header length, the length and, rarely, move
	// the message to make room for a longer length.
	start := len(dst)
	dst = append(dst, RecordSeparator, 2, fnHeaderLength<<3|wireVarint, 0, UnitSeparator)
	msgAt := len(dst)
	dst = m.marshal(dst, hc)
	n := len(dst) - msgAt
	if n < 1<<7 {
		dst[start+3] = byte(n)
		return dst
	}
	extra := protowire.SizeVarint(uint64(n)) - 1
	dst = slices.Grow(dst, extra)[:len(dst)+extra]
	copy(dst[msgAt+extra:], dst[msgAt:msgAt+n])
	dst[start+1] = byte(2 + extra)
	protowire.AppendVarint(dst[start+3:start+3], uint64(n))
	dst[msgAt+extra-1] = UnitSeparator
	return dst
}

// AppendFrameBytes appends the already encoded message msg in Heka stream
// framing to dst, signed by s when s is not nil.
func AppendFrameBytes(dst, msg []byte, s *Signer) []byte {
	h := Header{MessageLength: uint32(len(msg))}
	dst, sigAt := appendFrameHeader(dst, &h, s)
	dst = append(dst, msg...)
	if s != nil {
		s.sum(dst[sigAt:sigAt], msg)
	}
	return dst
}

// appendFrameHeader writes the separator, header and unit separator, with a
// zeroed HMAC of the right length when s is set, and returns where the HMAC
// goes.
func appendFrameHeader(dst []byte, h *Header, s *Signer) ([]byte, int) {
	if s != nil {
		h.Signer, h.KeyVersion, h.HashFunction = s.name, s.version, s.fn
		h.HMAC = zeroHMAC[:s.size]
	}
	hsz := h.size()
	dst = append(dst, RecordSeparator, byte(hsz))
	dst = h.appendProto(dst)
	sigAt := len(dst) - len(h.HMAC)
	return append(dst, UnitSeparator), sigAt
}

// Frame errors. Decoders wrap them with detail; test with errors.Is.
var (
	// ErrShortFrame means the input ends before the frame does.
	ErrShortFrame = errors.New("frame is truncated")
	// ErrBadFrame means the bytes are not a frame: no record separator, no
	// unit separator after the header, or a header that does not decode.
	ErrBadFrame = errors.New("not a valid frame")
	// ErrTooLarge means a frame announces a message over the maximum size.
	ErrTooLarge = errors.New("message exceeds the maximum size")
)

// ParseFrame reads the frame at the start of b and returns its header, the
// encoded message (a subslice of b) and the frame's total length. maxSize
// bounds the message length; zero means DefaultMaxMessageSize.
func ParseFrame(b []byte, maxSize int) (h Header, msg []byte, n int, err error) {
	if maxSize <= 0 {
		maxSize = DefaultMaxMessageSize
	}
	if len(b) < 2 {
		if len(b) == 1 && b[0] != RecordSeparator {
			return h, nil, 0, fmt.Errorf("%w: first byte 0x%02x is not the record separator 0x1e", ErrBadFrame, b[0])
		}
		return h, nil, 0, ErrShortFrame
	}
	if b[0] != RecordSeparator {
		return h, nil, 0, fmt.Errorf("%w: first byte 0x%02x is not the record separator 0x1e", ErrBadFrame, b[0])
	}
	hlen := int(b[1])
	if hlen < 2 {
		return h, nil, 0, fmt.Errorf("%w: header length %d is too short to hold a message length", ErrBadFrame, hlen)
	}
	if len(b) < frameOverhead+hlen {
		return h, nil, 0, ErrShortFrame
	}
	if b[2+hlen] != UnitSeparator {
		return h, nil, 0, fmt.Errorf("%w: no unit separator 0x1f after the %d-byte header", ErrBadFrame, hlen)
	}
	if err := h.unmarshal(b[2 : 2+hlen]); err != nil {
		return h, nil, 0, fmt.Errorf("%w: %v", ErrBadFrame, err)
	}
	if int64(h.MessageLength) > int64(maxSize) {
		return h, nil, 0, fmt.Errorf("%w: %d bytes announced, at most %d accepted", ErrTooLarge, h.MessageLength, maxSize)
	}
	n = frameOverhead + hlen + int(h.MessageLength)
	if len(b) < n {
		return h, nil, 0, ErrShortFrame
	}
	return h, b[frameOverhead+hlen : n], n, nil
}

// Errors of HMAC verification.
var (
	// ErrUnsigned means a frame carries no signature where one is required.
	ErrUnsigned = errors.New("message is not signed")
	// ErrUnknownSigner means no key is configured for the frame's signer
	// and key version.
	ErrUnknownSigner = errors.New("unknown signer or key version")
	// ErrBadSignature means the HMAC does not match the message.
	ErrBadSignature = errors.New("HMAC does not match the message")
)

// KeyRing holds the HMAC keys that frames are verified against, by signer
// name and key version. Build it before use; Verify is safe for concurrent
// use, Add is not.
type KeyRing struct {
	keys map[signerVersion]*ringKey
}

type signerVersion struct {
	name    string
	version uint32
}

// ringKey is one key and a pool of keyed HMAC states per hash function.
type ringKey struct {
	key   []byte
	pools [SHA256 + 1]sync.Pool
}

// Add registers key for signer name at key version.
func (k *KeyRing) Add(name string, version uint32, key []byte) {
	if k.keys == nil {
		k.keys = make(map[signerVersion]*ringKey)
	}
	k.keys[signerVersion{name, version}] = &ringKey{key: bytes.Clone(key)}
}

// Len returns the number of keys in k.
func (k *KeyRing) Len() int { return len(k.keys) }

// Verify checks the HMAC of a framed message against the key of its signer
// and key version. A frame without a signer yields ErrUnsigned.
func (k *KeyRing) Verify(h *Header, msg []byte) error {
	if h.Signer == "" {
		return ErrUnsigned
	}
	e := k.keys[signerVersion{h.Signer, h.KeyVersion}]
	if e == nil {
		return fmt.Errorf("%w: signer %q, key version %d", ErrUnknownSigner, h.Signer, h.KeyVersion)
	}
	if !h.hashFuncKnown {
		return fmt.Errorf("%w: hash function %d is not md5, sha1 or sha256", ErrBadSignature, h.rawHashFunc)
	}
	pool := &e.pools[h.HashFunction]
	mac, _ := pool.Get().(hash.Hash)
	if mac == nil {
		newHash, _ := hashConstructor(h.HashFunction)
		mac = hmac.New(newHash, e.key)
	}
	mac.Reset()
	mac.Write(msg)
	var buf [sha256.Size]byte
	ok := hmac.Equal(mac.Sum(buf[:0]), h.HMAC)
	pool.Put(mac)
	if !ok {
		return fmt.Errorf("%w: signer %q, key version %d, %s", ErrBadSignature, h.Signer, h.KeyVersion, h.HashFunction)
	}
	return nil
}

// FrameScanner reads framed messages from a stream, skipping anything that
// is not a valid frame and resynchronising on the next record separator. It
// never holds more than one maximum-size frame in memory.
type FrameScanner struct {
	r       io.Reader
	max     int
	buf     []byte
	start   int // first unconsumed byte
	end     int // end of valid data
	cur     int // length of the current record, consumed by the next Next
	hdr     Header
	msg     []byte
	err     error
	eof     bool
	discard int64

	// OnDiscard, when set, is called for each stretch of input skipped,
	// with its length in bytes and the reason.
	OnDiscard func(n int, reason error)
}

// NewFrameScanner returns a scanner reading from r that accepts messages of
// at most maxSize bytes (zero means DefaultMaxMessageSize).
func NewFrameScanner(r io.Reader, maxSize int) *FrameScanner {
	if maxSize <= 0 {
		maxSize = DefaultMaxMessageSize
	}
	initial := min(maxSize+frameOverhead+MaxHeaderSize, 64<<10)
	return &FrameScanner{r: r, max: maxSize, buf: make([]byte, initial)}
}

// Next advances to the next valid frame. It returns false at the end of the
// stream or on a read error (see Err). The header and message it exposes
// are valid until the following call.
func (s *FrameScanner) Next() bool {
	s.start += s.cur
	s.cur = 0
	for {
		if s.start == s.end && !s.fill(1) {
			return false
		}
		i := bytes.IndexByte(s.buf[s.start:s.end], RecordSeparator)
		if i < 0 {
			s.skip(s.end-s.start, ErrBadFrame)
			continue
		}
		if i > 0 {
			s.skip(i, ErrBadFrame)
		}
		h, msg, n, err := ParseFrame(s.buf[s.start:s.end], s.max)
		if errors.Is(err, ErrShortFrame) {
			need := 2 // the separator and the header length
			if s.end-s.start >= 2 {
				need = frameOverhead + int(s.buf[s.start+1])
				if s.end-s.start >= need && h.hasLength {
					need += int(h.MessageLength)
				}
			}
			if !s.fill(need) {
				if s.end > s.start {
					s.skip(s.end-s.start, fmt.Errorf("%w at the end of the stream", ErrShortFrame))
				}
				return false
			}
			continue
		}
		if err != nil {
			s.skip(1, err)
			continue
		}
		s.hdr, s.msg, s.cur = h, msg, n
		return true
	}
}

// fill makes at least need bytes available from s.start, compacting and
// growing the buffer up to one maximum frame. It returns false when the
// stream ends first or fails.
func (s *FrameScanner) fill(need int) bool {
	for s.end-s.start < need {
		if s.eof || s.err != nil {
			return false
		}
		if s.start > 0 && len(s.buf)-s.start < need {
			copy(s.buf, s.buf[s.start:s.end])
			s.end -= s.start
			s.start = 0
		}
		if len(s.buf)-s.start < need {
			limit := s.max + frameOverhead + MaxHeaderSize
			size := min(max(2*len(s.buf), s.start+need), limit)
			nb := make([]byte, size)
			s.end = copy(nb, s.buf[s.start:s.end])
			s.start = 0
			s.buf = nb
		}
		n, err := s.r.Read(s.buf[s.end:])
		s.end += n
		if err == io.EOF {
			s.eof = true
		} else if err != nil {
			s.err = err
		}
	}
	return true
}

func (s *FrameScanner) skip(n int, reason error) {
	s.start += n
	s.discard += int64(n)
	if s.OnDiscard != nil {
		s.OnDiscard(n, reason)
	}
}

// Reject tells the scanner that the current frame's message did not decode:
// the next call to Next resumes the search one byte after the frame's start
// instead of after its end, so a valid frame hidden inside it is not lost.
func (s *FrameScanner) Reject(reason error) {
	if s.cur == 0 {
		return
	}
	s.cur = 0
	s.skip(1, reason)
}

// Header returns the current frame's header. Its Signer and HMAC are valid
// until the next call to Next.
func (s *FrameScanner) Header() *Header { return &s.hdr }

// Message returns the current frame's encoded message, valid until the next
// call to Next.
func (s *FrameScanner) Message() []byte { return s.msg }

// Err returns the first read error other than io.EOF.
func (s *FrameScanner) Err() error { return s.err }

// Discarded returns the number of input bytes skipped as invalid so far.
func (s *FrameScanner) Discarded() int64 { return s.discard }
