package fileout

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/metlog/metlog/message"
	"github.com/metlog/metlog/pipeline"
	"github.com/metlog/metlog/pipeline/pipelinetest"
	_ "github.com/metlog/metlog/plugins/codecs"
)

// fakeClock is a clock the test moves.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Set(t time.Time) {
	c.mu.Lock()
	c.t = t
	c.mu.Unlock()
}

// useClock makes the output read the time from c.
func (f *File) useClock(c *fakeClock) {
	f.mu.Lock()
	f.now = c.Now
	f.mu.Unlock()
}

// run starts a pipeline whose section [out] is the configuration cfg,
// writing in dir, and returns it with the file output.
func run(t *testing.T, cfg string) (*pipeline.Pipeline, *File) {
	t.Helper()
	p := pipelinetest.Run(t, "[out]\ntype = \"file_output\"\nmessage_matcher = \"TRUE\"\nretry_min = \"5ms\"\nretry_max = \"20ms\"\n"+cfg)
	return p, pipelinetest.Plugin(t, p, "out").(*File)
}

// send delivers msgs to p and waits until the output has written them all.
func send(t *testing.T, p *pipeline.Pipeline, msgs ...*message.Message) {
	t.Helper()
	m := p.Metrics("out")
	// Every message ends delivered or dropped (a refused one is counted as
	// dropped, not as delivered too).
	done := func() uint64 { return m.Out.Load() + m.DroppedTotal() }
	want := done() + uint64(len(msgs))
	d := p.Deliverer("test")
	for _, msg := range msgs {
		if err := d.Deliver(context.Background(), msg); err != nil {
			t.Fatal(err)
		}
	}
	pipelinetest.Eventually(t, func() bool { return done() >= want },
		fmt.Sprintf("the output wrote %d of %d messages", done(), want))
}

var epoch = time.Date(2030, 1, 1, 10, 30, 0, 0, time.UTC)

// testMessages returns n varied messages, numbered in their payloads.
func testMessages(n int) []*message.Message {
	out := make([]*message.Message, n)
	for i := range out {
		m := &message.Message{
			UUID:       [16]byte{byte(i), byte(i >> 8), 0x42},
			Timestamp:  epoch.UnixNano() + int64(i)*1_234_567,
			Type:       []string{"counter", "timer", "oldstyle", "exception"}[i%4],
			Logger:     "app",
			Severity:   int32(i % 8),
			Payload:    fmt.Sprintf("message %d \"quoted\" ünïcode \\ tab\t", i),
			EnvVersion: "0.8",
			Pid:        int32(1000 + i),
			Hostname:   "host.example",
		}
		m.AddString("name", fmt.Sprintf("req.%d", i))
		m.AddInt("count", int64(i))
		m.AddDouble("rate", 0.25)
		m.AddBool("ok", i%2 == 0)
		if i%3 == 0 {
			m.Fields = append(m.Fields, message.NewDouble("elapsed", 1.5, 2).WithRepresentation("ms"),
				message.NewBytes("raw", []byte{0, 1, 2, 255}))
		}
		out[i] = m
	}
	return out
}

// payloads returns messages whose payloads are the given lines.
func payloads(lines ...string) []*message.Message {
	out := make([]*message.Message, len(lines))
	for i, l := range lines {
		out[i] = &message.Message{Type: "plain", Payload: l}
	}
	return out
}

func readFile(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if strings.HasSuffix(path, ".gz") {
		zr, err := gzip.NewReader(bytes.NewReader(b))
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		if b, err = io.ReadAll(zr); err != nil {
			t.Fatalf("%s: %v", path, err)
		}
	}
	return b
}

func lines(t *testing.T, path string) []string {
	t.Helper()
	s := string(readFile(t, path))
	if s == "" {
		return nil
	}
	return strings.Split(strings.TrimSuffix(s, "\n"), "\n")
}

