package message

import (
	"bufio"
	"bytes"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// readLines returns the non-empty lines of a file in testdata.
func readLines(t testing.TB, name string) [][]byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	var out [][]byte
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		if len(sc.Bytes()) > 0 {
			out = append(out, bytes.Clone(sc.Bytes()))
		}
	}
	return out
}

// Every datagram metlog-py sent decodes, and encodes back to the same bytes.
func TestMetlogJSONReproducesMetlogPy(t *testing.T) {
	lines := readLines(t, "metlogpy-udp.jsonl")
	if len(lines) != 16 {
		t.Fatalf("%d lines in metlogpy-udp.jsonl, want 16", len(lines))
	}
	var m Message
	for i, line := range lines {
		if err := DecodeMetlogJSON(line, &m); err != nil {
			t.Fatalf("line %d: %v", i+1, err)
		}
		if got := AppendMetlogJSON(nil, &m); !bytes.Equal(got, line) {
			t.Errorf("line %d:\n got %s\nwant %s", i+1, got, line)
		}
	}
}

// Each testdata/metlogjson/*.json decodes to the message that its .golden
// file holds in canonical JSON.
func TestDecodeMetlogJSONGolden(t *testing.T) {
	inputs, err := filepath.Glob(filepath.Join("testdata", "metlogjson", "*.json"))
	if err != nil || len(inputs) < 40 {
		t.Fatalf("found %d inputs, %v", len(inputs), err)
	}
	var m Message // reused, so that leftovers of one case would show in the next
	for _, in := range inputs {
		t.Run(strings.TrimSuffix(filepath.Base(in), ".json"), func(t *testing.T) {
			b, err := os.ReadFile(in)
			if err != nil {
				t.Fatal(err)
			}
			if err := DecodeMetlogJSON(b, &m); err != nil {
				t.Fatal(err)
			}
			got := append(AppendJSON(nil, &m), '\n')
			golden := strings.TrimSuffix(in, ".json") + ".golden"
			if *update {
				if err := os.WriteFile(golden, got, 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("decoded\n got %s\nwant %s", got, want)
			}
			var back Message
			if err := DecodeJSON(got, &back); err != nil || !back.Equal(&m) {
				t.Errorf("the golden form does not decode to the same message: %v", err)
			}
		})
	}
}

func TestDecodeMetlogJSONErrors(t *testing.T) {
	deep := `{"fields": ` + strings.Repeat(`{"a": `, 40) + `1` + strings.Repeat(`}`, 41)
	deepList := `{"x": ` + strings.Repeat(`[`, 40) + strings.Repeat(`]`, 40) + `}`
	for _, tc := range []struct {
		name, in, want string
	}{
		{"empty", ``, `metlog JSON: the input is empty`},
		{"blank", " \r\n", `metlog JSON: the input is empty`},
		{"truncated", `{"severity": 6, "fields": {"a": `, `metlog JSON: the input ends early`},
		{"truncated string", `{"type": "coun`, `metlog JSON: the input ends early`},
		{"not an object", `[1, 2]`, `metlog JSON: the input must be a JSON object, got [1, 2]`},
		{"binary garbage", "\x00\x1e\x02\x08\xff\xfe", `metlog JSON: invalid character '\x00' at start of value`},
		{"trailing object", `{"a": 1} {"b": 2}`, `metlog JSON: unexpected data after the JSON object`},
		{"trailing garbage", `{"a": 1}x`, `invalid character 'x'`},
		{"trailing comma", `{"a": 1,}`, `invalid character ','`},
		{"bad escape", `{"type": "\x"}`, "invalid escape sequence"},
		{"control character", "{\"type\": \"a\x01\"}", "invalid character"},
		{"severity high", `{"severity": "high"}`, `metlog JSON: "severity" must be an integer 0..7, got "high"`},
		{"severity 9", `{"severity": 9}`, `metlog JSON: "severity" must be an integer 0..7, got 9`},
		{"severity -1", `{"severity": -1}`, `got -1`},
		{"severity fraction", `{"severity": 6.5}`, `got 6.5`},
		{"severity bool", `{"severity": true}`, `got true`},
		{"pid 1e20", `{"metlog_pid": 1e20}`, `metlog JSON: "metlog_pid" must be an integer in the range of int32, got 1e20`},
		{"pid over int32", `{"metlog_pid": 2147483648}`, `got 2147483648`},
		{"pid string", `{"metlog_pid": "abc"}`, `got "abc"`},
		{"fields as a list", `{"fields": [1, 2]}`, `metlog JSON: "fields" must be an object, got [1, 2]`},
		{"fields as a string", `{"fields": "a=1"}`, `"fields" must be an object, got "a=1"`},
		{"40-deep nesting", deep, `metlog JSON: objects and arrays nest deeper than 32 levels`},
		{"40-deep lists", deepList, `nest deeper than 32 levels`},
		{"bad timestamp", `{"timestamp": "2026-13-01T00:00:00Z"}`, `metlog JSON: "timestamp" "2026-13-01T00:00:00Z" is not a valid time: a month`},
		{"timestamp layout", `{"timestamp": "yesterday"}`, `"timestamp" "yesterday" is not a valid time: want YYYY-MM-DD`},
		{"timestamp bool", `{"timestamp": true}`, `"timestamp" must be an RFC 3339 time or seconds since the epoch, got true`},
		{"timestamp range", `{"timestamp": 1e300}`, `got 1e300`},
		{"type number", `{"type": 5}`, `metlog JSON: "type" must be a string, got 5`},
		{"logger object", `{"logger": {}}`, `"logger" must be a string, got {}`},
		{"bad uuid", `{"uuid": "f5a18dd2"}`, `"uuid" must be a UUID`},
		{"flattened names too long", `{"fields": {"` + strings.Repeat("p", 20000) + `": {` + strings.Repeat(`"a": 1, `, 10) + `"b": 2}}}`,
			`metlog JSON: the flattened field names take more than 64 KiB beyond the size of the input`},
		{"long value shortened", `{"severity": "` + strings.Repeat("x", 100) + `"}`, `got "` + strings.Repeat("x", 59) + "…"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var m Message
			err := DecodeMetlogJSON([]byte(tc.in), &m)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error = %v, want it to contain %q", err, tc.want)
			}
		})
	}
}

