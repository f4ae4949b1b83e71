package message

import (
	"bytes"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"
)

// jsonCounter is a counter with every header value set.
func jsonCounter() *Message {
	m := &Message{
		UUID:      [16]byte{0xf5, 0xa1, 0x8d, 0xd2, 0xf4, 0x43, 0x49, 0xed, 0x80, 0x00, 0x7b, 0x10, 0xdc, 0xbe, 0x87, 0xf1},
		Timestamp: 1795564083080606123, Type: "counter", Logger: "myapp", Severity: Info,
		Payload: "1", EnvVersion: "0.8", Pid: 10273, Hostname: "vm",
	}
	m.AddString("name", "req.count")
	m.AddDouble("rate", 1)
	return m
}

// jsonEightFields is a timer with eight fields of every kind.
func jsonEightFields() *Message {
	m := jsonCounter()
	m.Type, m.Payload, m.Severity = "timer", "12", Warning
	m.Fields = nil
	m.AddString("name", "db.query")
	m.AddDouble("rate", 0.25)
	m.AddInt("rows", 1523)
	m.AddBool("cached", false)
	m.Fields = append(m.Fields, NewString("tags", "db", "read"), NewInt("elapsed", 12).WithRepresentation("ms"))
	m.AddInt("http.status", 200)
	m.AddString("http.path", "/api/v1/users")
	return m
}

func TestAppendJSON(t *testing.T) {
	want := `{"uuid":"f5a18dd2-f443-49ed-8000-7b10dcbe87f1","timestamp":"2026-11-24T23:48:03.080606123Z","type":"counter","logger":"myapp","severity":6,"payload":"1","env_version":"0.8","pid":10273,"hostname":"vm","fields":{"name":"req.count","rate":1.0}}`
	if got := string(AppendJSON(nil, jsonCounter())); got != want {
		t.Errorf("\n got %s\nwant %s", got, want)
	}
	empty := `{"uuid":"00000000-0000-0000-0000-000000000000","timestamp":"1970-01-01T00:00:00.000000000Z","type":"","logger":"","severity":0,"payload":"","env_version":"","pid":0,"hostname":""}`
	if got := string(AppendJSON(nil, &Message{})); got != empty {
		t.Errorf("empty message\n got %s\nwant %s", got, empty)
	}
	extremes := []struct {
		ns   int64
		want string
	}{
		{math.MinInt64, "1677-09-21T00:12:43.145224192Z"},
		{math.MaxInt64, "2262-04-11T23:47:16.854775807Z"},
		{-1, "1969-12-31T23:59:59.999999999Z"},
	}
	for _, tc := range extremes {
		got := string(AppendJSON(nil, &Message{Timestamp: tc.ns}))
		if !strings.Contains(got, `"timestamp":"`+tc.want+`"`) {
			t.Errorf("timestamp %d: %s, want %s", tc.ns, got, tc.want)
		}
	}
	header := &Message{Type: "t\"\\\n", Logger: "caf\u00e9", Severity: -3, Payload: "<a&b>\x01\x7f\u2028", Pid: math.MinInt32, Hostname: "\xff"}
	wantHeader := `"type":"t\"\\\n","logger":"café","severity":-3,"payload":"<a&b>\u0001` + "\x7f\u2028" + `","env_version":"","pid":-2147483648,"hostname":"\ufffd"}`
	if got := string(AppendJSON(nil, header)); !strings.HasSuffix(got, wantHeader) {
		t.Errorf("header escaping\n got %s\nwant …%s", got, wantHeader)
	}
}