// files lists the regular files under dir, relative to it, sorted.
func files(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.Type().IsRegular() {
			rel, _ := filepath.Rel(dir, p)
			out = append(out, rel)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(out)
	return out
}

func nums(from, to int) []string {
	var out []string
	for i := from; i < to; i++ {
		out = append(out, fmt.Sprintf("line %03d", i))
	}
	return out
}

func TestEncoders(t *testing.T) {
	tests := []struct {
		encoder string
		check   func(t *testing.T, data []byte, msgs []*message.Message)
	}{
		{"json", func(t *testing.T, data []byte, msgs []*message.Message) {
			sc := bufio.NewScanner(bytes.NewReader(data))
			i := 0
			for ; sc.Scan(); i++ {
				var m message.Message
				if err := message.DecodeJSON(sc.Bytes(), &m); err != nil {
					t.Fatalf("line %d: %v", i, err)
				}
				if !m.Equal(msgs[i]) {
					t.Fatalf("line %d decodes to\n%+v\nwant\n%+v", i, m, *msgs[i])
				}
			}
			if i != len(msgs) {
				t.Fatalf("%d lines, want %d", i, len(msgs))
			}
		}},
		{"metlog", func(t *testing.T, data []byte, msgs []*message.Message) {
			sc := bufio.NewScanner(bytes.NewReader(data))
			i := 0
			for ; sc.Scan(); i++ {
				var m message.Message
				if err := message.DecodeMetlogJSON(sc.Bytes(), &m); err != nil {
					t.Fatalf("line %d: %v", i, err)
				}
				w := msgs[i]
				if m.Type != w.Type || m.Logger != w.Logger || m.Payload != w.Payload || m.Severity != w.Severity ||
					m.Pid != w.Pid || m.Hostname != w.Hostname || m.Timestamp != w.Timestamp/1000*1000 {
					t.Fatalf("line %d decodes to\n%+v\nwant\n%+v", i, m, *w)
				}
				if v, _ := m.GetString("name"); v != fmt.Sprintf("req.%d", i) {
					t.Fatalf("line %d: field name is %q", i, v)
				}
			}
			if i != len(msgs) {
				t.Fatalf("%d lines, want %d", i, len(msgs))
			}
		}},
		{"protobuf", func(t *testing.T, data []byte, msgs []*message.Message) {
			sc := message.NewFrameScanner(bytes.NewReader(data), 0)
			i := 0
			for ; sc.Next(); i++ {
				var m message.Message
				if err := m.Unmarshal(sc.Message()); err != nil {
					t.Fatalf("frame %d: %v", i, err)
				}
				if !m.Equal(msgs[i]) {
					t.Fatalf("frame %d decodes to\n%+v\nwant\n%+v", i, m, *msgs[i])
				}
			}
			if i != len(msgs) || sc.Discarded() != 0 {
				t.Fatalf("%d frames, want %d; %d bytes discarded", i, len(msgs), sc.Discarded())
			}
		}},
		{"payload", func(t *testing.T, data []byte, msgs []*message.Message) {
			got := strings.Split(strings.TrimSuffix(string(data), "\n"), "\n")
			var want []string
			for _, m := range msgs {
				want = append(want, m.Payload)
			}
			if !slices.Equal(got, want) {
				t.Fatalf("got %q\nwant %q", got, want)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.encoder, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "out.log")
			p, _ := run(t, fmt.Sprintf("path = %q\nencoder = %q\n", path, tt.encoder))
			msgs := testMessages(300)
			send(t, p, msgs...)
			data := readFile(t, path)
			// The bytes are exactly the encoder's, in order.
			enc, _ := pipeline.NewEncoder(tt.encoder)
			var want []byte
			for _, m := range msgs {
				want, _ = enc.Append(want, m)
			}
			if !bytes.Equal(data, want) {
				t.Fatalf("the file holds %d bytes that differ from the %d the encoder writes", len(data), len(want))
			}
			tt.check(t, data, msgs)
		})
	}
}

func TestTimePlaceholders(t *testing.T) {
	dir := t.TempDir()
	p, f := run(t, fmt.Sprintf("path = %q\nencoder = \"payload\"\n", filepath.Join(dir, "%Y/%m/m-%Y-%m-%d_%j.log")))
	clock := &fakeClock{t: time.Date(2030, 12, 31, 23, 59, 59, 999e6, time.UTC)}
	f.useClock(clock)
	send(t, p, payloads("a", "b", "c")...)
	clock.Set(time.Date(2031, 1, 1, 0, 0, 0, 0, time.UTC))
	send(t, p, payloads("d", "e")...)
	clock.Set(time.Date(2031, 1, 1, 23, 0, 0, 0, time.UTC))
	send(t, p, payloads("f")...)
	clock.Set(time.Date(2031, 2, 1, 0, 0, 0, 0, time.UTC))
	send(t, p, payloads("g")...)

	want := map[string][]string{
		"2030/12/m-2030-12-31_365.log": {"a", "b", "c"},
		"2031/01/m-2031-01-01_001.log": {"d", "e", "f"},
		"2031/02/m-2031-02-01_032.log": {"g"},
	}
	// The file of the real date, opened at start and never written, is gone.
	got := files(t, dir)
	if len(got) != len(want) {
		t.Fatalf("files %q, want the keys of %q", got, want)
	}
	for name, lines := range want {
		if got := strings.Fields(string(readFile(t, filepath.Join(dir, name)))); !slices.Equal(got, lines) {
			t.Errorf("%s holds %q, want %q", name, got, lines)
		}
	}
}

func TestLocalTime(t *testing.T) {
	f := New()
	f.LocalTime, f.RotateInterval = true, 24*time.Hour
	for _, tm := range []time.Time{time.Date(2030, 6, 15, 13, 14, 15, 0, time.Local), time.Date(2030, 1, 1, 0, 0, 0, 0, time.Local)} {
		start := f.periodStart(tm)
		if h, m, s := start.Local().Clock(); h != 0 || m != 0 || s != 0 || start.After(tm) || tm.Sub(start) >= 24*time.Hour {
			t.Errorf("period of %v starts at %v, want local midnight", tm, start.Local())
		}
		if got := f.zoned(tm); got.Location() != time.Local {
			t.Errorf("zoned(%v) is in %v", tm, got.Location())
		}
	}
	f.LocalTime = false
	tm := time.Date(2030, 6, 15, 13, 14, 15, 0, time.UTC)
	if got, want := f.periodStart(tm), time.Date(2030, 6, 15, 0, 0, 0, 0, time.UTC); !got.Equal(want) {
		t.Errorf("period starts at %v, want %v", got, want)
	}
	f.RotateInterval = 15 * time.Minute
	if got, want := f.periodStart(tm), time.Date(2030, 6, 15, 13, 0, 0, 0, time.UTC); !got.Equal(want) {
		t.Errorf("period starts at %v, want %v", got, want)
	}
}

func TestRotateSize(t *testing.T) {
	dir := t.TempDir()
	// Lines of 9 bytes ("line 000\n"): 11 fit in 100 bytes.
	p, f := run(t, fmt.Sprintf("path = %q\nencoder = \"payload\"\nrotate_size = 100\nkeep = 3\n", filepath.Join(dir, "out.log")))
	clock := &fakeClock{t: epoch}
	f.useClock(clock)
	send(t, p, payloads(nums(0, 60)...)...)
	// 60 lines: five full files of 11 and one of 5; the oldest two deleted.
	pipelinetest.Eventually(t, func() bool { return len(files(t, dir)) == 4 }, "keep 3 old files")
	want := []string{
		"out.20300101T103000.002Z.log",
		"out.20300101T103000.003Z.log",
		"out.20300101T103000.004Z.log",
		"out.log",
	}
	if got := files(t, dir); !slices.Equal(got, want) {
		t.Fatalf("files %q, want %q", got, want)
	}
	for i, name := range want {
		from := 22 + 11*i
		if got, want := lines(t, filepath.Join(dir, name)), nums(from, min(from+11, 60)); !slices.Equal(got, want) {
			t.Errorf("%s holds %q, want %q", name, got, want)
		}
		if st, _ := os.Stat(filepath.Join(dir, name)); st.Size() > 100 {
			t.Errorf("%s has %d bytes", name, st.Size())
		}
	}

	// A message larger than rotate_size goes alone into a file.
	big := strings.Repeat("x", 150)
	send(t, p, payloads("small", big, "after")...)
	pipelinetest.Eventually(t, func() bool { return len(files(t, dir)) == 4 }, "keep 3 old files")
	got := files(t, dir)
	if l := lines(t, filepath.Join(dir, got[2])); !slices.Equal(l, []string{big}) {
		t.Errorf("%s holds %q, want the big message alone", got[2], l)
	}
	if l := lines(t, filepath.Join(dir, "out.log")); !slices.Equal(l, []string{"after"}) {
		t.Errorf("out.log holds %q", l)
	}
}

func TestRotateSizeExistingFile(t *testing.T) {
	// A file already near rotate_size at start is rotated at the first
	// write that would take it over.
	dir := t.TempDir()
	path := filepath.Join(dir, "out.log")
	if err := os.WriteFile(path, []byte(strings.Repeat("old line\n", 10)), 0o644); err != nil {
		t.Fatal(err)
	}
	p, _ := run(t, fmt.Sprintf("path = %q\nencoder = \"payload\"\nrotate_size = 100\n", path))
	send(t, p, payloads("new line", "new line")...)
	got := files(t, dir)
	if len(got) != 2 {
		t.Fatalf("files %q", got)
	}
	if l := lines(t, filepath.Join(dir, got[0])); len(l) != 11 || l[10] != "new line" {
		t.Errorf("rotated file holds %q", l)
	}
	if l := lines(t, path); !slices.Equal(l, []string{"new line"}) {
		t.Errorf("current file holds %q", l)
	}
}

func TestRotateInterval(t *testing.T) {
	dir := t.TempDir()
	p, f := run(t, fmt.Sprintf("path = %q\nencoder = \"payload\"\nrotate_interval = \"1h\"\nkeep = 0\n", filepath.Join(dir, "out.jsonl")))
	clock := &fakeClock{t: epoch} // 10:30
	f.useClock(clock)
	send(t, p, payloads("a")...)
	clock.Set(epoch.Add(29 * time.Minute)) // 10:59
	send(t, p, payloads("b")...)
	clock.Set(epoch.Add(30 * time.Minute)) // 11:00
	send(t, p, payloads("c")...)
	clock.Set(epoch.Add(160 * time.Minute)) // 13:10
	send(t, p, payloads("d")...)
	want := map[string][]string{
		"out.20300101T110000.000Z.jsonl": {"a", "b"},
		"out.20300101T131000.000Z.jsonl": {"c"},
		"out.jsonl":                      {"d"},
	}
	got := files(t, dir)
	if len(got) != len(want) {
		t.Fatalf("files %q, want the keys of %q", got, want)
	}
	for name, l := range want {
		if got := lines(t, filepath.Join(dir, name)); !slices.Equal(got, l) {
			t.Errorf("%s holds %q, want %q", name, got, l)
		}
	}
}

func TestRotateIntervalAtStart(t *testing.T) {
	// A file last written in an earlier period is rotated when the output
	// opens it, rather than receiving today's messages.
	dir := t.TempDir()
	path := filepath.Join(dir, "out.log")
	if err := os.WriteFile(path, []byte("yesterday\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	old := time.Now().Add(-48 * time.Hour)
	if err := os.Chtimes(path, old, old); err != nil {
		t.Fatal(err)
	}
	p, _ := run(t, fmt.Sprintf("path = %q\nencoder = \"payload\"\nrotate_interval = \"24h\"\n", path))
	send(t, p, payloads("today")...)
	got := files(t, dir)
	if len(got) != 2 || got[1] != "out.log" {
		t.Fatalf("files %q", got)
	}
	if l := lines(t, filepath.Join(dir, got[0])); !slices.Equal(l, []string{"yesterday"}) {
		t.Errorf("rotated file holds %q", l)
	}
	if l := lines(t, path); !slices.Equal(l, []string{"today"}) {
		t.Errorf("current file holds %q", l)
	}
}

func TestKeepPartitions(t *testing.T) {
	// keep counts earlier expansions of the path too; files that only
	// look alike are left alone.
	dir := t.TempDir()
	other := []string{"m-2030-01-01.log.bak", "m-x.log", "notes.txt"}
	for _, name := range other {
		if err := os.WriteFile(filepath.Join(dir, name), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	p, f := run(t, fmt.Sprintf("path = %q\nencoder = \"payload\"\nkeep = 2\n", filepath.Join(dir, "m-%Y-%m-%d.log")))
	clock := &fakeClock{}
	f.useClock(clock)
	for day := 1; day <= 5; day++ {
		clock.Set(time.Date(2030, 1, day, 12, 0, 0, 0, time.UTC))
		send(t, p, payloads(fmt.Sprint(day))...)
	}
	want := append([]string{"m-2030-01-03.log", "m-2030-01-04.log", "m-2030-01-05.log"}, other...)
	sort.Strings(want)
	pipelinetest.Eventually(t, func() bool { return slices.Equal(files(t, dir), want) },
		fmt.Sprintf("files %q, want %q", files(t, dir), want))
}

func TestCompress(t *testing.T) {
	dir := t.TempDir()
	p, f := run(t, fmt.Sprintf("path = %q\nencoder = \"payload\"\nrotate_size = 100\nkeep = 2\ncompress = true\nfile_mode = \"0640\"\n", filepath.Join(dir, "out.log")))
	f.useClock(&fakeClock{t: epoch})
	send(t, p, payloads(nums(0, 40)...)...)
	want := []string{"out.20300101T103000.001Z.log.gz", "out.20300101T103000.002Z.log.gz", "out.log"}
	pipelinetest.Eventually(t, func() bool { return slices.Equal(files(t, dir), want) },
		fmt.Sprintf("files %q, want %q", files(t, dir), want))
	var all []string
	for _, name := range want {
		all = append(all, lines(t, filepath.Join(dir, name))...)
		if st, _ := os.Stat(filepath.Join(dir, name)); st.Mode().Perm() != 0o640&^umask() {
			t.Errorf("%s has mode %v", name, st.Mode())
		}
	}
	if !slices.Equal(all, nums(11, 40)) {
		t.Errorf("the files hold %q", all)
	}
}

func TestReopen(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "out.log")
	p, _ := run(t, fmt.Sprintf("path = %q\nencoder = \"payload\"\n", path))
	send(t, p, payloads(nums(0, 10)...)...)
	if err := os.Rename(path, path+".1"); err != nil { // as logrotate does
		t.Fatal(err)
	}
	if err := p.Reopen(); err != nil {
		t.Fatal(err)
	}
	send(t, p, payloads(nums(10, 20)...)...)
	if got := lines(t, path+".1"); !slices.Equal(got, nums(0, 10)) {
		t.Errorf("moved file holds %q", got)
	}
	if got := lines(t, path); !slices.Equal(got, nums(10, 20)) {
		t.Errorf("new file holds %q", got)
	}
}

func TestReopenUnderLoad(t *testing.T) {
	// Rotations by rename and Reopen while messages flow: every message
	// lands in exactly one file, whole.
	dir := t.TempDir()
	path := filepath.Join(dir, "out.log")
	p, _ := run(t, fmt.Sprintf("path = %q\nencoder = \"payload\"\nqueue_size = 100000\n", path))
	const n = 20000
	done := make(chan struct{})
	go func() {
		defer close(done)
		d := p.Deliverer("test")
		for i := range n {
			if err := d.Deliver(context.Background(), &message.Message{Payload: fmt.Sprintf("line %05d", i)}); err != nil {
				t.Error(err)
				return
			}
		}
	}()
	for i := 1; i <= 5; i++ {
		time.Sleep(time.Millisecond) // spreads the rotations over the run; correctness does not depend on it
		if err := os.Rename(path, fmt.Sprintf("%s.%d", path, i)); err != nil {
			t.Fatal(err)
		}
		if err := p.Reopen(); err != nil {
			t.Fatal(err)
		}
	}
	<-done
	m := p.Metrics("out")
	pipelinetest.Eventually(t, func() bool { return m.Out.Load() == n }, "all messages written")
	var all []string
	for _, name := range files(t, dir) {
		all = append(all, lines(t, filepath.Join(dir, name))...)
	}
	sort.Strings(all)
	var want []string
	for i := range n {
		want = append(want, fmt.Sprintf("line %05d", i))
	}
	if !slices.Equal(all, want) {
		t.Fatalf("the files hold %d lines, want each of %d once", len(all), n)
	}
}

func TestFsync(t *testing.T) {
	tests := []struct {
		fsync string
		check func(t *testing.T, f *File, batches int)
	}{
		{"never", func(t *testing.T, f *File, batches int) {
			if n := f.syncs.Load(); n != 0 {
				t.Errorf("%d syncs", n)
			}
		}},
		{"batch", func(t *testing.T, f *File, batches int) {
			if n := f.syncs.Load(); n != uint64(batches) {
				t.Errorf("%d syncs for %d batches", n, batches)
			}
		}},
		{"interval", func(t *testing.T, f *File, batches int) {
			pipelinetest.Eventually(t, func() bool { return f.syncs.Load() >= 1 }, "a sync within the interval")
			pipelinetest.Eventually(t, func() bool { return !f.dirty.Load() }, "nothing left to sync")
		}},
	}
	for _, tt := range tests {
		t.Run(tt.fsync, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "out.log")
			p, f := run(t, fmt.Sprintf("path = %q\nfsync = %q\nfsync_interval = \"20ms\"\n", path, tt.fsync))
			const batches = 5
			for _, m := range testMessages(batches) {
				send(t, p, m) // one message per batch
			}
			tt.check(t, f, batches)
			if got := len(lines(t, path)); got != batches {
				t.Errorf("%d lines", got)
			}
			before := f.syncs.Load()
			if err := f.Stop(context.Background()); err != nil {
				t.Fatal(err)
			}
			if f.syncs.Load() < before+1 { // the interval's syncer may add one
				t.Errorf("Stop did not sync the file")
			}
		})
	}
}

func umask() os.FileMode {
	old := syscall.Umask(0o022)
	syscall.Umask(old)
	return os.FileMode(old)
}

func TestPermissions(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "a", "b", "out.log")
	p, _ := run(t, fmt.Sprintf("path = %q\nfile_mode = \"0604\"\ndir_mode = \"0751\"\n", path))
	send(t, p, testMessages(1)...)
	mask := umask()
	for _, c := range []struct {
		path string
		mode os.FileMode
	}{
		{path, 0o604 &^ mask},
		{filepath.Join(dir, "a"), fs.ModeDir | 0o751&^mask},
		{filepath.Join(dir, "a", "b"), fs.ModeDir | 0o751&^mask},
	} {
		st, err := os.Stat(c.path)
		if err != nil {
			t.Fatal(err)
		}
		if st.Mode() != c.mode {
			t.Errorf("%s has mode %v, want %v", c.path, st.Mode(), c.mode)
		}
	}
}

func TestWriteErrors(t *testing.T) {
	tests := []struct {
		name  string
		block func(t *testing.T, dir string) (unblock func())
	}{
		{"a file where the directory goes", func(t *testing.T, dir string) func() {
			blocker := filepath.Join(dir, "2030-01-02")
			if err := os.WriteFile(blocker, nil, 0o644); err != nil {
				t.Fatal(err)
			}
			return func() { os.Remove(blocker) }
		}},
		{"a read-only directory", func(t *testing.T, dir string) func() {
			if os.Geteuid() == 0 {
				t.Skip("root writes in read-only directories; the case above covers the retry")
			}
			if err := os.Chmod(dir, 0o555); err != nil {
				t.Fatal(err)
			}
			return func() { os.Chmod(dir, 0o755) }
		}},
		{"a directory where the file goes", func(t *testing.T, dir string) func() {
			blocker := filepath.Join(dir, "2030-01-02", "out.log")
			if err := os.MkdirAll(blocker, 0o755); err != nil {
				t.Fatal(err)
			}
			return func() { os.Remove(blocker) }
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			p, f := run(t, fmt.Sprintf("path = %q\nencoder = \"payload\"\n", filepath.Join(dir, "%Y-%m-%d", "out.log")))
			clock := &fakeClock{t: time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)}
			f.useClock(clock)
			send(t, p, payloads("day 1")...)
			unblock := tt.block(t, dir)
			defer unblock()
			clock.Set(time.Date(2030, 1, 2, 0, 0, 0, 0, time.UTC))
			d := p.Deliverer("test")
			for _, m := range payloads("day 2 a", "day 2 b") {
				if err := d.Deliver(context.Background(), m); err != nil {
					t.Fatal(err)
				}
			}
			m := p.Metrics("out")
			pipelinetest.Eventually(t, func() bool { return m.Errors.Load() >= 3 }, "retried errors")
			if m.Out.Load() != 1 {
				t.Fatalf("%d messages written while the directory is blocked", m.Out.Load())
			}
			unblock()
			pipelinetest.Eventually(t, func() bool { return m.Out.Load() == 3 }, "the messages written once the directory is fixed")
			if got := lines(t, filepath.Join(dir, "2030-01-02", "out.log")); !slices.Equal(got, []string{"day 2 a", "day 2 b"}) {
				t.Errorf("the file holds %q", got)
			}
			if n := m.DroppedTotal(); n != 0 {
				t.Errorf("%d dropped", n)
			}
		})
	}
}

