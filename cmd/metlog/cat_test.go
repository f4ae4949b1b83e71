package main

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"regexp"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/metlog/metlog/message"
)

// recordLine is cat's first line of a framed record.
var recordLine = regexp.MustCompile(`^record (\d+) at offset (\d+): frame of (\d+) bytes \(header (\d+), message (\d+)\)$`)

func TestCatFramedOffsets(t *testing.T) {
	for _, tc := range []struct {
		file    string
		keys    []string
		verdict string
	}{
		{"heka-go-frames.hex", nil, "signed by    nobody (unsigned)"},
		{"heka-go-frames-hmac-md5.hex", vectorKeys, `signed by    "acceptance", key version 1, md5, hmac `},
		{"heka-go-frames-hmac-sha1.hex", vectorKeys, `signed by    "acceptance", key version 2, sha1, hmac `},
		{"heka-py-frames-hmac-sha1.hex", vectorKeys, `signed by    "acc", key version 3, sha1, hmac `},
	} {
		t.Run(tc.file, func(t *testing.T) {
			frames := vectorFrames(t, tc.file)
			msgs := vectorMessages(t, frames)
			file := writeFile(t, "in", bytes.Join(frames, nil))
			args := []string{"cat"}
			for _, k := range tc.keys {
				args = append(args, "-key", k)
			}
			r := runCmd(t, "", append(args, file)...)
			if r.code != exitOK || r.stderr != "" {
				t.Fatalf("exit %d: %s", r.code, r.stderr)
			}
			blocks := strings.Split(strings.TrimSuffix(r.stdout, "\n\n"), "\n\n")
			if len(blocks) != len(frames) {
				t.Fatalf("%d records printed, want %d:\n%s", len(blocks), len(frames), r.stdout)
			}
			off := 0
			for i, b := range blocks {
				lines := strings.Split(b, "\n")
				m := recordLine.FindStringSubmatch(lines[0])
				want := []string{fmt.Sprint(i + 1), fmt.Sprint(off), fmt.Sprint(len(frames[i])), fmt.Sprint(frames[i][1])}
				if m == nil || !equalStrings(m[1:5], want) {
					t.Fatalf("record %d: %q, want number, offset, size, header %v", i, lines[0], want)
				}
				off += len(frames[i])
				if !strings.Contains(lines[1], tc.verdict) || tc.keys != nil && !strings.HasSuffix(lines[1], ": verified") {
					t.Errorf("record %d: %q", i, lines[1])
				}
				if want := fmt.Sprintf("  type         %q", msgs[i].Type); lines[4] != want {
					t.Errorf("record %d: %q, want %q", i, lines[4], want)
				}
			}
		})
	}
}

func equalStrings(a, b []string) bool {
	return strings.Join(a, "\x00") == strings.Join(b, "\x00")
}

func TestCatRendering(t *testing.T) {
	frames := vectorFrames(t, "heka-go-frames-hmac-md5.hex")
	file := writeFile(t, "in", frames[1]) // acceptance.fields
	r := runCmd(t, "", "cat", "-key", "acceptance:1:s3cr3t", file)
	want := `record 1 at offset 0: frame of 261 bytes (header 35, message 223)
  signed by    "acceptance", key version 1, md5, hmac 5771c9c15f10f3b73766289b94e4ffd4: verified
  uuid         cba6f4bd-1e35-411a-8001-34b5eb2f33ab
  timestamp    2026-11-25T00:23:39.936390131Z (1795566219936390131 ns)
  type         "acceptance.fields"
  logger       "acceptance"
  severity     6 (info)
  payload      "fields"
  env_version  "0.8"
  pid          21469
  hostname     "vm"
  fields       7
    "str"            string  "value"
    "multi"          string  ["a", "b", "c"]
    "int"            integer [ms] 42
    "ints"           integer [-1, 0, 1099511627776]
    "dbl"            double  [s] 3.25
    "flag"           bool    true
    "raw"            bytes   4 bytes 0x0001feff

`
	if r.code != exitOK || r.stdout != want {
		t.Fatalf("exit %d: %s\n got:\n%s\nwant:\n%s", r.code, r.stderr, r.stdout, want)
	}
}

