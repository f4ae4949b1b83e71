package message

import (
	"bufio"
	"bytes"
	"encoding/hex"
	"errors"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/metlog/metlog/message/pb"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
)

// toPB converts m to the generated type with the presence rules MarshalAppend
// follows, so that proto.Marshal of the result must equal MarshalAppend.
func toPB(m *Message) *pb.Message {
	p := &pb.Message{
		Uuid:      append([]byte(nil), m.UUID[:]...),
		Timestamp: proto.Int64(m.Timestamp),
		Severity:  proto.Int32(m.Severity),
	}
	opt := func(s string) *string {
		if s == "" {
			return nil
		}
		return proto.String(s)
	}
	p.Type, p.Logger, p.Payload = opt(m.Type), opt(m.Logger), opt(m.Payload)
	p.EnvVersion, p.Hostname = opt(m.EnvVersion), opt(m.Hostname)
	if m.Pid != 0 {
		p.Pid = proto.Int32(m.Pid)
	}
	for _, f := range m.Fields {
		vt := pb.Field_ValueType(f.Type)
		p.Fields = append(p.Fields, &pb.Field{
			Name: proto.String(f.Name), ValueType: &vt, Representation: proto.String(f.Representation),
			ValueString: f.Strings, ValueBytes: f.Bytes, ValueInteger: f.Integers,
			ValueDouble: f.Doubles, ValueBool: f.Bools,
		})
	}
	return p
}

// fromPB converts a decoded generated message to a Message, applying the
// schema defaults the way Unmarshal does. protobuf-go keeps an enum value its
// schema does not know (it treats proto2 enums as open, a documented
// departure from the spec); proto2 says such a value is an unknown field, so
// the type keeps its default, which is what Unmarshal does.
func fromPB(p *pb.Message) *Message {
	m := &Message{
		Timestamp: p.GetTimestamp(), Type: p.GetType(), Logger: p.GetLogger(), Severity: p.GetSeverity(),
		Payload: p.GetPayload(), EnvVersion: p.GetEnvVersion(), Pid: p.GetPid(), Hostname: p.GetHostname(),
	}
	copy(m.UUID[:], p.Uuid)
	for _, f := range p.Fields {
		vt := ValueType(f.GetValueType())
		if vt < String || vt > Bool {
			vt = String
		}
		m.Fields = append(m.Fields, Field{
			Name: f.GetName(), Representation: f.GetRepresentation(), Type: vt,
			Strings: f.ValueString, Bytes: f.ValueBytes, Integers: f.ValueInteger, Doubles: f.ValueDouble, Bools: f.ValueBool,
		})
	}
	return m
}

// sameContent compares messages treating nil and empty value arrays alike.
func sameContent(a, b *Message) bool {
	norm := func(m *Message) *Message {
		c := m.Clone()
		for i := range c.Fields {
			f := &c.Fields[i]
			if len(f.Strings) == 0 {
				f.Strings = nil
			}
			if len(f.Bytes) == 0 {
				f.Bytes = nil
			}
			for j := range f.Bytes {
				if len(f.Bytes[j]) == 0 {
					f.Bytes[j] = []byte{}
				}
			}
			if len(f.Integers) == 0 {
				f.Integers = nil
			}
			if len(f.Doubles) == 0 {
				f.Doubles = nil
			}
			if len(f.Bools) == 0 {
				f.Bools = nil
			}
		}
		return c
	}
	return norm(a).Equal(norm(b))
}