func TestStartFails(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "file"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{filepath.Join(dir, "file", "out.log"), dir, fifo, os.DevNull} {
		_, err := pipelinetest.Start(t, fmt.Sprintf("[out]\ntype = \"file_output\"\nmessage_matcher = \"TRUE\"\npath = %q\n", path))
		// A path under a file is refused when the configuration is
		// checked, naming the file; the others when the output starts.
		if err == nil || !strings.Contains(err.Error(), path) && !strings.Contains(err.Error(), filepath.Dir(path)+" is not a directory") {
			t.Errorf("path %s: start error %v", path, err)
		}
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		cfg, key, msg string
	}{
		{``, "", "path: is required"},
		{`path = "x-%q.log"`, "path", "%q in"},
		{`path = "x-%"`, "path", "lone %"},
		{`path = "dir/"`, "path", "names a directory"},
		{"path = \"x\"\nrotate_interval = \"-1h\"", "rotate_interval", "must not be negative"},
		{"path = \"x\"\nrotate_interval = \"10ms\"", "rotate_interval", "minimum of 1s"},
		{"path = \"x\"\nkeep = -1", "keep", "must not be negative"},
		{"path = \"x\"\nfsync = \"always\"", "fsync", `"always" is not never, batch or interval`},
		{"path = \"x\"\nfsync = \"interval\"\nfsync_interval = \"0s\"", "fsync_interval", "must be positive"},
		{"path = \"x\"\nfile_mode = \"0x1ff\"", "file_mode", "not octal"},
		{"path = \"x\"\ndir_mode = \"1777\"", "dir_mode", "not octal"},
		{"path = \"x\"\nrotate_size = \"ten\"", "rotate_size", "not a number of bytes"},
		{"path = \"x\"\nencoder = \"yaml\"", "encoder", `no encoder "yaml"`},
		{"path = \"x\"\nrotate = 1", "rotate", "unknown key"},
	}
	for _, tt := range tests {
		t.Run(tt.cfg, func(t *testing.T) {
			_, err := pipelinetest.Parse(t, "[out]\ntype = \"file_output\"\nmessage_matcher = \"TRUE\"\n"+tt.cfg)
			errs, ok := err.(pipeline.ConfigErrors)
			if !ok || len(errs) == 0 {
				t.Fatalf("error %v, want a config error", err)
			}
			found := false
			for _, e := range errs {
				if (tt.key == "" || e.Key == tt.key) && strings.Contains(e.Error(), tt.msg) {
					found = true
				}
			}
			if !found {
				t.Errorf("errors:\n%v\nwant one on key %q saying %q", err, tt.key, tt.msg)
			}
		})
	}
}