func TestAppendJSONFields(t *testing.T) {
	negZero := math.Copysign(0, -1)
	for _, tc := range []struct {
		name   string
		fields []Field
		want   string
	}{
		{"string", []Field{NewString("s", "a")}, `{"s":"a"}`},
		{"strings", []Field{NewString("s", "a", "")}, `{"s":["a",""]}`},
		{"integers", []Field{NewInt("i", -5), NewInt("j", math.MinInt64, math.MaxInt64)}, `{"i":-5,"j":[-9223372036854775808,9223372036854775807]}`},
		{"doubles keep a point or exponent", []Field{NewDouble("d", 1, 1.5e300, 1e21, 123456789, 1e-7, negZero, 0.1, 5e-324)},
			`{"d":[1.0,1.5e+300,1e+21,123456789.0,1e-7,-0.0,0.1,5e-324]}`},
		{"bools", []Field{NewBool("b", true), NewBool("c", false, true)}, `{"b":true,"c":[false,true]}`},
		{"bytes", []Field{NewBytes("by", []byte{0, 1}), NewBytes("bz", nil, []byte("hi"))},
			`{"by":{"type":"bytes","value":"AAE="},"bz":{"type":"bytes","value":["","aGk="]}}`},
		{"representation", []Field{NewInt("t", 5).WithRepresentation("ms"), NewString("u", "x", "y").WithRepresentation("\"q\"")},
			`{"t":{"type":"integer","representation":"ms","value":5},"u":{"type":"string","representation":"\"q\"","value":["x","y"]}}`},
		{"no values", []Field{NewString("e"), NewBool("f")}, `{"e":{"type":"string","value":[]},"f":{"type":"bool","value":[]}}`},
		{"non-finite doubles", []Field{NewDouble("n", math.NaN(), math.Inf(1), math.Inf(-1)), NewDouble("m", 1, math.NaN())},
			`{"n":{"type":"double","value":["NaN","+Inf","-Inf"]},"m":{"type":"double","value":[1.0,"NaN"]}}`},
		{"repeated names", []Field{NewInt("a", 1), NewString("b", "x"), NewString("a"), NewInt("a", 2, 3).WithRepresentation("s")},
			`{"a":[{"type":"integer","value":1},{"type":"string","value":[]},{"type":"integer","representation":"s","value":[2,3]}],"b":"x"}`},
		{"names and strings escaped", []Field{NewString("k\"\u00e9\x00", "\"\\\n\r\t\b\f\x01<>&\u00e9\xff\U0001F600")},
			`{"k\"é\u0000":"\"\\\n\r\t\b\f\u0001<>&é\ufffd😀"}`},
		{"empty name", []Field{NewInt("", 1)}, `{"":1}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := string(AppendJSON(nil, &Message{Fields: tc.fields}))
			_, fields, _ := strings.Cut(got, `"fields":`)
			if fields != tc.want+"}" {
				t.Errorf("\n got %s\nwant %s}", fields, tc.want)
			}
			var back Message
			if err := DecodeJSON([]byte(got), &back); err != nil {
				t.Fatal(err)
			}
			if want := grouped(&Message{Fields: tc.fields}); !back.Equal(want) {
				t.Errorf("round trip\n got %+v\nwant %+v", back.Fields, want.Fields)
			}
		})
	}
}

// grouped returns what a message is after a round trip through canonical
// JSON: fields of one name moved to where the first stands, severity 0
// kept, and invalid UTF-8 in strings replaced byte by byte with U+FFFD.
func grouped(m *Message) *Message {
	c := m.Clone()
	c.Fields = nil
	seen := map[string]bool{}
	for i, f := range m.Clone().Fields {
		if !seen[f.Name] {
			seen[f.Name] = true
			for _, g := range m.Clone().Fields[i:] {
				if g.Name == f.Name {
					c.Fields = append(c.Fields, g)
				}
			}
		}
	}
	for _, s := range []*string{&c.Type, &c.Logger, &c.Payload, &c.EnvVersion, &c.Hostname} {
		*s = replaceInvalid(*s)
	}
	for i := range c.Fields {
		f := &c.Fields[i]
		f.Name, f.Representation = replaceInvalid(f.Name), replaceInvalid(f.Representation)
		for j := range f.Strings {
			f.Strings[j] = replaceInvalid(f.Strings[j])
		}
	}
	return c
}

// replaceInvalid replaces each byte of invalid UTF-8 in s with U+FFFD.
func replaceInvalid(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && n == 1 {
			b.WriteRune(utf8.RuneError)
		} else {
			b.WriteString(s[i : i+n])
		}
		i += n
	}
	return b.String()
}

// randomJSONMessage builds a message that strains canonical JSON: every
// value type, repeated names (adjacent or not), empty and invalid strings,
// extreme numbers and times.
func randomJSONMessage(r *rand.Rand) *Message {
	pick := func(xs ...string) string { return xs[r.IntN(len(xs))] }
	str := func() string {
		var b strings.Builder
		for range r.IntN(6) {
			b.WriteString(pick("a", "Z", " ", ".", "é", "日本", "\U0001F600", "\x00", "\n", "\x1f", "\x7f", `"`, `\`, "/", "<&>", "\u2028", "\xff", "\xed\xa0\x80", "\ufffd"))
		}
		return b.String()
	}
	m := &Message{
		Timestamp: []int64{0, -1, 1, math.MinInt64, math.MaxInt64, r.Int64(), -r.Int64()}[r.IntN(7)],
		Type:      str(), Logger: str(), Payload: str(), EnvVersion: str(), Hostname: str(),
		Severity: []int32{0, 6, 7, -1, 9, math.MaxInt32, math.MinInt32}[r.IntN(7)],
		Pid:      []int32{0, 1, r.Int32(), -r.Int32(), math.MinInt32}[r.IntN(5)],
	}
	if r.IntN(4) > 0 {
		m.UUID = NewUUID()
	}
	doubles := []float64{0, math.Copysign(0, -1), 1, -1.5, 0.1, 1e21, 1e-7, 5e-324, math.MaxFloat64, -math.MaxFloat64,
		math.NaN(), math.Inf(1), math.Inf(-1), r.NormFloat64(), r.ExpFloat64() * 1e30}
	names := []string{"", "a", "b", "a.b", "name", "é.\U0001F600", str()}
	for range r.IntN(9) {
		f := Field{Name: names[r.IntN(len(names))], Type: ValueType(r.IntN(5))}
		if r.IntN(3) == 0 {
			f.Representation = pick("ms", "count", "", str())
		}
		for range []int{0, 1, 1, 2, 3}[r.IntN(5)] {
			switch f.Type {
			case String:
				f.Strings = append(f.Strings, str())
			case Bytes:
				f.Bytes = append(f.Bytes, []byte(str()))
			case Integer:
				f.Integers = append(f.Integers, []int64{0, -1, math.MinInt64, math.MaxInt64, r.Int64()}[r.IntN(5)])
			case Double:
				f.Doubles = append(f.Doubles, doubles[r.IntN(len(doubles))])
			case Bool:
				f.Bools = append(f.Bools, r.IntN(2) == 1)
			}
		}
		m.Fields = append(m.Fields, f)
	}
	return m
}