func TestCatSignatures(t *testing.T) {
	frames := vectorFrames(t, "heka-go-frames-hmac-md5.hex")
	file := writeFile(t, "in", frames[0])
	for _, tc := range []struct {
		keys    []string
		verdict string
	}{
		{nil, ": not verified (no -key for it)"},
		{[]string{"acceptance:1:wrong"}, ": BAD SIGNATURE"},
		{[]string{"acceptance:2:s3cr3t"}, ": not verified (no -key for this signer and version)"},
		{[]string{"acceptance:1:s3cr3t"}, ": verified"},
	} {
		args := []string{"cat"}
		for _, k := range tc.keys {
			args = append(args, "-key", k)
		}
		r := runCmd(t, "", append(args, file)...)
		lines := strings.Split(r.stdout, "\n")
		if r.code != exitOK || len(lines) < 2 || !strings.HasSuffix(lines[1], tc.verdict) {
			t.Errorf("keys %v: exit %d: %q", tc.keys, r.code, r.stdout)
		}
	}
	for _, bad := range []string{"acceptance", "a:b:c", ":1:k", "a:1:"} {
		if r := runCmd(t, "", "cat", "-key", bad, file); r.code != exitUsage {
			t.Errorf("-key %q: exit %d", bad, r.code)
		}
	}
}