func TestSample(t *testing.T) {
	sample, err := os.ReadFile("sample.toml")
	if err != nil {
		t.Fatal(err)
	}
	t.Chdir(t.TempDir()) // the sample writes under ./metlog-data
	p := pipelinetest.Run(t, string(sample))
	var name string
	for _, s := range p.Config().Sections {
		if s.Type == "file_output" {
			name = s.Name
		}
	}
	f := pipelinetest.Plugin(t, p, name).(*File)
	d := p.Deliverer("test")
	msgs := testMessages(3)
	for _, m := range msgs {
		if err := d.Deliver(context.Background(), m); err != nil {
			t.Fatal(err)
		}
	}
	m := p.Metrics(name)
	pipelinetest.Eventually(t, func() bool { return m.Out.Load() == 3 }, "messages written")
	f.mu.Lock()
	path := f.cur
	f.mu.Unlock()
	if got := len(lines(t, path)); got != 3 {
		t.Errorf("%s holds %d lines", path, got)
	}
}

func TestStop(t *testing.T) {
	// Stop without Start, twice, and after Start with background work:
	// it returns once the goroutines are done.
	if err := New().Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	f := New()
	f.Path = filepath.Join(t.TempDir(), "out.log")
	f.Compress, f.Fsync, f.FsyncInterval = true, FsyncInterval, time.Millisecond
	if err := f.Start(context.Background(), &pipeline.Settings{}); err != nil {
		t.Fatal(err)
	}
	if err := f.Deliver(context.Background(), testMessages(2)); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if err := f.Stop(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	if err := f.Deliver(context.Background(), testMessages(1)); err == nil {
		t.Error("Deliver after Stop succeeded")
	}
	if err := f.Reopen(); err != nil {
		t.Error(err)
	}
}

func TestPartialWrite(t *testing.T) {
	// A write cut short (here by RLIMIT_FSIZE, in a child process, as a
	// full disk would) leaves no part of the batch in the file, so that
	// its retry writes every line once, whole.
	if os.Getenv("FILEOUT_PARTIAL_WRITE_CHILD") == "" {
		cmd := exec.Command(os.Args[0], "-test.run=^TestPartialWrite$", "-test.v")
		cmd.Env = append(os.Environ(), "FILEOUT_PARTIAL_WRITE_CHILD=1")
		out, err := cmd.CombinedOutput()
		if err != nil || !bytes.Contains(out, []byte("--- PASS: TestPartialWrite")) {
			t.Fatalf("child: %v\n%s", err, out)
		}
		return
	}
	enc, _ := pipeline.NewEncoder("payload")
	f := New()
	f.Path = filepath.Join(t.TempDir(), "out.log")
	if err := f.Start(context.Background(), &pipeline.Settings{Encoder: enc}); err != nil {
		t.Fatal(err)
	}
	defer f.Stop(context.Background())
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_FSIZE, &lim); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Setrlimit(syscall.RLIMIT_FSIZE, &syscall.Rlimit{Cur: 1000, Max: lim.Max}); err != nil {
		t.Skip("cannot limit the file size:", err)
	}
	if err := f.Deliver(context.Background(), payloads(nums(0, 60)...)); err != nil { // 540 bytes
		t.Fatal(err)
	}
	err := f.Deliver(context.Background(), payloads(nums(60, 120)...)) // 540 more: cut at 1000
	if err == nil || pipeline.IsPermanent(err) {
		t.Fatalf("Deliver over the limit: %v, want a retryable error", err)
	}
	if st, _ := os.Stat(f.Path); st.Size() != 540 {
		t.Fatalf("after the failed write the file has %d bytes, want 540", st.Size())
	}
	if err := syscall.Setrlimit(syscall.RLIMIT_FSIZE, &lim); err != nil {
		t.Fatal(err)
	}
	if err := f.Deliver(context.Background(), payloads(nums(60, 120)...)); err != nil {
		t.Fatal(err)
	}
	if got := lines(t, f.Path); !slices.Equal(got, nums(0, 120)) {
		t.Fatalf("the file holds %q", got)
	}
}