// Random messages come back equal, up to grouping by name and U+FFFD.
func TestJSONRoundTripRandom(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	var back Message // reused across messages
	for i := range 20000 {
		m := randomJSONMessage(r)
		enc := AppendJSON(nil, m)
		if !utf8.Valid(enc) {
			t.Fatalf("message %d: the encoding is not valid UTF-8: %q", i, enc)
		}
		if err := DecodeJSON(enc, &back); err != nil {
			t.Fatalf("message %d: %v\n%s", i, err, enc)
		}
		want := grouped(m)
		if !back.Equal(want) {
			t.Fatalf("message %d changed\n got %+v\nwant %+v\n%s", i, back, *want, enc)
		}
		if again := AppendJSON(nil, &back); !bytes.Equal(again, AppendJSON(nil, want)) {
			t.Fatalf("message %d: re-encoding differs\n got %s\nfrom %s", i, again, enc)
		}
	}
}

// Every message in the Heka test vectors comes back equal.
func TestJSONRoundTripHekaFrames(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "*.hex"))
	if err != nil || len(files) < 4 {
		t.Fatalf("%d vector files, %v", len(files), err)
	}
	n := 0
	for _, file := range files {
		for i, frame := range readHexVectors(t, filepath.Base(file)) {
			_, msg, _, err := ParseFrame(frame, 0)
			if err != nil {
				t.Fatalf("%s frame %d: %v", file, i, err)
			}
			var m, back Message
			if err := m.Unmarshal(msg); err != nil {
				t.Fatalf("%s frame %d: %v", file, i, err)
			}
			enc := AppendJSON(nil, &m)
			if err := DecodeJSON(enc, &back); err != nil {
				t.Fatalf("%s frame %d: %v", file, i, err)
			}
			if !sameContent(&back, &m) {
				t.Errorf("%s frame %d changed\n got %+v\nwant %+v\n%s", file, i, back, m, enc)
			}
			n++
		}
	}
	if n < 40 {
		t.Fatalf("only %d frames", n)
	}
}

