package message

import (
	"bytes"
	"errors"
	"io"
	"math/rand/v2"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/metlog/metlog/message/pb"
	"google.golang.org/protobuf/proto"
)

// The signing keys the test vectors were captured with (testdata/README in
// the shared vectors): signer, key version, key.
var vectorKeys = []struct {
	signer  string
	version uint32
	key     string
}{
	{"acceptance", 1, "s3cr3t"}, // heka-go-frames-hmac-md5.hex
	{"acceptance", 2, "k3y"},    // heka-go-frames-hmac-sha1.hex
	{"acc", 3, "pykey"},         // heka-py-frames-hmac-sha1.hex
}

func vectorKeyRing() *KeyRing {
	var kr KeyRing
	for _, k := range vectorKeys {
		kr.Add(k.signer, k.version, []byte(k.key))
	}
	return &kr
}

// TestHekaVectors decodes every frame captured from Heka's Go client and
// heka-py, checks it against the generated code, verifies its signature, and
// re-frames it: the bytes must be identical to what the real client sent.
func TestHekaVectors(t *testing.T) {
	kr := vectorKeyRing()
	for _, tc := range []struct {
		file    string
		records int
		hash    HashFunction
		signed  bool
	}{
		{"heka-go-frames.hex", 9, MD5, false},
		{"heka-go-frames-hmac-md5.hex", 9, MD5, true},
		{"heka-go-frames-hmac-sha1.hex", 9, SHA1, true},
		{"heka-py-frames-hmac-sha1.hex", 17, SHA1, true},
	} {
		t.Run(tc.file, func(t *testing.T) {
			frames := readHexVectors(t, tc.file)
			if len(frames) != tc.records {
				t.Fatalf("%d records, want %d", len(frames), tc.records)
			}
			for i, fr := range frames {
				h, msg, n, err := ParseFrame(fr, 0)
				if err != nil || n != len(fr) {
					t.Fatalf("record %d: ParseFrame = %d, %v", i, n, err)
				}
				var m Message
				if err := m.Unmarshal(msg); err != nil {
					t.Fatalf("record %d: %v", i, err)
				}
				var p pb.Message
				if err := proto.Unmarshal(msg, &p); err != nil {
					t.Fatalf("record %d: generated code: %v", i, err)
				}
				if !sameContent(&m, fromPB(&p)) {
					t.Fatalf("record %d: decoders disagree", i)
				}
				var s *Signer
				if tc.signed {
					if err := kr.Verify(&h, msg); err != nil {
						t.Fatalf("record %d: %v", i, err)
					}
					if h.HashFunction != tc.hash {
						t.Fatalf("record %d: hash %v, want %v", i, h.HashFunction, tc.hash)
					}
					tampered := bytes.Clone(msg)
					tampered[len(tampered)-1] ^= 1
					if err := kr.Verify(&h, tampered); !errors.Is(err, ErrBadSignature) {
						t.Fatalf("record %d: tampered message verified: %v", i, err)
					}
					for _, k := range vectorKeys {
						if k.signer == h.Signer && k.version == h.KeyVersion {
							s, _ = NewSigner(k.signer, k.version, h.HashFunction, []byte(k.key))
						}
					}
				} else if err := kr.Verify(&h, msg); !errors.Is(err, ErrUnsigned) {
					t.Fatalf("record %d: unsigned frame: %v", i, err)
				}
				out := AppendFrame(nil, &m, s)
				if m.Type == "acceptance.minimal" {
					// The client left severity out; we write the decoded
					// default 7 explicitly, so the frame is 2 bytes longer.
					if len(out) != len(fr)+2 {
						t.Fatalf("minimal record re-framed to %d bytes, want %d", len(out), len(fr)+2)
					}
					continue
				}
				if !bytes.Equal(out, fr) {
					t.Fatalf("record %d (%s): re-framed bytes differ\n got %x\nwant %x", i, m.Type, out, fr)
				}
			}
		})
	}
}