// rejectingEncoder writes payloads and refuses messages of type "bad".
type rejectingEncoder struct{}

func (rejectingEncoder) Append(dst []byte, m *message.Message) ([]byte, error) {
	if m.Type == "bad" {
		return append(dst, "partial"...), fmt.Errorf("cannot encode %q", m.Payload)
	}
	return append(append(dst, m.Payload...), '\n'), nil
}

func init() {
	pipeline.RegisterEncoder("fileout_test_rejecting", func() pipeline.Encoder { return rejectingEncoder{} })
}

func TestEncoderRejects(t *testing.T) {
	// A message the encoder refuses is dropped and counted; the rest of
	// its batch is written, without the refused message's partial bytes.
	path := filepath.Join(t.TempDir(), "out.log")
	p, _ := run(t, fmt.Sprintf("path = %q\nencoder = \"fileout_test_rejecting\"\n", path))
	msgs := payloads("a", "b", "c", "d")
	msgs[1].Type = "bad"
	send(t, p, msgs...)
	if got := lines(t, path); !slices.Equal(got, []string{"a", "c", "d"}) {
		t.Errorf("the file holds %q", got)
	}
	if n := p.Metrics("out").Dropped(pipeline.DropPermanent); n != 1 {
		t.Errorf("%d dropped as permanent, want 1", n)
	}
}