func TestDecodeJSONLenient(t *testing.T) {
	u := jsonCounter().UUID
	for _, tc := range []struct {
		name, in string
		want     *Message
	}{
		{"empty object", `{}`, &Message{Severity: Info}},
		{"any order, trailing newline", "{\"hostname\":\"h\",\"severity\":3,\"type\":\"t\"}\n", &Message{Hostname: "h", Severity: 3, Type: "t"}},
		{"timestamp in nanoseconds", `{"timestamp":-1795564083080606123}`, &Message{Severity: Info, Timestamp: -1795564083080606123}},
		{"timestamp with offset", `{"timestamp":"2026-11-25T01:48:03.080606123+02:00"}`, &Message{Severity: Info, Timestamp: 1795564083080606123}},
		{"uuid without dashes", `{"uuid":"F5A18DD2F44349ED80007B10DCBE87F1"}`, &Message{Severity: Info, UUID: u}},
		{"uuid empty", `{"uuid":""}`, &Message{Severity: Info}},
		{"severity name", `{"severity":"warning"}`, &Message{Severity: Warning}},
		{"severity as a string", `{"severity":"5"}`, &Message{Severity: 5}},
		{"severity outside 0..7", `{"severity":-2}`, &Message{Severity: -2}},
		{"nulls", `{"severity":null,"type":null,"pid":null,"fields":null,"timestamp":null,"uuid":null}`, &Message{Severity: Info}},
		{"payload of another type", `{"payload":{"a": [1, true]}}`, &Message{Severity: Info, Payload: `{"a":[1,true]}`}},
		{"payload with invalid UTF-8", "{\"payload\":[\"\xff\", \"\\u00e9\"]}", &Message{Severity: Info, Payload: "[\"\ufffd\",\"é\"]"}},
		{"integers and fractions are doubles", `{"fields":{"x":[1,2.5,-3]}}`, &Message{Severity: Info, Fields: []Field{NewDouble("x", 1, 2.5, -3)}}},
		{"empty plain array", `{"fields":{"x":[]}}`, &Message{Severity: Info, Fields: []Field{NewString("x")}}},
		{"null field", `{"fields":{"x":null,"y":1}}`, &Message{Severity: Info, Fields: []Field{NewInt("y", 1)}}},
		{"unknown keys become fields", `{"message":"hi","user":{"id":5,"tags":["a"]},"fields":{"user.id":{"type":"int","value":[]}}}`,
			&Message{Severity: Info, Fields: []Field{NewString("message", "hi"), NewInt("user.id", 5), NewString("user.tags", "a"), NewInt("user.id")}}},
		{"metlog keys are unknown here", `{"metlog_pid":5}`, &Message{Severity: Info, Fields: []Field{NewInt("metlog_pid", 5)}}},
		{"descriptor without type", `{"fields":{"t":{"representation":"ms","value":[1,2]}}}`,
			&Message{Severity: Info, Fields: []Field{NewInt("t", 1, 2).WithRepresentation("ms")}}},
		{"descriptor value before type", `{"fields":{"b":{"value":"AAE=","type":"bytes"}}}`,
			&Message{Severity: Info, Fields: []Field{NewBytes("b", []byte{0, 1})}}},
		{"descriptor type aliases", `{"fields":{"f":{"type":"float","value":[1,"Infinity","-inf"]},"i":{"type":"int","value":7}}}`,
			&Message{Severity: Info, Fields: []Field{NewDouble("f", 1, math.Inf(1), math.Inf(-1)), NewInt("i", 7)}}},
		{"descriptor value given twice", `{"fields":{"s":{"type":"string","value":["a","b"],"value":"c"}}}`,
			&Message{Severity: Info, Fields: []Field{NewString("s", "c")}}},
		{"duplicate keys", `{"type":"a","type":"b","fields":{"x":1,"x":2}}`,
			&Message{Severity: Info, Type: "b", Fields: []Field{NewInt("x", 1), NewInt("x", 2)}}},
		{"escapes", `{"type":"\u00e9\ud83d\ude00\/","fields":{"\n":"\ud800"}}`,
			&Message{Severity: Info, Type: "é\U0001F600/", Fields: []Field{NewString("\n", "\ufffd")}}},
		{"invalid UTF-8", "{\"type\":\"a\xffb\",\"fields\":{\"k\xfe\":[\"\xc3\"]}}",
			&Message{Severity: Info, Type: "a\ufffdb", Fields: []Field{NewString("k\ufffd", "\ufffd")}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var m Message
			if err := DecodeJSON([]byte(tc.in), &m); err != nil {
				t.Fatal(err)
			}
			if !sameContent(&m, tc.want) {
				t.Errorf("\n got %+v\nwant %+v", m, *tc.want)
			}
		})
	}
}