// randomMessage builds a message exercising every part of the schema.
func randomMessage(r *rand.Rand) *Message {
	str := func() string {
		alphabet := []string{"a", "b", "é", "日本", "\x00", "\n", "\"", "\\", "z", "\U0001F600", "\xff"}
		n := r.IntN(6)
		var b []byte
		for range n {
			b = append(b, alphabet[r.IntN(len(alphabet))]...)
		}
		return string(b)
	}
	m := &Message{
		UUID: NewUUID(), Timestamp: r.Int64() - r.Int64(), Type: str(), Logger: str(),
		Severity: int32(r.IntN(10)) - 1, Payload: str(), EnvVersion: str(), Pid: r.Int32() - r.Int32(), Hostname: str(),
	}
	for range r.IntN(6) {
		f := Field{Name: str(), Representation: str(), Type: ValueType(r.IntN(5))}
		n := r.IntN(4)
		for range n {
			switch f.Type {
			case String:
				f.Strings = append(f.Strings, str())
			case Bytes:
				f.Bytes = append(f.Bytes, []byte(str()))
			case Integer:
				f.Integers = append(f.Integers, r.Int64()-r.Int64())
			case Double:
				f.Doubles = append(f.Doubles, []float64{0, -0.5, 1e300, math.Inf(1), r.NormFloat64()}[r.IntN(5)])
			case Bool:
				f.Bools = append(f.Bools, r.IntN(2) == 1)
			}
		}
		if r.IntN(8) == 0 { // long enough that its length takes 2 or 3 varint bytes
			f.Type, f.Strings = String, append(f.Strings, strings.Repeat("long", []int{40, 5000}[r.IntN(2)]))
		}
		m.Fields = append(m.Fields, f)
		if r.IntN(4) == 0 { // a second field of the same name
			m.Fields = append(m.Fields, NewInt(f.Name, r.Int64()))
		}
	}
	return m
}

func TestMarshalMatchesGeneratedCode(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for i := range 2000 {
		m := randomMessage(r)
		got := m.MarshalAppend(nil)
		want, err := proto.MarshalOptions{Deterministic: true}.Marshal(toPB(m))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("message %d: MarshalAppend differs from proto.Marshal\n got %x\nwant %x", i, got, want)
		}
		if m.Size() != len(got) {
			t.Fatalf("message %d: Size() = %d, encoding is %d bytes", i, m.Size(), len(got))
		}
		var back Message
		if err := back.Unmarshal(got); err != nil {
			t.Fatalf("message %d: %v", i, err)
		}
		if !sameContent(&back, m) {
			t.Fatalf("message %d: round trip changed it\n got %+v\nwant %+v", i, back, *m)
		}
	}
}

// TestUnmarshalUnpackedAndUnknown checks what proto2 readers must accept and
// Heka's writers never produce: unpacked arrays, unknown fields, fields out
// of order, repeated scalars (last wins), unknown enum values.
func TestUnmarshalUnpackedAndUnknown(t *testing.T) {
	var f []byte
	f = protowire.AppendTag(f, fnFieldInteger, protowire.VarintType)
	f = protowire.AppendVarint(f, 5)
	f = protowire.AppendTag(f, fnFieldName, protowire.BytesType)
	f = protowire.AppendString(f, "n")
	f = protowire.AppendTag(f, fnFieldValueType, protowire.VarintType)
	f = protowire.AppendVarint(f, 99) // unknown enum value: ignored
	f = protowire.AppendTag(f, fnFieldValueType, protowire.VarintType)
	f = protowire.AppendVarint(f, uint64(Integer))
	f = protowire.AppendTag(f, fnFieldInteger, protowire.VarintType)
	f = protowire.AppendVarint(f, uint64(1<<64-3)) // -3
	f = protowire.AppendTag(f, fnFieldDouble, protowire.Fixed64Type)
	f = protowire.AppendFixed64(f, math.Float64bits(2.5))
	f = protowire.AppendTag(f, fnFieldBool, protowire.VarintType)
	f = protowire.AppendVarint(f, 7)
	f = protowire.AppendTag(f, 15, protowire.Fixed32Type) // unknown
	f = protowire.AppendFixed32(f, 1)

	var b []byte
	b = protowire.AppendTag(b, fnSeverity, protowire.VarintType)
	b = protowire.AppendVarint(b, 2)
	b = protowire.AppendTag(b, fnFields, protowire.BytesType)
	b = protowire.AppendBytes(b, f)
	b = protowire.AppendTag(b, 99, protowire.BytesType) // unknown
	b = protowire.AppendString(b, "ignored")
	b = protowire.AppendTag(b, fnType, protowire.BytesType)
	b = protowire.AppendString(b, "first")
	b = protowire.AppendTag(b, fnType, protowire.BytesType)
	b = protowire.AppendString(b, "last")
	b = protowire.AppendTag(b, fnPid, protowire.BytesType) // pid with a foreign wire type: unknown
	b = protowire.AppendString(b, "x")
	b = protowire.AppendTag(b, 20, protowire.StartGroupType)
	b = protowire.AppendTag(b, 1, protowire.VarintType)
	b = protowire.AppendVarint(b, 1)
	b = protowire.AppendTag(b, 20, protowire.EndGroupType)

	var m Message
	if err := m.Unmarshal(b); err != nil {
		t.Fatal(err)
	}
	want := &Message{Type: "last", Severity: 2, Fields: []Field{{
		Name: "n", Type: Integer, Integers: []int64{5, -3}, Doubles: []float64{2.5}, Bools: []bool{true},
	}}}
	if !sameContent(&m, want) {
		t.Fatalf("got %+v\nwant %+v", m, *want)
	}
	var lone Message
	if err := lone.Unmarshal([]byte{0x52, 0x02, 0x10, 0x63}); err != nil || lone.Fields[0].Type != String {
		t.Fatalf("a lone unknown value_type must leave the default STRING: %+v, %v", lone, err)
	}
	var p pb.Message
	if err := (proto.UnmarshalOptions{AllowPartial: true}).Unmarshal(b, &p); err != nil {
		t.Fatal(err)
	}
	if !sameContent(&m, fromPB(&p)) {
		t.Fatalf("generated code decodes differently: %+v", *fromPB(&p))
	}
}