// Values nest 32 deep at most, counting the message object, wherever they
// are; brackets in strings do not count.
func TestDecodeMetlogJSONDepthLimit(t *testing.T) {
	nest := func(key string, n int) string {
		return `{"` + key + `": ` + strings.Repeat(`{"a": `, n) + `"}]{[\""` + strings.Repeat(`}`, n) + `}`
	}
	for _, tc := range []struct {
		in string
		ok bool
	}{
		{nest("payload", 31), true},
		{nest("payload", 32), false},
		{nest("fields", 31), true},
		{nest("fields", 32), false},
		{nest("other", 31), true},
		{nest("other", 32), false},
		{`{"x": ` + strings.Repeat(`[`, 31) + strings.Repeat(`]`, 31) + `}`, true},
		{`{"x": ` + strings.Repeat(`[`, 32) + strings.Repeat(`]`, 32) + `}`, false},
	} {
		var m Message
		err := DecodeMetlogJSON([]byte(tc.in), &m)
		if (err == nil) != tc.ok || err != nil && !strings.Contains(err.Error(), "nest deeper than 32 levels") {
			t.Errorf("%.40s…: error %v, want ok=%v", tc.in, err, tc.ok)
		}
	}
	var m Message
	if err := DecodeMetlogJSON([]byte(nest("payload", 2)), &m); err != nil || m.Payload != `{"a":{"a":"}]{[\""}}` {
		t.Errorf("payload %s, %v", m.Payload, err)
	}
}

