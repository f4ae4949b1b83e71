package filein

import (
	"os"
	"strings"
	"testing"

	"github.com/metlog/metlog/message"
	"github.com/metlog/metlog/pipeline"
	"github.com/metlog/metlog/pipeline/pipelinetest"
)

func TestLinesInOrder(t *testing.T) {
	for _, tc := range []struct {
		name     string
		startAt  string
		existing string
		appends  []string // written one after the other, each waited for
		want     []string
	}{
		{
			name: "end", startAt: "end",
			existing: "old 1\nold 2\n",
			appends:  []string{"new 1\n", "new 2\nnew 3\n"},
			want:     []string{"new 1", "new 2", "new 3"},
		},
		{
			name: "beginning", startAt: "beginning",
			existing: "old 1\nold 2\n",
			appends:  []string{"new 1\n"},
			want:     []string{"old 1", "old 2", "new 1"},
		},
		{
			name: "end keeps an unfinished last line whole", startAt: "end",
			existing: "old 1\nhalf of a li",
			appends:  []string{"ne\n", "new 1\n"},
			want:     []string{"half of a line", "new 1"},
		},
		{
			name: "partial writes, CRLF and empty lines", startAt: "beginning",
			appends: []string{"a", "b", "c\r\n\n", "\r\nd\n"},
			want:    []string{"abc", "d"},
		},
		{
			name: "a file of one unfinished line, from its end", startAt: "end",
			existing: "no newline yet",
			appends:  []string{" ... done\n"},
			want:     []string{"no newline yet ... done"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			path := join(dir, "app.log")
			if tc.existing != "" {
				write(t, path, tc.existing)
			}
			p, in, out := tail(t, tailConfig([]string{join(dir, "*.log")}, `start_at = "`+tc.startAt+`"`))
			for _, a := range tc.appends {
				write(t, path, a)
				settle(t, p, in, out)
			}
			msgs := out.Messages()
			equal(t, "payloads", payloads(msgs), tc.want)
			for _, m := range msgs {
				if m.Type != "plain" || m.Logger != "in" || m.Severity != message.Info || m.Hostname == "" || m.Timestamp == 0 {
					t.Errorf("header: %+v", m)
				}
				if got, _ := m.GetString("file.path"); got != path || len(m.Fields) != 1 {
					t.Errorf("fields: %+v", m.Fields)
				}
			}
		})
	}
}

func TestMessageTypeAndLogger(t *testing.T) {
	dir := t.TempDir()
	path := join(dir, "a.log")
	_, _, out := tail(t, tailConfig([]string{path}, `message_type = "applog"
logger = "myapp"`))
	write(t, path, "hello\n")
	m := out.Wait(t, 1)[0]
	if m.Type != "applog" || m.Logger != "myapp" || m.Payload != "hello" {
		t.Fatalf("%+v", m)
	}
}

func TestPartialLineWaitsForItsNewline(t *testing.T) {
	dir := t.TempDir()
	path := join(dir, "a.log")
	p, in, out := tail(t, tailConfig([]string{path}, ""))
	write(t, path, "first\nsecond, unfinished")
	settle(t, p, in, out)
	equal(t, "before the newline", payloads(out.Messages()), []string{"first"})
	write(t, path, " and finished\n")
	settle(t, p, in, out)
	equal(t, "after", payloads(out.Messages()), []string{"first", "second, unfinished and finished"})
}

func TestAppendedOverTime(t *testing.T) {
	dir := t.TempDir()
	path := join(dir, "a.log")
	write(t, path, "")
	_, _, out := tail(t, tailConfig([]string{path}, ""))
	all := ""
	for i := 0; i < 20; i++ {
		chunk := numbered("l", i*50, i*50+50)
		// Split each chunk in the middle of a line.
		write(t, path, chunk[:137])
		write(t, path, chunk[137:])
		all += chunk
	}
	equal(t, "payloads", payloads(out.Wait(t, 1000)), lines(all))
}

