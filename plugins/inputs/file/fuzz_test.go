package filein

import (
	"context"
	"io"
	"log/slog"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/metlog/metlog/internal/ratelog"
	"github.com/metlog/metlog/pipeline"
)

// bareState is a state that reads nothing from files: for feeding consume
// directly.
func bareState(maxLine int, startRE string) *state {
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	in := New()
	st := &state{in: in, log: log, warn: ratelog.New(log, 0), metrics: &pipeline.Metrics{}, maxLine: maxLine, logger: "in", hostname: "h"}
	if startRE != "" {
		st.startRE = regexp.MustCompile(startRE)
	}
	return st
}

// feed passes data to consume in chunks of size chunk, as read does, then
// finishes the file. It returns the payloads.
func feed(t testing.TB, st *state, data []byte, chunk int) []string {
	tf := &tailed{}
	tf.setPath("f")
	c := &collector{}
	ctx := context.Background()
	for off := 0; off < len(data); off += chunk {
		b := data[off:min(off+chunk, len(data))]
		base := tf.offset
		tf.offset += int64(len(b))
		if err := st.consume(ctx, c, tf, b, base); err != nil {
			t.Fatal(err)
		}
		if tf.committed > tf.offset || len(tf.pend) > st.maxLine+1 || len(tf.rec) > st.maxLine {
			t.Fatalf("committed %d, offset %d, pending %d, record %d", tf.committed, tf.offset, len(tf.pend), len(tf.rec))
		}
	}
	if err := st.flushAll(ctx, c, tf, true); err != nil {
		t.Fatal(err)
	}
	if tf.committed != int64(len(data)) {
		t.Fatalf("finished at %d of %d bytes", tf.committed, len(data))
	}
	return payloads(c.msgs)
}

// splitLines is what one message per line should give.
func splitLines(data []byte, maxLine int) (want []string, dropped int) {
	for _, l := range strings.Split(string(data), "\n") {
		l = strings.TrimSuffix(l, "\r")
		switch {
		case len(l) > maxLine:
			dropped++
		case l != "":
			want = append(want, l)
		}
	}
	return want, dropped
}

func FuzzLines(f *testing.F) {
	f.Add([]byte("a\nbb\r\n\nccc"), uint16(1), uint16(2), false)
	f.Add([]byte("2024 x\n at y\n at z\n2024 w\n"), uint16(3), uint16(100), true)
	f.Add([]byte("xxxxxxxxxx\r\nyy\n"), uint16(4), uint16(10), false)
	f.Fuzz(func(t *testing.T, data []byte, chunk, maxLine uint16, multiline bool) {
		if chunk == 0 || maxLine == 0 {
			return
		}
		re := ""
		if multiline {
			re = `^2`
		}
		got := feed(t, bareState(int(maxLine), re), data, int(chunk))
		if !multiline {
			want, _ := splitLines(data, int(maxLine))
			if !slices.Equal(got, want) {
				t.Fatalf("got %q, want %q", got, want)
			}
			return
		}
		for _, p := range got {
			if len(p) > int(maxLine) || p == "" {
				t.Fatalf("record of %d bytes", len(p))
			}
		}
	})
}

func TestLinesChunked(t *testing.T) {
	data := []byte("one\r\ntwo\n\n" + strings.Repeat("z", 40) + "\nthree\nfour\r\n" + strings.Repeat("w", 11) + "\r\nend")
	for _, maxLine := range []int{5, 10, 11, 12, 100} {
		want, dropped := splitLines(data, maxLine)
		for chunk := 1; chunk <= len(data); chunk++ {
			st := bareState(maxLine, "")
			got := feed(t, st, data, chunk)
			if !slices.Equal(got, want) {
				t.Fatalf("max %d chunk %d: got %q, want %q", maxLine, chunk, got, want)
			}
			if n := st.metrics.Dropped(pipeline.DropTooLarge); n != uint64(dropped) {
				t.Fatalf("max %d chunk %d: dropped %d, want %d", maxLine, chunk, n, dropped)
			}
		}
	}
}

func FuzzCheckpoint(f *testing.F) {
	f.Add([]byte(`{"version":1,"patterns":["/a/*"],"files":[{"path":"/a/b","dev":1,"inode":2,"fingerprint_bytes":3,"fingerprint":"ff","offset":4}]}`))
	f.Add([]byte(`{"version":1,"files":[{"path":"/x","fingerprint":"-1","fingerprint_bytes":-1}]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		_, entries, _, err := parseCheckpoint(b)
		if err != nil && entries != nil {
			t.Fatal("entries with an error")
		}
		for _, e := range entries {
			if e.path == "" || e.offset < 0 || e.fp.n < 0 || e.fp.n > fpMax {
				t.Fatalf("bad entry %+v", e)
			}
		}
	})
}

func TestMatchPath(t *testing.T) {
	for _, tc := range []struct {
		pattern, path string
		want          bool
	}{
		{"/var/log/*.log", "/var/log/a.log", true},
		{"/var/log/*.log", "/var/log/x/a.log", false},
		{"/var/log/**/*.log", "/var/log/a.log", true},
		{"/var/log/**/*.log", "/var/log/x/y/a.log", true},
		{"/var/log/**/*.log", "/var/log/x/y/a.txt", false},
		{"/var/**/app/*.log", "/var/log/app/a.log", true},
		{"/var/**/app/*.log", "/var/app/a.log", true},
		{"/var/**/app/*.log", "/var/log/app/x/a.log", false},
		{"/**", "/a/b/c", true},
		{"/a/**/**/b", "/a/b", true},
		{"/a/**/b/**/c", "/a/x/b/y/z/c", true},
		{"/a/**/b/**/c", "/a/x/y/z/c", false},
	} {
		if got := matchPath(filepath.FromSlash(tc.pattern), filepath.FromSlash(tc.path)); got != tc.want {
			t.Errorf("matchPath(%q, %q) = %v", tc.pattern, tc.path, got)
		}
	}
}

func FuzzMatchPath(f *testing.F) {
	f.Add("/var/log/**/*.log", "/var/log/a/b.log")
	f.Add("/a/*/c", "/a/b/c")
	f.Add("**/**/**/**/**/**/**/**/x", strings.Repeat("a/", 200)+"y")
	f.Fuzz(func(t *testing.T, pattern, path string) {
		if len(pattern) > 1000 || len(path) > 1000 {
			return
		}
		got := matchPath(pattern, path)
		if checkPattern(pattern) != nil || hasDoubleStar(pattern) || strings.ContainsAny(pattern, `[\`) {
			return
		}
		if want, _ := filepath.Match(pattern, path); got != want {
			t.Fatalf("matchPath(%q, %q) = %v, filepath.Match says %v", pattern, path, got, want)
		}
	})
}