func TestParseTimestamp(t *testing.T) {
	const maxTime = "2262-04-11T23:47:16.854775807Z"
	for _, tc := range []struct {
		in   string
		want int64
		err  error
	}{
		{"1970-01-01T00:00:00Z", 0, nil},
		{"1970-01-01T00:00:00", 0, nil},
		{"1970-01-01 00:00:00", 0, nil},
		{"1970-01-01t00:00:00z", 0, nil},
		{"1970-01-01T00:00:00.000000000Z", 0, nil},
		{"1970-01-01T00:00:00.1Z", 100_000_000, nil},
		{"1970-01-01T00:00:00.000000001Z", 1, nil},
		{"1970-01-01T00:00:00.123456789Z", 123_456_789, nil},
		{"1970-01-01T00:00:01.5", 1_500_000_000, nil},
		{"2026-11-24T23:48:03.080606Z", 1795564083_080606000, nil},
		{"2026-11-25T01:48:03.080606+02:00", 1795564083_080606000, nil},
		{"2026-11-24T18:18:03.080606-05:30", 1795564083_080606000, nil},
		{"2026-11-24T23:48:03.080606+00:00", 1795564083_080606000, nil},
		{"2026-11-24T23:48:03.080606-00:00", 1795564083_080606000, nil},
		{"1969-12-31T23:59:59.999999999Z", -1, nil},
		{"1969-12-31T23:59:59Z", -1_000_000_000, nil},
		{"2024-02-29T12:00:00Z", 1709208000_000000000, nil}, // leap year
		{"2000-02-29T00:00:00Z", 951782400_000000000, nil},  // divisible by 400: leap
		{"2096-02-29T00:00:00Z", 3981312000_000000000, nil},
		{"2023-02-28T23:59:59Z", 1677628799_000000000, nil},
		{"2023-03-01T00:00:00+23:59", 1677542460_000000000, nil},
		{"1677-09-21T00:12:43.145224192Z", math.MinInt64, nil},
		{maxTime, math.MaxInt64, nil},
		{"2262-04-12T01:47:16.854775807+02:00", math.MaxInt64, nil},

		{"2023-02-29T00:00:00Z", 0, errTimeField}, // not a leap year
		{"1900-02-29T00:00:00Z", 0, errTimeField}, // divisible by 100: not leap
		{"2100-02-29T00:00:00Z", 0, errTimeField},
		{"2026-04-31T00:00:00Z", 0, errTimeField},
		{"2026-13-01T00:00:00Z", 0, errTimeField},
		{"2026-00-01T00:00:00Z", 0, errTimeField},
		{"2026-01-00T00:00:00Z", 0, errTimeField},
		{"2026-01-32T00:00:00Z", 0, errTimeField},
		{"2026-01-01T24:00:00Z", 0, errTimeField},
		{"2026-01-01T23:60:00Z", 0, errTimeField},
		{"2026-01-01T23:59:60Z", 0, errTimeField},
		{"2026-01-01T00:00:00+24:00", 0, errTimeField},
		{"2026-01-01T00:00:00+01:60", 0, errTimeField},
		{"1677-09-21T00:12:43.145224191Z", 0, errTimeRange},
		{"2262-04-11T23:47:16.854775808Z", 0, errTimeRange},
		{"0001-01-01T00:00:00Z", 0, errTimeRange},
		{"9999-12-31T23:59:59Z", 0, errTimeRange},
		{"", 0, errTimeLayout},
		{"2026-01-01", 0, errTimeLayout},
		{"2026-01-01T00:00", 0, errTimeLayout},
		{"2026-1-01T00:00:00Z", 0, errTimeLayout},
		{"2026/01/01T00:00:00Z", 0, errTimeLayout},
		{"2026-01-01X00:00:00Z", 0, errTimeLayout},
		{"20a6-01-01T00:00:00Z", 0, errTimeLayout},
		{"+026-01-01T00:00:00Z", 0, errTimeLayout},
		{"2026-01-01T00:00:00.Z", 0, errTimeLayout},
		{"2026-01-01T00:00:00.1234567890Z", 0, errTimeLayout},
		{"2026-01-01T00:00:00+0100", 0, errTimeLayout},
		{"2026-01-01T00:00:00+01", 0, errTimeLayout},
		{"2026-01-01T00:00:00+0a:00", 0, errTimeLayout},
		{"2026-01-01T00:00:00Z ", 0, errTimeLayout},
		{"2026-01-01T00:00:00 UTC", 0, errTimeLayout},
		{" 2026-01-01T00:00:00Z", 0, errTimeLayout},
	} {
		got, err := parseTimestamp(tc.in)
		if got != tc.want || err != tc.err {
			t.Errorf("parseTimestamp(%q) = %d, %v; want %d, %v", tc.in, got, err, tc.want, tc.err)
		}
	}
	if n := testing.AllocsPerRun(100, func() { _, _ = parseTimestamp(maxTime) }); n != 0 {
		t.Errorf("parseTimestamp allocates %v times, want 0", n)
	}
}