func TestVectorContents(t *testing.T) {
	frames := readHexVectors(t, "heka-go-frames.hex")
	decode := func(i int) *Message {
		_, msg, _, _ := ParseFrame(frames[i], 0)
		var m Message
		if err := m.Unmarshal(msg); err != nil {
			t.Fatal(err)
		}
		return &m
	}
	m := decode(1)
	if m.Type != "acceptance.fields" || m.Logger != "acceptance" || m.Severity != 6 || m.Pid != 21449 || m.Hostname != "vm" {
		t.Fatalf("header: %+v", m)
	}
	if v, ok := m.GetString("str"); !ok || v != "value" {
		t.Errorf("str = %q, %v", v, ok)
	}
	if f := m.Field("multi"); f == nil || strings.Join(f.Strings, ",") != "a,b,c" {
		t.Errorf("multi = %+v", f)
	}
	if f := m.Field("int"); f == nil || f.Representation != "ms" || f.Integers[0] != 42 {
		t.Errorf("int = %+v", f)
	}
	if f := m.Field("ints"); f == nil || len(f.Integers) != 3 || f.Integers[0] != -1 || f.Integers[1] != 0 {
		t.Errorf("ints = %+v", f)
	}
	if v, ok := m.GetDouble("dbl"); !ok || v != 3.25 || m.Field("dbl").Representation != "s" {
		t.Errorf("dbl = %v, %v", v, ok)
	}
	if v, ok := m.GetBool("flag"); !ok || !v {
		t.Errorf("flag = %v, %v", v, ok)
	}
	if v, ok := m.GetBytes("raw"); !ok || !bytes.Equal(v, []byte{0, 1, 0xfe, 0xff}) {
		t.Errorf("raw = %x, %v", v, ok)
	}
	if m := decode(8); m.Type != "acceptance.minimal" || m.Severity != DefaultSeverity || m.Logger != "" {
		t.Errorf("minimal: %+v", m)
	}
	if m := decode(7); len(m.Payload) < 16000 {
		t.Errorf("large payload is %d bytes", len(m.Payload))
	}
}

func TestSignerSHA256AndUnknownKeys(t *testing.T) {
	m := counterMessage()
	s, err := NewSigner("ops", 7, SHA256, []byte("secret"))
	if err != nil {
		t.Fatal(err)
	}
	fr := AppendFrame(nil, m, s)
	h, msg, _, err := ParseFrame(fr, 0)
	if err != nil {
		t.Fatal(err)
	}
	if h.HashFunction != SHA256 || h.Signer != "ops" || h.KeyVersion != 7 || len(h.HMAC) != 32 {
		t.Fatalf("header %+v", h)
	}
	var kr KeyRing
	kr.Add("ops", 7, []byte("secret"))
	if err := kr.Verify(&h, msg); err != nil {
		t.Fatal(err)
	}
	kr.Add("ops", 8, []byte("other"))
	h.KeyVersion = 8
	if err := kr.Verify(&h, msg); !errors.Is(err, ErrBadSignature) {
		t.Fatalf("wrong key: %v", err)
	}
	h.KeyVersion = 9
	if err := kr.Verify(&h, msg); !errors.Is(err, ErrUnknownSigner) {
		t.Fatalf("unknown version: %v", err)
	}
	// AppendFrameBytes frames already encoded bytes identically.
	if got := AppendFrameBytes(nil, m.MarshalAppend(nil), s); !bytes.Equal(got, fr) {
		t.Fatal("AppendFrameBytes differs from AppendFrame")
	}
	for _, bad := range []struct {
		name string
		fn   HashFunction
	}{{"", SHA1}, {strings.Repeat("x", 201), SHA1}, {"ok", 9}} {
		if _, err := NewSigner(bad.name, 1, bad.fn, nil); err == nil {
			t.Errorf("NewSigner(%q, %v) accepted", bad.name, bad.fn)
		}
	}
}

// A FrameEncoder writes what AppendFrame writes, whether or not a message's
// header values are the ones it cached.
func TestFrameEncoderMatchesAppendFrame(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	signer, _ := NewSigner("ops", 1, SHA1, []byte("k"))
	for i := range 2000 {
		m := randomMessage(r)
		logger, env, pid, host := m.Logger, m.EnvVersion, m.Pid, m.Hostname
		switch i % 4 { // cache other values for some messages
		case 1:
			logger = "other"
		case 2:
			host, pid = "elsewhere", pid+1
		case 3:
			logger, env, pid, host = "", "", 0, ""
		}
		for _, s := range []*Signer{nil, signer} {
			want := AppendFrame(nil, m, s)
			if got := NewFrameEncoder(s, logger, env, pid, host).Append(nil, m); !bytes.Equal(got, want) {
				t.Fatalf("message %d (cache case %d, signed %v): FrameEncoder differs from AppendFrame\n got %x\nwant %x", i, i%4, s != nil, got, want)
			}
		}
	}
}