func TestCatGarbage(t *testing.T) {
	frames := vectorFrames(t, "heka-go-frames.hex")
	inner := frames[3]
	bad := message.AppendFrameBytes(nil, append([]byte{0xff}, inner...), nil) // a frame whose message is bad, hiding a valid one
	var in []byte
	in = append(in, "junk"...)
	in = append(in, frames[2]...)
	badAt := len(in)
	in = append(in, bad...)
	innerAt := badAt + len(bad) - len(inner)
	notAt := len(in)
	in = append(in, 0x1e, 0x05, 'x', 'y') // not a frame
	in = append(in, frames[4]...)
	in = append(in, frames[0][:20]...) // cut short
	r := runCmd(t, "", "cat", writeFile(t, "in", in))
	wantLines := []string{
		"! skipped 4 bytes at offset 0: not a valid frame: no record separator 0x1e",
		fmt.Sprintf("record 1 at offset 4: frame of %d bytes (header 2, message %d)", len(frames[2]), len(frames[2])-5),
		fmt.Sprintf("! skipped %d bytes at offset %d: the message of the %d-byte frame at offset %d does not decode: ", innerAt-badAt, badAt, len(bad), badAt),
		fmt.Sprintf("record 2 at offset %d: frame of %d bytes", innerAt, len(inner)),
		fmt.Sprintf("! skipped 4 bytes at offset %d: not a valid frame: no unit separator 0x1f after the 5-byte header", notAt),
		fmt.Sprintf("record 3 at offset %d: frame of %d bytes", notAt+4, len(frames[4])),
		fmt.Sprintf("! skipped 20 bytes at offset %d: frame is truncated at the end of the input", notAt+4+len(frames[4])),
	}
	var got []string
	for _, l := range strings.Split(r.stdout, "\n") {
		if strings.HasPrefix(l, "!") || strings.HasPrefix(l, "record") {
			got = append(got, l)
		}
	}
	if len(got) != len(wantLines) {
		t.Fatalf("got:\n%s", strings.Join(got, "\n"))
	}
	for i := range got {
		if !strings.HasPrefix(got[i], wantLines[i]) {
			t.Errorf("line %d:\n got %s\nwant %s...", i, got[i], wantLines[i])
		}
	}
	if r.code != exitFail || !strings.Contains(r.stderr, "1 record could not be decoded") {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
}

func TestCatJSONLines(t *testing.T) {
	f := buildTestFiles(t)
	r := runCmd(t, "", "cat", f.badJSON)
	lines := strings.Split(r.stdout, "\n")
	first := strings.Index(string(mustRead(t, f.badJSON)), "\n") + 1
	if r.code != exitFail || !strings.HasPrefix(lines[0], "record 1 at offset 0: line 1, metlog JSON, ") ||
		!strings.Contains(r.stdout, fmt.Sprintf("\n! line 2 at offset %d does not decode: JSON: \"severity\" must be", first)) ||
		!strings.Contains(r.stdout, "\nrecord 2 at offset ") || !strings.Contains(r.stdout, ": line 4, metlog JSON, ") {
		t.Fatalf("exit %d:\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	r = runCmd(t, "", "cat", f.canonical)
	if r.code != exitOK || !strings.HasPrefix(r.stdout, "record 1 at offset 0: line 1, canonical JSON, ") {
		t.Fatalf("exit %d:\n%s", r.code, r.stdout)
	}
}

// TestCatJSONOutput checks that cat -json prints what match TRUE prints,
// for several files, and headers between files without -json.
func TestCatJSONOutput(t *testing.T) {
	f := buildTestFiles(t)
	cat := runCmd(t, "", "cat", "-json", f.goFramed, f.pyJSONL)
	match := runCmd(t, "", "match", "TRUE", f.goFramed, f.pyJSONL)
	if cat.code != exitOK || cat.stdout != match.stdout || strings.Count(cat.stdout, "\n") != 25 {
		t.Fatalf("cat -json and match TRUE differ:\n%s\n%s", cat.stdout, match.stdout)
	}
	r := runCmd(t, "", "cat", f.goFramed, f.canonical)
	if !strings.HasPrefix(r.stdout, "==> "+f.goFramed+" <==\nrecord 1 at offset 0") || !strings.Contains(r.stdout, "\n==> "+f.canonical+" <==\nrecord 1 at offset 0: line 1") {
		t.Fatalf("%s", r.stdout)
	}
	r = runCmd(t, "", "cat", f.goFramed, "/nonexistent")
	if r.code != exitFail || !strings.Contains(r.stderr, "cannot read /nonexistent") {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
}

func mustRead(t *testing.T, name string) []byte {
	t.Helper()
	r, closer, err := openInput(name, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer closer()
	var b bytes.Buffer
	if _, err := b.ReadFrom(r); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// walkAll runs a frameWalker over data as cat does, rejecting frames whose
// message does not decode, and returns what it found.
func walkAll(data []byte, readSize int) (frames []frame, msgs [][]byte, skipped int64, stretches [][2]int64) {
	var r = bytes.NewReader(data)
	var rd = iotestReader(r, readSize)
	w := newFrameWalker(rd, 1<<16, func(off, n int64, _ error) {
		skipped += n
		stretches = append(stretches, [2]int64{off, n})
	})
	var m message.Message
	for {
		f, ok := w.next()
		if !ok {
			break
		}
		if m.Unmarshal(f.msg) != nil {
			w.reject(message.ErrBadFrame)
			continue
		}
		frames = append(frames, f)
		msgs = append(msgs, bytes.Clone(f.msg))
	}
	return frames, msgs, skipped, stretches
}

// scanAll is walkAll with message.FrameScanner.
func scanAll(data []byte) (msgs [][]byte, discarded int64) {
	sc := message.NewFrameScanner(bytes.NewReader(data), 1<<16)
	var m message.Message
	for sc.Next() {
		if m.Unmarshal(sc.Message()) != nil {
			sc.Reject(message.ErrBadFrame)
			continue
		}
		msgs = append(msgs, bytes.Clone(sc.Message()))
	}
	return msgs, sc.Discarded()
}

func iotestReader(r *bytes.Reader, n int) interface{ Read([]byte) (int, error) } {
	if n <= 0 {
		return r
	}
	return &chunkReader{r: r, n: n}
}

// chunkReader returns at most n bytes per Read.
type chunkReader struct {
	r *bytes.Reader
	n int
}

func (c *chunkReader) Read(b []byte) (int, error) { return c.r.Read(b[:min(len(b), c.n)]) }

// checkWalker checks the frameWalker against message.FrameScanner on data:
// the same messages, offsets that hold them, and every byte accounted for
// exactly once as a frame or as skipped.
func checkWalker(t *testing.T, data []byte, readSize int) {
	frames, msgs, skipped, stretches := walkAll(data, readSize)
	want, discarded := scanAll(data)
	if len(msgs) != len(want) {
		t.Fatalf("walker found %d frames, scanner %d", len(msgs), len(want))
	}
	var covered int64
	for i, f := range frames {
		if !bytes.Equal(msgs[i], want[i]) {
			t.Fatalf("frame %d differs from the scanner's", i)
		}
		_, msg, n, err := message.ParseFrame(data[f.offset:], 1<<16)
		if err != nil || n != f.size || !bytes.Equal(msg, msgs[i]) || int(data[f.offset+1]) != f.hlen {
			t.Fatalf("frame %d: offset %d does not hold it: %v", i, f.offset, err)
		}
		covered += int64(f.size)
	}
	if covered+skipped != int64(len(data)) || skipped != discarded {
		t.Fatalf("frames %d + skipped %d bytes != %d bytes; scanner discarded %d", covered, skipped, len(data), discarded)
	}
	for i := 1; i < len(stretches); i++ {
		if stretches[i-1][0]+stretches[i-1][1] == stretches[i][0] && !framedBetween(frames, stretches[i][0]) {
			t.Fatalf("adjacent stretches %v and %v were not merged", stretches[i-1], stretches[i])
		}
	}
}

func framedBetween(frames []frame, at int64) bool {
	for _, f := range frames {
		if f.offset+int64(f.size) == at {
			return true
		}
	}
	return false
}

func TestFrameWalkerMatchesScanner(t *testing.T) {
	var frames [][]byte
	for _, f := range []string{"heka-go-frames.hex", "heka-go-frames-hmac-sha1.hex", "heka-py-frames-hmac-sha1.hex"} {
		frames = append(frames, vectorFrames(t, f)...)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for i := 0; i < 300; i++ {
		var data []byte
		for j := rng.IntN(8); j > 0; j-- {
			switch rng.IntN(4) {
			case 0: // random bytes, often separators
				for k := rng.IntN(40); k > 0; k-- {
					b := byte(rng.IntN(256))
					if rng.IntN(4) == 0 {
						b = message.RecordSeparator
					}
					data = append(data, b)
				}
			case 1: // a frame cut short
				fr := frames[rng.IntN(len(frames))]
				data = append(data, fr[:rng.IntN(len(fr))]...)
			default:
				data = append(data, frames[rng.IntN(len(frames))]...)
			}
		}
		checkWalker(t, data, []int{0, 1, 7, 300}[i%4])
	}
	// A read error stops the walker and is kept.
	w := newFrameWalker(iotest.TimeoutReader(bytes.NewReader(bytes.Repeat(frames[0], 100))), 1<<16, nil)
	n := 0
	for {
		if _, ok := w.next(); !ok {
			break
		}
		n++
	}
	if w.err == nil || n == 0 {
		t.Fatalf("read error not reported (%d frames)", n)
	}
}

func FuzzFrameWalker(f *testing.F) {
	frames := vectorFrames(f, "heka-go-frames.hex")
	f.Add(bytes.Join(frames, nil), uint8(0))
	f.Add(append([]byte("junk\x1e\x05xy"), frames[2]...), uint8(3))
	f.Add(message.AppendFrameBytes(nil, append([]byte{0xff}, frames[1]...), nil), uint8(1))
	f.Add(frames[0][:20], uint8(0))
	f.Fuzz(func(t *testing.T, data []byte, chunk uint8) {
		checkWalker(t, data, int(chunk))
	})
}