// parseTimestamp agrees with time.Parse on random times, zones and
// precisions.
func TestParseTimestampMatchesTimeParse(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for range 20000 {
		ns := r.Int64N(math.MaxInt64/2) - math.MaxInt64/4 // keep the zone shift in range
		zone := time.FixedZone("", (r.IntN(48*60-1)-(24*60-1))*60)
		if r.IntN(4) == 0 {
			zone = time.UTC
		}
		digits := r.IntN(10)
		layout := "2006-01-02T15:04:05"
		if digits > 0 {
			layout += "." + strings.Repeat("0", digits)
		}
		layout += "Z07:00"
		s := time.Unix(0, ns).In(zone).Format(layout)
		want, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			t.Fatal(err)
		}
		got, err := parseTimestamp(s)
		if err != nil || got != want.UnixNano() {
			t.Fatalf("parseTimestamp(%q) = %d, %v; time.Parse gives %d", s, got, err, want.UnixNano())
		}
		if trunc := ns - ns%int64(pow10[9-digits]); ns >= 0 && got != trunc {
			t.Fatalf("parseTimestamp(%q) = %d, want %d", s, got, trunc)
		}
	}
}

func TestParseEpochSeconds(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want int64
		ok   bool
	}{
		{"0", 0, true},
		{"1795565283", 1795565283_000000000, true},
		{"1795565283.080606", 1795565283_080606000, true},
		{"1795565283.1234567891", 1795565283_123456789, true},
		{"-1.5", -1_500_000_000, true},
		{"-0.000000001", -1, true},
		{"1.7955652830806e9", 1795565283_080600064, true}, // through float64
		{"1e-9", 1, true},
		{"9223372036.854775807", math.MaxInt64, true},
		{"9223372036.854775808", 0, false},
		{"9223372037", 0, false},
		{"1e300", 0, false},
		{"123456789012345678901", 0, false},
	} {
		got, ok := parseEpochSeconds(tc.in)
		if got != tc.want || ok != tc.ok {
			t.Errorf("parseEpochSeconds(%q) = %d, %v; want %d, %v", tc.in, got, ok, tc.want, tc.ok)
		}
	}
}