func TestGlobFindsFilesCreatedLater(t *testing.T) {
	dir := t.TempDir()
	if err := os.MkdirAll(join(dir, "x", "y"), 0o755); err != nil {
		t.Fatal(err)
	}
	write(t, join(dir, "x", "before.log"), "existing, not read\n")
	p, in, out := tail(t, tailConfig([]string{join(dir, "**", "*.log")}, `exclude = ["*.skip.log", '`+join(dir, "x", "y", "no*")+`']`))
	write(t, join(dir, "x", "before.log"), "appended\n")
	write(t, join(dir, "top.log"), "top 1\n")
	write(t, join(dir, "x", "y", "deep.log"), "deep 1\ndeep 2\n")
	write(t, join(dir, "x", "y", "nope.log"), "excluded by path\n")
	write(t, join(dir, "x", "a.skip.log"), "excluded by name\n")
	write(t, join(dir, "x", "y", "deep.txt"), "not matched\n")
	settle(t, p, in, out)
	got := map[string][]string{}
	for _, m := range out.Messages() {
		path, _ := m.GetString("file.path")
		got[path] = append(got[path], m.Payload)
	}
	equal(t, "before.log", got[join(dir, "x", "before.log")], []string{"appended"})
	equal(t, "top.log", got[join(dir, "top.log")], []string{"top 1"})
	equal(t, "deep.log", got[join(dir, "x", "y", "deep.log")], []string{"deep 1", "deep 2"})
	if len(got) != 3 {
		t.Fatalf("files read: %v", got)
	}
}

func TestJSONFormats(t *testing.T) {
	corpus, err := os.ReadFile("../../../message/testdata/metlogpy-udp.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	src := lines(string(corpus))
	var want []*message.Message
	for _, l := range src {
		m := new(message.Message)
		if err := message.DecodeMetlogJSON([]byte(l), m); err != nil {
			t.Fatal(err)
		}
		want = append(want, m)
	}
	var canonical []string
	for _, m := range want {
		canonical = append(canonical, string(message.AppendJSON(nil, m)))
	}
	for _, tc := range []struct {
		format string
		lines  []string
	}{
		{"metlog", src},
		{"auto_json", src},
		{"auto_json", canonical},
		{"json", canonical},
	} {
		t.Run(tc.format, func(t *testing.T) {
			dir := t.TempDir()
			path := join(dir, "m.jsonl")
			// A bad line and a blank one in the middle: counted, skipped.
			body := strings.Join(tc.lines[:5], "\n") + "\n{\"type\": oops\n\n" + strings.Join(tc.lines[5:], "\n") + "\n"
			write(t, path, body)
			p, in, out := tail(t, tailConfig([]string{path}, `start_at = "beginning"
format = "`+tc.format+`"`))
			out.Wait(t, len(want))
			settle(t, p, in, out)
			got := out.Messages()
			if len(got) != len(want) {
				t.Fatalf("got %d messages, want %d", len(got), len(want))
			}
			for i := range want {
				g := got[i].Clone()
				g.UUID = want[i].UUID // the router gives messages without one a UUID
				if !g.Equal(want[i]) {
					t.Errorf("message %d:\n got %+v\nwant %+v", i, got[i], want[i])
				}
			}
			if n := p.Metrics("in").DecodeErrors.Load(); n != 1 {
				t.Errorf("decode errors: %d, want 1", n)
			}
		})
	}
}

func TestOverlongLines(t *testing.T) {
	long := strings.Repeat("x", 1000)
	huge := strings.Repeat("y", 3*readSize) // spans reads
	for _, tc := range []struct {
		name    string
		extra   string
		body    []string // written one after the other
		want    []string
		dropped uint64
	}{
		{
			name: "lines", extra: `max_line = 300`,
			body:    []string{"ok 1\n" + long + "\nok 2\n" + huge + "\nok 3\n"},
			want:    []string{"ok 1", "ok 2", "ok 3"},
			dropped: 2,
		},
		{
			name: "a line over max_line, written in pieces", extra: `max_line = 300`,
			body:    []string{"ok 1\n" + long[:200], long[200:], long + "\nok 2\n"},
			want:    []string{"ok 1", "ok 2"},
			dropped: 1,
		},
		{
			name: "exactly max_line", extra: `max_line = 1000`,
			body: []string{long + "\n" + long + "\r\n"},
			want: []string{long, long},
		},
		{
			name: "multi-line records", extra: "max_line = 300\nmultiline_start = '^START'",
			body: []string{"START 1\n" + long[:250] + "\n" + long[:250] + "\nSTART 2\nmore\nSTART 3\n" + huge + "\nSTART 4\n"},
			want: []string{"START 2\nmore", "START 4"},
			// START 1 and START 3 are too long; START 4 comes out at
			// the timeout.
			dropped: 2,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			path := join(dir, "a.log")
			p, in, out := tail(t, tailConfig([]string{path}, tc.extra+"\nmultiline_timeout = \"50ms\""))
			for _, b := range tc.body {
				write(t, path, b)
				settle(t, p, in, out)
			}
			out.Wait(t, len(tc.want))
			settle(t, p, in, out)
			equal(t, "payloads", payloads(out.Messages()), tc.want)
			if n := p.Metrics("in").Dropped(pipeline.DropTooLarge); n != tc.dropped {
				t.Errorf("dropped too large: %d, want %d", n, tc.dropped)
			}
		})
	}
}