func TestDecodeJSONErrors(t *testing.T) {
	for _, tc := range []struct {
		name, in, want string
	}{
		{"empty", ``, `JSON: the input is empty`},
		{"truncated", `{"type":"t","fields":{"a":[1,`, `JSON: the input ends early`},
		{"not an object", `"text"`, `JSON: the input must be a JSON object, got "text"`},
		{"two objects", `{}{}`, `JSON: unexpected data after the JSON object`},
		{"bad uuid", `{"uuid":"f5a18dd2-f443-49ed-8000-7b10dcbe87fz"}`, `JSON: "uuid" must be a UUID such as`},
		{"uuid number", `{"uuid":5}`, `"uuid" must be a UUID`},
		{"fractional timestamp", `{"timestamp":1.5}`, `JSON: "timestamp" must be an RFC 3339 time or integer nanoseconds since the epoch, got 1.5`},
		{"timestamp overflow", `{"timestamp":9223372036854775808}`, `got 9223372036854775808`},
		{"bad timestamp", `{"timestamp":"2026-02-30T00:00:00Z"}`, `JSON: "timestamp" "2026-02-30T00:00:00Z" is not a valid time`},
		{"severity over int32", `{"severity":2147483648}`, `JSON: "severity" must be an integer 0..7 or a severity name, got 2147483648`},
		{"severity unknown name", `{"severity":"loud"}`, `got "loud"`},
		{"pid", `{"pid":"x"}`, `JSON: "pid" must be an integer in the range of int32, got "x"`},
		{"string header", `{"hostname":1}`, `JSON: "hostname" must be a string, got 1`},
		{"fields as a list", `{"fields":[]}`, `JSON: "fields" must be an object, got []`},
		{"unknown type", `{"fields":{"x":{"type":"uuid","value":"a"}}}`, `JSON: field "x": "type" must be one of "string", "bytes", "integer", "double", "bool", got "uuid"`},
		{"type not a string", `{"fields":{"x":{"type":2}}}`, `"type" must be one of`},
		{"representation not a string", `{"fields":{"x":{"representation":1}}}`, `JSON: field "x": "representation" must be a string, got 1`},
		{"unknown descriptor key", `{"fields":{"x":{"type":"string","values":["a"]}}}`, `JSON: field "x": a descriptor has only "type", "representation" and "value", got "values"`},
		{"fraction in integers", `{"fields":{"x":{"type":"integer","value":[1,1.5]}}}`, `JSON: field "x": the values of a integer field must all be integers in the range of int64`},
		{"integer overflow", `{"fields":{"x":{"type":"integer","value":9223372036854775808}}}`, `must all be integers`},
		{"number in strings", `{"fields":{"x":{"type":"string","value":["a",5]}}}`, `the values of a string field must all be strings`},
		{"object in values", `{"fields":{"x":{"type":"string","value":[{}]}}}`, `must all be strings`},
		{"bad bool", `{"fields":{"x":{"type":"bool","value":"yes"}}}`, `must all be true or false`},
		{"bad base64", `{"fields":{"x":{"type":"bytes","value":["AAE=","!!"]}}}`, `JSON: field "x": "!!" is not a bytes value`},
		{"bad double", `{"fields":{"x":{"type":"double","value":["NaN","many"]}}}`, `JSON: field "x": "many" is not a double value`},
		{"descriptors mixed with values", `{"fields":{"x":[{"type":"string","value":"a"},1]}}`, `JSON: field "x": an array of descriptors must hold only objects`},
		{"deep", `{"fields":{"x":` + strings.Repeat(`[`, 40) + strings.Repeat(`]`, 40) + `}}`, `nest deeper than 32 levels`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var m Message
			err := DecodeJSON([]byte(tc.in), &m)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error = %v, want it to contain %q", err, tc.want)
			}
		})
	}
}

