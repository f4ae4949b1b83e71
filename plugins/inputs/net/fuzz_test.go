package netin

import (
	"bytes"
	"context"
	"io"
	"net/netip"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/metlog/metlog/message"
	"github.com/metlog/metlog/pipeline"
)

// chunkReader returns its data n bytes per Read.
type chunkReader struct {
	data []byte
	n    int
}

func (r *chunkReader) Read(p []byte) (int, error) {
	if len(r.data) == 0 {
		return 0, io.EOF
	}
	n := copy(p[:min(len(p), r.n)], r.data)
	r.data = r.data[n:]
	return n, nil
}

// referenceLines splits data as lineScanner must: lines end at '\n', a
// last line without one counts, lines over max are dropped and counted.
func referenceLines(data []byte, max int) (lines []string, tooLong int) {
	parts := bytes.Split(data, []byte{'\n'})
	if len(parts[len(parts)-1]) == 0 {
		parts = parts[:len(parts)-1] // data ended with a newline, or is empty
	}
	for _, p := range parts {
		if len(p) > max {
			tooLong++
			continue
		}
		lines = append(lines, string(p))
	}
	return lines, tooLong
}

func scanLines(r io.Reader, max int) (lines []string, tooLong int, err error) {
	s := newLineScanner(r, max)
	s.onTooLong = func(seen int) {
		if seen <= max {
			panic("onTooLong called for a line within the limit")
		}
		tooLong++
	}
	for {
		line, ok := s.next()
		if !ok {
			return lines, tooLong, s.err
		}
		lines = append(lines, string(line))
	}
}

func checkLines(t *testing.T, data []byte, max, chunk int) {
	t.Helper()
	wantLines, wantLong := referenceLines(data, max)
	gotLines, gotLong, err := scanLines(&chunkReader{data: data, n: chunk}, max)
	if err != nil {
		t.Fatal(err)
	}
	if gotLong != wantLong || strings.Join(gotLines, "\x00|") != strings.Join(wantLines, "\x00|") || len(gotLines) != len(wantLines) {
		t.Fatalf("max %d, chunk %d, input %q:\n got %q (%d too long)\nwant %q (%d too long)", max, chunk, data, gotLines, gotLong, wantLines, wantLong)
	}
}

func TestLineScanner(t *testing.T) {
	long := strings.Repeat("x", 200000)
	for _, tc := range []struct {
		in  string
		max int
	}{
		{"", 10},
		{"\n", 10},
		{"a\nbb\nccc", 10},
		{"0123456789\n01234567890\n0123456789", 10},
		{"01234567890", 10},
		{"01234567890\n", 10},
		{"\n\n\n", 1},
		{long + "\nshort\n" + long + long + "\nend", 100},
		{long + "\n" + long[:100000] + "\n", 150000}, // the buffer grows
		{long[:65535] + "\n" + long[:65536] + "\n" + long[:65537] + "\n", 65536},
	} {
		for _, chunk := range []int{1, 3, 7, 4096, 1 << 20} {
			if chunk < 4096 && len(tc.in) > 1000 {
				continue // slow, and no different
			}
			checkLines(t, []byte(tc.in), tc.max, chunk)
		}
	}
	// A read error ends the scan after the lines before it; the line it
	// cut is reported, not returned.
	for _, chunk := range []int{1, 100} {
		s := newLineScanner(io.MultiReader(&chunkReader{data: []byte("ab\ncd"), n: chunk}, iotest.ErrReader(iotest.ErrTimeout)), 10)
		cut := 0
		s.onCut = func(n int) { cut += n }
		if l, ok := s.next(); !ok || string(l) != "ab" {
			t.Fatalf("got %q, %v", l, ok)
		}
		if l, ok := s.next(); ok || s.err != iotest.ErrTimeout || cut != 2 {
			t.Fatalf("got %q, %v, %v, cut %d", l, ok, s.err, cut)
		}
	}
}

// FuzzLineScanner compares the line splitter with a reference on any
// input, line limit and read size.
func FuzzLineScanner(f *testing.F) {
	f.Add([]byte("a\nbb\nccc"), uint16(2), uint8(1))
	f.Add([]byte("{\"type\":\"x\"}\r\n\n"), uint16(100), uint8(3))
	f.Add(bytes.Repeat([]byte("x"), 1000), uint16(10), uint8(7))
	f.Fuzz(func(t *testing.T, data []byte, max uint16, chunk uint8) {
		checkLines(t, data, int(max)%300+1, int(chunk)%17+1)
	})
}

// countingDeliverer counts and checks what a datagram handler delivers.
type countingDeliverer struct {
	n int
	t *testing.T
}

func (d *countingDeliverer) Deliver(_ context.Context, m *message.Message) error {
	d.n++
	if m == nil {
		d.t.Fatal("nil message delivered")
	}
	return nil
}

// FuzzDatagram runs the datagram classifier and decoders on any input in
// every format: nothing panics, and every datagram that is not blank
// yields a message or is counted.
func FuzzDatagram(f *testing.F) {
	f.Add([]byte("\x1e\x02\x08\x00\x1f"), uint8(0), false)
	f.Add([]byte(`{"type":"counter","payload":"1","metlog_pid":1}`), uint8(0), false)
	f.Add([]byte("plain line"), uint8(5), false)
	f.Add(hugeHeader, uint8(1), true)
	f.Add(concat(frameOf("a"), frameOf("b")), uint8(0), true)
	f.Add(signedFrame(f), uint8(0), true)
	formats := []string{formatAuto, formatHeka, formatMetlog, formatJSON, formatAutoJSON, formatPlain}
	keys, err := Signers{"acceptance_1": "s3cr3t", "fuzz_1": "key"}.keyRing()
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, data []byte, format uint8, require bool) {
		fm := formats[int(format)%len(formats)]
		if fm != formatAuto && fm != formatHeka {
			require = false // refused by Validate
		}
		m := &pipeline.Metrics{}
		h := &datagramHandler{
			format: fm,
			max:    1024,
			auth:   auth{keys: keys, require: require},
			rep:    newReporter(m, discardLogger()),
		}
		d := &countingDeliverer{t: t}
		if err := h.handle(context.Background(), d, data, netip.AddrPort{}); err != nil {
			t.Fatal(err)
		}
		c := countsOf(m)
		rejected := c.Decode + c.TooLarge + c.Unauthorized
		framed := fm == formatHeka || fm == formatAuto && classify(data) == formatHeka
		switch {
		case len(data) == 0 || !framed && isBlank(data):
			if d.n != 0 || rejected != 0 {
				t.Fatalf("blank datagram: %d delivered, %+v", d.n, c)
			}
		case !framed:
			if uint64(d.n)+rejected != 1 {
				t.Fatalf("datagram %q: %d delivered, %+v; want exactly one outcome", data, d.n, c)
			}
		default:
			if d.n == 0 && rejected == 0 {
				t.Fatalf("frames %q: nothing delivered or counted", data)
			}
		}
	})
}

func signedFrame(tb testing.TB) []byte {
	s, err := message.NewSigner("fuzz", 1, message.SHA1, []byte("key"))
	if err != nil {
		tb.Fatal(err)
	}
	return message.AppendFrame(nil, testMessage(1), s)
}