func TestParseFrameErrors(t *testing.T) {
	good := AppendFrame(nil, counterMessage(), nil)
	big := AppendFrame(nil, &Message{Payload: strings.Repeat("x", 100)}, nil)
	noUnit := bytes.Clone(good)
	noUnit[2+int(good[1])] = 'x'
	for _, tc := range []struct {
		name string
		in   []byte
		max  int
		want error
	}{
		{"empty", nil, 0, ErrShortFrame},
		{"one byte", []byte{RecordSeparator}, 0, ErrShortFrame},
		{"wrong first byte", []byte{'{', 2}, 0, ErrBadFrame},
		{"header length 0", []byte{RecordSeparator, 0, UnitSeparator}, 0, ErrBadFrame},
		{"header cut", good[:4], 0, ErrShortFrame},
		{"message cut", good[:len(good)-1], 0, ErrShortFrame},
		{"no unit separator", noUnit, 0, ErrBadFrame},
		{"header without length", []byte{RecordSeparator, 2, 0x22, 0x00, UnitSeparator}, 0, ErrBadFrame},
		{"too large", big, 50, ErrTooLarge},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, _, err := ParseFrame(tc.in, tc.max)
			if !errors.Is(err, tc.want) {
				t.Fatalf("ParseFrame error = %v, want %v", err, tc.want)
			}
		})
	}
}

type discardLog struct {
	n       int
	reasons []error
}

func (d *discardLog) add(n int, reason error) { d.n += n; d.reasons = append(d.reasons, reason) }

// scanAll returns the messages a FrameScanner finds in the input.
func scanAll(t *testing.T, r io.Reader, max int) ([]*Message, *discardLog) {
	t.Helper()
	var log discardLog
	s := NewFrameScanner(r, max)
	s.OnDiscard = log.add
	var out []*Message
	for s.Next() {
		var m Message
		if err := m.Unmarshal(s.Message()); err != nil {
			s.Reject(err)
			continue
		}
		out = append(out, m.Clone())
	}
	if s.Err() != nil {
		t.Fatal(s.Err())
	}
	if int64(log.n) != s.Discarded() {
		t.Fatalf("OnDiscard saw %d bytes, Discarded() = %d", log.n, s.Discarded())
	}
	return out, &log
}

func TestFrameScannerResync(t *testing.T) {
	msg := func(p string) []byte { return AppendFrame(nil, &Message{Type: "t", Payload: p, Severity: 6}, nil) }
	big := AppendFrame(nil, &Message{Type: "t", Payload: strings.Repeat("B", 300)}, nil)
	var stream []byte
	stream = append(stream, "garbage before\x00\xff"...)
	stream = append(stream, msg("one")...)
	stream = append(stream, RecordSeparator, 0) // a separator with an impossible header length
	stream = append(stream, RecordSeparator, 5, 1, 2, 3, 4, 5, 'x')
	stream = append(stream, msg("two")...)
	stream = append(stream, big...) // over the 200-byte limit below: skipped
	stream = append(stream, msg("three")...)
	// A frame whose body does not decode but hides a valid frame: Reject
	// must find the inner one.
	inner := msg("four")
	liar := []byte{RecordSeparator, 2, 0x08, byte(len(inner) + 2), UnitSeparator, 0xff, 0xff}
	stream = append(stream, liar...)
	stream = append(stream, inner...)
	stream = append(stream, msg("five")[:10]...) // truncated at the end

	for _, tc := range []struct {
		name string
		r    func() io.Reader
	}{
		{"whole", func() io.Reader { return bytes.NewReader(stream) }},
		{"one byte at a time", func() io.Reader { return iotest.OneByteReader(bytes.NewReader(stream)) }},
		{"half reads", func() io.Reader { return iotest.HalfReader(bytes.NewReader(stream)) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, log := scanAll(t, tc.r(), 200)
			var payloads []string
			for _, m := range got {
				payloads = append(payloads, m.Payload)
			}
			if strings.Join(payloads, ",") != "one,two,three,four" {
				t.Fatalf("payloads %v", payloads)
			}
			var tooLarge, short bool
			for _, r := range log.reasons {
				tooLarge = tooLarge || errors.Is(r, ErrTooLarge)
				short = short || errors.Is(r, ErrShortFrame)
			}
			if !tooLarge || !short {
				t.Fatalf("discard reasons %v lack too-large or truncated", log.reasons)
			}
		})
	}
}