func TestJSONAllocations(t *testing.T) {
	for _, m := range []*Message{jsonCounter(), jsonEightFields()} {
		buf := make([]byte, 0, 1024)
		if n := testing.AllocsPerRun(100, func() { buf = AppendJSON(buf[:0], m) }); n != 0 {
			t.Errorf("AppendJSON allocates %v times, want 0", n)
		}
		if n := testing.AllocsPerRun(100, func() { buf = AppendMetlogJSON(buf[:0], m) }); n != 0 {
			t.Errorf("AppendMetlogJSON allocates %v times, want 0", n)
		}
	}
	if raceEnabled {
		t.Skip("the race detector makes the decoders' sync.Pool allocate")
	}
	// Decoding makes one copy of the input that the decoded strings share,
	// and one string per nested field name.
	var m Message
	for _, tc := range []struct {
		decode func([]byte, *Message) error
		in     []byte
		max    float64
	}{
		{DecodeJSON, AppendJSON(nil, jsonCounter()), 1},
		{DecodeMetlogJSON, metlogCounter, 1},
		{DecodeJSON, AppendJSON(nil, jsonEightFields()), 1},
		{DecodeMetlogJSON, metlogEightFields, 3},
	} {
		if err := tc.decode(tc.in, &m); err != nil {
			t.Fatal(err)
		}
		if n := testing.AllocsPerRun(100, func() { _ = tc.decode(tc.in, &m) }); n > tc.max {
			t.Errorf("decoding %s allocates %v times, want at most %v", tc.in, n, tc.max)
		}
	}
}

func FuzzDecodeJSON(f *testing.F) {
	r := rand.New(rand.NewPCG(7, 8))
	for range 20 {
		f.Add(AppendJSON(nil, randomJSONMessage(r)))
	}
	f.Add(AppendJSON(nil, jsonEightFields()))
	inputs, _ := filepath.Glob(filepath.Join("testdata", "metlogjson", "*.golden"))
	for _, in := range inputs {
		b, err := os.ReadFile(in)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var m Message
		if err := DecodeJSON(b, &m); err != nil {
			return
		}
		for _, s := range []string{m.Type, m.Logger, m.Payload, m.EnvVersion, m.Hostname} {
			if !utf8.ValidString(s) {
				t.Fatalf("decoded invalid UTF-8 %q", s)
			}
		}
		enc := AppendJSON(nil, &m)
		var back Message
		if err := DecodeJSON(enc, &back); err != nil {
			t.Fatalf("re-encoded message does not decode: %v\n%s", err, enc)
		}
		if !back.Equal(grouped(&m)) {
			t.Fatalf("round trip changed the message\n got %+v\nwant %+v\n%s", back, m, enc)
		}
		if again := AppendJSON(nil, &back); !bytes.Equal(again, enc) {
			t.Fatalf("re-encoding differs\n got %s\nwant %s", again, enc)
		}
	})
}

func BenchmarkAppendJSON(b *testing.B) {
	for _, bc := range []struct {
		name string
		m    *Message
	}{{"counter", jsonCounter()}, {"8fields", jsonEightFields()}} {
		b.Run(bc.name, func(b *testing.B) {
			buf := make([]byte, 0, 1024)
			b.ReportAllocs()
			for b.Loop() {
				buf = AppendJSON(buf[:0], bc.m)
			}
			b.SetBytes(int64(len(buf)))
		})
	}
}

func BenchmarkDecodeJSON(b *testing.B) {
	for _, bc := range []struct {
		name string
		m    *Message
	}{{"counter", jsonCounter()}, {"8fields", jsonEightFields()}} {
		b.Run(bc.name, func(b *testing.B) {
			in := AppendJSON(nil, bc.m)
			var m Message
			b.ReportAllocs()
			b.SetBytes(int64(len(in)))
			for b.Loop() {
				if err := DecodeJSON(in, &m); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