func TestBinaryGarbage(t *testing.T) {
	dir := t.TempDir()
	path := join(dir, "a.log")
	garbage := make([]byte, 256<<10)
	seed := uint32(1)
	for i := range garbage {
		seed = seed*1664525 + 1013904223
		garbage[i] = byte(seed >> 24)
	}
	var want []string
	for _, l := range strings.Split(string(garbage), "\n") {
		l = strings.TrimSuffix(l, "\r")
		if l != "" {
			want = append(want, l)
		}
	}
	want = append(want, "after the garbage")
	p, in, out := tail(t, tailConfig([]string{path}, ""))
	write(t, path, string(garbage)+"\nafter the garbage\n")
	out.Wait(t, len(want))
	settle(t, p, in, out)
	equal(t, "payloads", payloads(out.Messages()), want)
}

func TestMaxOpenFiles(t *testing.T) {
	dir := t.TempDir()
	for _, n := range []string{"a", "b", "c"} {
		write(t, join(dir, n+".log"), n+" 1\n")
	}
	p, in, out := tail(t, tailConfig([]string{join(dir, "*.log")}, `start_at = "beginning"
max_open_files = 2
rotate_wait = "0s"`))
	out.Wait(t, 2)
	settle(t, p, in, out)
	equal(t, "the first two files", payloads(out.Messages()), []string{"a 1", "b 1"})
	if n := in.nopen.Load(); n != 2 {
		t.Fatalf("%d files open", n)
	}
	// c.log waits for a free slot; its start position was decided when it
	// was found (the beginning).
	write(t, join(dir, "c.log"), "c 2\n")
	if err := os.Remove(join(dir, "a.log")); err != nil {
		t.Fatal(err)
	}
	out.Wait(t, 4)
	settle(t, p, in, out)
	equal(t, "after a.log is gone", payloads(out.Messages()), []string{"a 1", "b 1", "c 1", "c 2"})
}

func TestSampleConfig(t *testing.T) {
	b, err := os.ReadFile("sample.toml")
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := pipelinetest.Parse(t, string(b))
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Sections) != 1 || cfg.Sections[0].Type != "file_input" {
		t.Fatalf("%+v", cfg.Sections)
	}
	if cfg.Global.DataDir == "./metlog-data" {
		t.Fatal("pipelinetest took the sample for a full configuration (does it mention the metlogd section by name?)")
	}
	if _, err := pipelinetest.Start(t, string(b)); err != nil {
		t.Fatal(err)
	}
}