func TestUnmarshalErrors(t *testing.T) {
	valid := (&Message{Type: "t", Fields: []Field{NewString("a", "b")}}).MarshalAppend(nil)
	badUUID := protowire.AppendTag(nil, fnUUID, protowire.BytesType)
	badUUID = protowire.AppendBytes(badUUID, []byte{1, 2, 3})
	for _, tc := range []struct {
		name string
		in   []byte
		want string
	}{
		{"truncated", valid[:len(valid)-2], "malformed"},
		{"uuid of 3 bytes", badUUID, "uuid must be 16 bytes"},
		{"varint overflow", []byte{0x10, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01}, "malformed message protobuf at byte 1"},
		{"field number zero", []byte{0x00, 0x01}, "malformed message protobuf at byte 0"},
		{"length past the end", []byte{0x32, 0x10, 'a'}, "malformed"},
		{"bad packed doubles", append([]byte{0x52, 0x04}, 0x3a, 0x02, 0, 0), "not a multiple of 8"},
		{"garbage field", []byte{0x52, 0x02, 0xff, 0xff}, "malformed field"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var m Message
			err := m.Unmarshal(tc.in)
			if err == nil || !bytes.Contains([]byte(err.Error()), []byte(tc.want)) {
				t.Fatalf("Unmarshal(%x) error = %v, want it to contain %q", tc.in, err, tc.want)
			}
		})
	}
	var m Message
	if err := m.Unmarshal(badUUID); !errors.Is(err, ErrUUIDLength) {
		t.Fatalf("errors.Is(%v, ErrUUIDLength) is false", err)
	}
}

func TestUnmarshalDefaultsAndReuse(t *testing.T) {
	var m Message
	if err := m.Unmarshal(nil); err != nil || m.Severity != DefaultSeverity || m.Type != "" {
		t.Fatalf("empty input: %+v, %v", m, err)
	}
	full := &Message{UUID: NewUUID(), Timestamp: 1, Type: "x", Severity: 3, Fields: []Field{NewString("a", "1"), NewInt("b", 2)}}
	if err := m.Unmarshal(full.MarshalAppend(nil)); err != nil || !m.Equal(full) {
		t.Fatalf("got %+v, %v", m, err)
	}
	small := &Message{Type: "y", Severity: 1}
	if err := m.Unmarshal(small.MarshalAppend(nil)); err != nil {
		t.Fatal(err)
	}
	if len(m.Fields) != 0 || m.Type != "y" || m.UUID != ([16]byte{}) {
		t.Fatalf("reuse left old data behind: %+v", m)
	}
}

// A decoded message shares nothing with the input, so input buffers can be reused.
func TestUnmarshalCopiesInput(t *testing.T) {
	src := &Message{Type: "typ", Fields: []Field{NewString("s", "value"), NewBytes("b", []byte("raw"))}}
	b := src.MarshalAppend(nil)
	var m Message
	if err := m.Unmarshal(b); err != nil {
		t.Fatal(err)
	}
	for i := range b {
		b[i] = 'X'
	}
	if !m.Equal(src) {
		t.Fatalf("decoded message changed with its input: %+v", m)
	}
}