func TestAppendMetlogJSON(t *testing.T) {
	const head = `{"severity": 6, "timestamp": "1970-01-01T00:00:00.000000Z", "metlog_hostname": "", "fields": `
	const tail = `, "metlog_pid": 0, "logger": "", "type": "", "payload": "", "env_version": ""}`
	for _, tc := range []struct {
		name   string
		fields []Field
		want   string
	}{
		{"none", nil, `{}`},
		{"nested", []Field{NewInt("a", 1), NewString("b.c", "d")}, `{"a": 1, "b": {"c": "d"}}`},
		{"three levels in first-appearance order",
			[]Field{NewString("x.y.z", "1"), NewString("w", "2"), NewString("x.q", "3"), NewString("x.y.a", "4")},
			`{"x": {"y": {"z": "1", "a": "4"}, "q": "3"}, "w": "2"}`},
		{"conflict stays flat", []Field{NewInt("a", 1), NewInt("a.b", 2), NewInt("c.d", 3), NewInt("a.b.c", 4)},
			`{"a": 1, "a.b": 2, "c": {"d": 3}, "a.b.c": 4}`},
		{"conflict below the top", []Field{NewInt("a.b.c", 1), NewInt("a.b", 2), NewInt("a.x", 3)},
			`{"a.b.c": 1, "a": {"b": 2, "x": 3}}`},
		{"empty segments", []Field{NewInt("a..b", 1), NewInt(".c", 2), NewInt("d.", 3)},
			`{"a": {"": {"b": 1}}, "": {"c": 2}, "d": {"": 3}}`},
		{"same name merges", []Field{NewInt("n", 1), NewString("m", "x"), NewDouble("n", 2.5, 3), NewString("n", "s")},
			`{"n": [1, 2.5, 3.0, "s"], "m": "x"}`},
		{"merge to one value is a scalar", []Field{NewInt("n"), NewInt("n", 7)}, `{"n": 7}`},
		{"lists", []Field{NewInt("i", 1, -2), NewBool("b", true, false), NewString("s"), NewDouble("d", 0.1)},
			`{"i": [1, -2], "b": [true, false], "s": [], "d": 0.1}`},
		{"doubles as Python writes them", []Field{NewDouble("d", 1, 1e16, 1e-5, 1.5e300, math.Copysign(0, -1), 0.0001, 123456789)},
			`{"d": [1.0, 1e+16, 1e-05, 1.5e+300, -0.0, 0.0001, 123456789.0]}`},
		{"non-finite doubles", []Field{NewDouble("d", math.NaN(), math.Inf(1), math.Inf(-1))},
			`{"d": ["NaN", "Infinity", "-Infinity"]}`},
		{"bytes as base64", []Field{NewBytes("b", []byte{0, 1, 0xfe}, nil)}, `{"b": ["AAH+", ""]}`},
		{"representation is not written", []Field{NewInt("t", 5).WithRepresentation("ms")}, `{"t": 5}`},
		{"names escaped", []Field{NewString("caf\u00e9.\U0001F600", "\"")}, `{"caf\u00e9": {"\ud83d\ude00": "\""}}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := &Message{Severity: Info, Fields: tc.fields}
			if got := string(AppendMetlogJSON(nil, m)); got != head+tc.want+tail {
				t.Errorf("fields\n got %s\nwant %s", strings.TrimSuffix(strings.TrimPrefix(got, head), tail), tc.want)
			}
		})
	}
	m := &Message{Timestamp: -1, Severity: 3, Hostname: "h\u00e9", Pid: -7, Logger: "l", Type: "t", Payload: "p\n", EnvVersion: "0.8"}
	want := `{"severity": 3, "timestamp": "1969-12-31T23:59:59.999999Z", "metlog_hostname": "h\u00e9", "fields": {}, "metlog_pid": -7, "logger": "l", "type": "t", "payload": "p\n", "env_version": "0.8"}`
	if got := string(AppendMetlogJSON(nil, m)); got != want {
		t.Errorf("header\n got %s\nwant %s", got, want)
	}
	for _, tc := range []struct {
		ns   int64
		want string
	}{
		{1795566213553215999, "2026-11-25T00:23:33.553215Z"},
		{-1500, "1969-12-31T23:59:59.999998Z"},
		{math.MaxInt64, "2262-04-11T23:47:16.854775Z"},
		{math.MinInt64, "1677-09-21T00:12:43.145225Z"}, // truncating would leave int64's range
	} {
		got := string(AppendMetlogJSON(nil, &Message{Timestamp: tc.ns}))
		if !strings.Contains(got, `"timestamp": "`+tc.want+`"`) {
			t.Errorf("timestamp %d: %s, want %s", tc.ns, got, tc.want)
		}
	}
}

// Past 64 fields names stay flat, and fields of one name still merge.
func TestAppendMetlogJSONManyFields(t *testing.T) {
	var m Message
	for i := range 300 {
		m.AddInt("f"+strconv.Itoa(i), int64(i))
	}
	m.AddInt("g.x", 1)
	m.AddInt("f7", 2)
	enc := AppendMetlogJSON(nil, &m)
	for _, want := range []string{`"f6": 6, "f7": [7, 2], "f8": 8`, `"f299": 299, "g.x": 1}`} {
		if !bytes.Contains(enc, []byte(want)) {
			t.Errorf("no %s in %s", want, enc)
		}
	}
	var back Message
	if err := DecodeMetlogJSON(enc, &back); err != nil {
		t.Fatal(err)
	}
	if len(back.Fields) != 301 || back.Fields[7].Name != "f7" || len(back.Fields[7].Integers) != 2 {
		t.Fatalf("%d fields came back, want 301", len(back.Fields))
	}
}

// appendPyFloat writes what Python 3's repr(float) writes, for the floats
// in testdata/metlogjson/python-float-repr.txt (made by Python itself).
func TestAppendPyFloat(t *testing.T) {
	lines := readLines(t, filepath.Join("metlogjson", "python-float-repr.txt"))
	n := 0
	for _, line := range lines {
		if line[0] == '#' {
			continue
		}
		hexBits, want, _ := strings.Cut(string(line), " ")
		bits, err := strconv.ParseUint(hexBits, 16, 64)
		if err != nil {
			t.Fatal(err)
		}
		if got := appendPyFloat(nil, math.Float64frombits(bits)); string(got) != want {
			t.Errorf("%v: got %s, want %s", math.Float64frombits(bits), got, want)
		}
		n++
	}
	if n < 1500 {
		t.Fatalf("only %d vectors", n)
	}
}

func TestAppendPyString(t *testing.T) {
	for _, tc := range []struct{ in, want string }{ // wants are Python 3 json.dumps output
		{"", `""`},
		{"plain ascii ~!", `"plain ascii ~!"`},
		{`"quote" \back/slash`, `"\"quote\" \\back/slash"`},
		{"\n\r\t\b\f\x00\x1f\x7f", `"\n\r\t\b\f\u0000\u001f\u007f"`},
		{"caf\u00e9 \u65e5\u672c", `"caf\u00e9 \u65e5\u672c"`},
		{"\U0001F600 emoji", `"\ud83d\ude00 emoji"`},
		{"\ufffd", `"\ufffd"`},
		{"\u2028\u2029", `"\u2028\u2029"`},
		{"bad \xff\xc3( \xed\xa0\x80", `"bad \ufffd\ufffd( \ufffd\ufffd\ufffd"`},
	} {
		if got := string(appendPyString(nil, tc.in)); got != tc.want {
			t.Errorf("appendPyString(%q) = %s, want %s", tc.in, got, tc.want)
		}
	}
}

func FuzzDecodeMetlogJSON(f *testing.F) {
	for _, line := range readLines(f, "metlogpy-udp.jsonl") {
		f.Add(line)
	}
	inputs, _ := filepath.Glob(filepath.Join("testdata", "metlogjson", "*.json"))
	for _, in := range inputs {
		b, err := os.ReadFile(in)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var m Message
		if err := DecodeMetlogJSON(b, &m); err != nil {
			return
		}
		// metlog JSON is not lossless: the types of merged or non-finite
		// values change once, after which encoding and decoding settle.
		enc := AppendMetlogJSON(nil, &m)
		for i := range 3 {
			var back Message
			if err := DecodeMetlogJSON(enc, &back); err != nil {
				t.Fatalf("re-encoded message does not decode: %v\n%s", err, enc)
			}
			next := AppendMetlogJSON(nil, &back)
			if i == 2 && !bytes.Equal(next, enc) {
				t.Fatalf("encoding does not settle\n got %s\nthen %s", enc, next)
			}
			enc = next
		}
	})
}

// metlogCounter is a counter as metlog-py sends it.
var metlogCounter = []byte(`{"severity": 6, "timestamp": "2026-11-25T00:23:33.553215Z", "metlog_hostname": "vm", "fields": {"rate": 1.0, "name": "req.count"}, "metlog_pid": 21432, "logger": "acceptance", "type": "counter", "payload": "1", "env_version": "0.8"}`)

// metlogEightFields carries eight fields of every kind.
var metlogEightFields = []byte(`{"severity": 4, "timestamp": "2026-11-25T00:23:33.553215Z", "metlog_hostname": "web-12.example.com", "fields": {"name": "db.query", "rate": 0.25, "rows": 1523, "cached": false, "tags": ["db", "read"], "http": {"status": 200, "path": "/api/v1/users"}, "host": "db-3"}, "metlog_pid": 21432, "logger": "acceptance", "type": "timer", "payload": "12", "env_version": "0.8"}`)

func BenchmarkDecodeMetlogJSON(b *testing.B) {
	for _, bc := range []struct {
		name string
		in   []byte
	}{{"counter", metlogCounter}, {"8fields", metlogEightFields}} {
		b.Run(bc.name, func(b *testing.B) {
			var m Message
			b.ReportAllocs()
			b.SetBytes(int64(len(bc.in)))
			for b.Loop() {
				if err := DecodeMetlogJSON(bc.in, &m); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkAppendMetlogJSON(b *testing.B) {
	for _, bc := range []struct {
		name string
		in   []byte
	}{{"counter", metlogCounter}, {"8fields", metlogEightFields}} {
		b.Run(bc.name, func(b *testing.B) {
			var m Message
			if err := DecodeMetlogJSON(bc.in, &m); err != nil {
				b.Fatal(err)
			}
			buf := make([]byte, 0, 1024)
			b.ReportAllocs()
			for b.Loop() {
				buf = AppendMetlogJSON(buf[:0], &m)
			}
			b.SetBytes(int64(len(buf)))
		})
	}
}