func TestValidate(t *testing.T) {
	for _, tc := range []struct {
		cfg  string
		want string // in the error
	}{
		{`paths = []`, "paths: no files to tail"},
		{`paths = ["/x/[.log"]`, "paths: \"/x/[.log\" is not a valid glob pattern"},
		{`paths = ["/x/a**/*.log"]`, "paths: \"/x/a**/*.log\": ** must be a whole path element"},
		{"paths = [\"/x\"]\nexclude = [\"[\"]", "exclude: "},
		{"paths = [\"/x\"]\nformat = \"xml\"", `format: "xml" is not plain, metlog, json or auto_json`},
		{"paths = [\"/x\"]\nmessage_type = \"\"", "message_type: must not be empty"},
		{"paths = [\"/x\"]\nstart_at = \"middle\"", `start_at: "middle" is not end or beginning`},
		{"paths = [\"/x\"]\npoll_interval = \"0s\"", "poll_interval: must be positive"},
		{"paths = [\"/x\"]\nrotate_wait = \"-1s\"", "rotate_wait: must not be negative"},
		{"paths = [\"/x\"]\nmultiline_start = \"(\"", "multiline_start: not a valid regular expression"},
		{"paths = [\"/x\"]\nmultiline_timeout = \"0s\"", "multiline_timeout: must be positive"},
		{"paths = [\"/x\"]\nmax_line = \"65MiB\"", "max_line: "},
		{"paths = [\"/x\"]\ncheckpoint_interval = \"0s\"", "checkpoint_interval: must be positive"},
		{"paths = [\"/x\"]\nmax_open_files = 0", "max_open_files: must be at least 1"},
		{"paths = [\"/x\"]\npath = \"/y\"", `unknown key (did you mean "paths"?)`},
	} {
		t.Run(tc.want, func(t *testing.T) {
			_, err := pipelinetest.Parse(t, "[in]\ntype = \"file_input\"\n"+tc.cfg+"\n")
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want it to contain %q", err, tc.want)
			}
		})
	}
	if _, err := pipelinetest.Parse(t, "[in]\ntype = \"file_input\"\npaths = [\"/x/**/*.log\"]\nformat = \"auto_json\"\n"); err != nil {
		t.Fatal(err)
	}
}

func TestDefaultExclude(t *testing.T) {
	dir := t.TempDir()
	p, in, out := tail(t, tailConfig([]string{join(dir, "app.log*")}, ""))
	write(t, join(dir, "app.log.2.gz"), "\x1f\x8b compressed\n")
	write(t, join(dir, "app.log.1"), "rotated\n")
	out.Wait(t, 1)
	settle(t, p, in, out)
	equal(t, "payloads", payloads(out.Messages()), []string{"rotated"})

	cfg, err := pipelinetest.Parse(t, tailConfig([]string{"/x"}, `exclude = ["*.old"]`))
	if err != nil {
		t.Fatal(err)
	}
	if got := cfg.Sections[0].Plugin.(*Input).Exclude; len(got) != 1 || got[0] != "*.old" {
		t.Fatalf("exclude = %q: setting it must replace the default", got)
	}
}

// TestReload changes the input's configuration while it runs: the new
// instance continues from the old one's checkpoint.
func TestReload(t *testing.T) {
	dir := t.TempDir()
	path := join(dir, "a.log")
	write(t, path, "")
	p, in, out := tail(t, tailConfig([]string{path}, ""))
	write(t, path, numbered("l", 0, 100))
	out.Wait(t, 100)
	settle(t, p, in, out)
	cfg, err := pipelinetest.Parse(t, tailConfig([]string{path}, `message_type = "reloaded"`))
	if err != nil {
		t.Fatal(err)
	}
	write(t, path, numbered("l", 100, 150)) // while the input is replaced
	if err := p.Reload(cfg); err != nil {
		t.Fatal(err)
	}
	write(t, path, numbered("l", 150, 200))
	in2 := pipelinetest.Plugin(t, p, "in").(*Input)
	if in2 == in {
		t.Fatal("the input was not replaced")
	}
	out.Wait(t, 200)
	settle(t, p, in2, out)
	msgs := out.Messages()
	equal(t, "payloads", payloads(msgs), lines(numbered("l", 0, 200)))
	if msgs[199].Type != "reloaded" {
		t.Fatalf("type %q after the reload", msgs[199].Type)
	}
}

func TestOwnCheckpointsNotTailed(t *testing.T) {
	dir := t.TempDir()
	p, in, out := tail(t, withDataDir(join(dir, "data"), tailConfig([]string{join(dir, "**")}, "")))
	write(t, join(dir, "a.log"), "a 1\n")
	out.Wait(t, 1)
	settle(t, p, in, out)
	write(t, join(dir, "a.log"), "a 2\n")
	out.Wait(t, 2)
	settle(t, p, in, out)
	if _, err := os.Stat(join(dir, "data", "in", checkpointName)); err != nil {
		t.Fatal(err)
	}
	equal(t, "payloads", payloads(out.Messages()), []string{"a 1", "a 2"})
}