func counterMessage() *Message {
	m := &Message{UUID: NewUUID(), Timestamp: 1795566216725984879, Type: "counter", Logger: "myapp",
		Severity: Info, Payload: "1", EnvVersion: "0.8", Pid: 21449, Hostname: "vm"}
	m.AddString("name", "req.count")
	m.AddDouble("rate", 1)
	return m
}

func TestCodecAllocations(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector makes sync.Pool drop items, so allocation counts mean nothing")
	}
	m := counterMessage()
	buf := make([]byte, 0, 512)
	if n := testing.AllocsPerRun(100, func() { buf = m.MarshalAppend(buf[:0]) }); n != 0 {
		t.Errorf("MarshalAppend allocates %v times, want 0", n)
	}
	s, _ := NewSigner("ops", 1, SHA1, []byte("key"))
	if n := testing.AllocsPerRun(100, func() { buf = AppendFrame(buf[:0], m, s) }); n != 0 {
		t.Errorf("signed AppendFrame allocates %v times, want 0", n)
	}
	enc := m.MarshalAppend(nil)
	var out Message
	_ = out.Unmarshal(enc)
	// One copy of the input that every decoded string shares.
	if n := testing.AllocsPerRun(100, func() { _ = out.Unmarshal(enc) }); n > 1 {
		t.Errorf("Unmarshal into a reused message allocates %v times, want at most 1", n)
	}
}

// readHexVectors returns the frames of a test-vector file, one per line.
func readHexVectors(t testing.TB, name string) [][]byte {
	t.Helper()
	f, err := os.Open(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out [][]byte
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		b, err := hex.DecodeString(sc.Text())
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, b)
	}
	return out
}

func FuzzUnmarshal(f *testing.F) {
	for _, name := range []string{"heka-go-frames.hex", "heka-py-frames-hmac-sha1.hex"} {
		for _, fr := range readHexVectors(f, name) {
			_, msg, _, err := ParseFrame(fr, 0)
			if err == nil {
				f.Add(msg)
			}
		}
	}
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		var m Message
		err := m.Unmarshal(b)
		var p pb.Message
		perr := proto.UnmarshalOptions{AllowPartial: true}.Unmarshal(b, &p)
		if err != nil {
			if perr == nil && !errors.Is(err, ErrUUIDLength) {
				t.Fatalf("we reject what the generated code accepts: %v", err)
			}
			return
		}
		if perr != nil {
			t.Fatalf("we accept what the generated code rejects: %v", perr)
		}
		want := fromPB(&p)
		for i, pf := range p.Fields {
			if vt := pf.GetValueType(); vt < 0 || vt > pb.Field_BOOL {
				// protobuf-go keeps the last value even when unknown; proto2
				// keeps the last known one. See fromPB.
				want.Fields[i].Type = m.Fields[i].Type
			}
		}
		if !sameContent(&m, want) {
			t.Fatalf("decoders disagree\n ours %+v\n  pb  %+v", m, *fromPB(&p))
		}
		var again Message
		if err := again.Unmarshal(m.MarshalAppend(nil)); err != nil || !sameContent(&again, &m) {
			t.Fatalf("re-encoding does not round-trip: %v", err)
		}
	})
}

func BenchmarkMarshalAppend(b *testing.B) {
	m := counterMessage()
	buf := make([]byte, 0, 512)
	b.ReportAllocs()
	for b.Loop() {
		buf = m.MarshalAppend(buf[:0])
	}
}

func BenchmarkUnmarshal(b *testing.B) {
	enc := counterMessage().MarshalAppend(nil)
	var m Message
	b.ReportAllocs()
	for b.Loop() {
		if err := m.Unmarshal(enc); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkUnmarshalGenerated(b *testing.B) {
	enc := counterMessage().MarshalAppend(nil)
	b.ReportAllocs()
	for b.Loop() {
		var p pb.Message
		if err := proto.Unmarshal(enc, &p); err != nil {
			b.Fatal(err)
		}
	}
}