func TestFrameScannerLargeMessages(t *testing.T) {
	var stream []byte
	sizes := []int{0, 1, 1000, 70000, 200000, 5}
	for _, n := range sizes {
		stream = AppendFrame(stream, &Message{Payload: strings.Repeat("p", n)}, nil)
	}
	got, _ := scanAll(t, iotest.HalfReader(bytes.NewReader(stream)), 1<<20)
	if len(got) != len(sizes) {
		t.Fatalf("%d messages, want %d", len(got), len(sizes))
	}
	for i, m := range got {
		if len(m.Payload) != sizes[i] {
			t.Fatalf("message %d has %d bytes, want %d", i, len(m.Payload), sizes[i])
		}
	}
	// With the default limit the two large ones are skipped and the rest found.
	got, _ = scanAll(t, bytes.NewReader(stream), 0)
	if len(got) != 4 {
		t.Fatalf("%d messages under the default limit, want 4", len(got))
	}
}

type errReader struct{ err error }

func (e errReader) Read([]byte) (int, error) { return 0, e.err }

func TestFrameScannerReadError(t *testing.T) {
	boom := errors.New("boom")
	s := NewFrameScanner(io.MultiReader(bytes.NewReader(AppendFrame(nil, counterMessage(), nil)), errReader{boom}), 0)
	if !s.Next() {
		t.Fatal("first frame not found")
	}
	if s.Next() || !errors.Is(s.Err(), boom) {
		t.Fatalf("Err() = %v, want boom", s.Err())
	}
}

func FuzzFrameScanner(f *testing.F) {
	for _, name := range []string{"heka-go-frames-hmac-sha1.hex", "heka-py-frames-hmac-sha1.hex"} {
		var all []byte
		for _, fr := range readHexVectors(f, name) {
			all = append(all, fr...)
			f.Add(fr, uint16(0))
		}
		f.Add(all, uint16(100))
	}
	f.Add([]byte{RecordSeparator, 2, 8, 0, UnitSeparator}, uint16(0))
	kr := vectorKeyRing()
	f.Fuzz(func(t *testing.T, b []byte, max uint16) {
		s := NewFrameScanner(iotest.HalfReader(bytes.NewReader(b)), int(max))
		var seen int64
		for s.Next() {
			limit := int(max)
			if limit == 0 {
				limit = DefaultMaxMessageSize
			}
			if len(s.Message()) > limit {
				t.Fatalf("frame of %d bytes passed a %d-byte limit", len(s.Message()), limit)
			}
			seen += int64(len(s.Message())) + int64(s.Header().size()) + frameOverhead
			_ = kr.Verify(s.Header(), s.Message())
			var m Message
			if m.Unmarshal(s.Message()) != nil {
				s.Reject(errors.New("bad message"))
			}
		}
		if s.Discarded() > int64(len(b)) {
			t.Fatalf("discarded %d of %d bytes", s.Discarded(), len(b))
		}
	})
}

func BenchmarkAppendFrame(b *testing.B) {
	m := counterMessage()
	buf := make([]byte, 0, 512)
	b.ReportAllocs()
	for b.Loop() {
		buf = AppendFrame(buf[:0], m, nil)
	}
}

func BenchmarkFrameScanner(b *testing.B) {
	var stream []byte
	for range 1000 {
		stream = AppendFrame(stream, counterMessage(), nil)
	}
	r := bytes.NewReader(stream)
	b.SetBytes(int64(len(stream)))
	b.ReportAllocs()
	for b.Loop() {
		r.Reset(stream)
		s := NewFrameScanner(r, 0)
		n := 0
		for s.Next() {
			n++
		}
		if n != 1000 {
			b.Fatal(n)
		}
	}
}
