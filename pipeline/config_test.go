package pipeline_test

import (
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/metlog/metlog/pipeline"
)

var update = flag.Bool("update", false, "rewrite the expected errors of testdata/config/*.bad.toml")

// Each testdata/config/NAME.bad.toml must fail to load with exactly the
// errors in NAME.err: file, line, section, key and a plain sentence.
func TestConfigErrorsGolden(t *testing.T) {
	files, err := filepath.Glob("testdata/config/*.bad.toml")
	if err != nil || len(files) == 0 {
		t.Fatal("no bad configurations", err)
	}
	for _, file := range files {
		t.Run(strings.TrimSuffix(filepath.Base(file), ".bad.toml"), func(t *testing.T) {
			_, err := pipeline.LoadConfig(file)
			if err == nil {
				t.Fatal("loaded without error")
			}
			got := err.Error() + "\n"
			golden := strings.TrimSuffix(file, ".bad.toml") + ".err"
			if *update {
				if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test ./pipeline -run ConfigErrorsGolden -update)", err)
			}
			if got != string(want) {
				t.Fatalf("errors differ from %s\n got:\n%s\nwant:\n%s", golden, got, want)
			}
		})
	}
}

func TestConfigDefaultsAndValues(t *testing.T) {
	t.Setenv("METLOG_TEST_NAME", "from-env")
	c, err := pipeline.ParseConfig([]string{"a.toml"}, []string{`
[metlogd]
max_message_size = "128KiB"
shutdown_timeout = "3s"

[out]
type = "picky_output"
message_matcher = "TRUE"
name = "${METLOG_TEST_NAME} costs $$5"
`})
	if err != nil {
		t.Fatal(err)
	}
	g := c.Global
	if g.MaxMessageSize != 128<<10 || g.ShutdownTimeout != 3*time.Second || g.QueueSize != 10000 || g.HTTPListen != "127.0.0.1:4352" || g.MaxLoops != 4 {
		t.Fatalf("global %+v", g)
	}
	s := c.Sections[0]
	if s.Name != "out" || s.Type != "picky_output" || s.Kind != pipeline.KindOutput || s.Line != 6 || s.File != "a.toml" {
		t.Fatalf("section %+v", s)
	}
	if o := s.Plugin.(*pickyOutput); o.Level != 3 || o.Name != "from-env costs $5" {
		t.Fatalf("plugin %+v: the default level and the environment must apply", o)
	}
}

// A directory's *.toml files merge in name order; a section defined twice
// is an error that names both places.
func TestConfigDirectory(t *testing.T) {
	dir := t.TempDir()
	write := func(name, text string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("20-out.toml", "[out]\ntype = \"picky_output\"\nmessage_matcher = \"TRUE\"\n")
	write("10-in.toml", "[metlogd]\nmax_loops = 2\n\n[in]\ntype = \"test_input\"\n")
	write("ignored.txt", "not toml")
	c, err := pipeline.LoadConfig(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Sections) != 2 || c.Sections[0].Name != "in" || c.Sections[1].Name != "out" || c.Global.MaxLoops != 2 {
		t.Fatalf("merged %d sections, max_loops %d", len(c.Sections), c.Global.MaxLoops)
	}
	write("30-again.toml", "\n[in]\ntype = \"test_input\"\n")
	_, err = pipeline.LoadConfig(dir)
	want := filepath.Join(dir, "30-again.toml") + ":2: [in] a section of this name is already in " + filepath.Join(dir, "10-in.toml") + ":4"
	if err == nil || err.Error() != want {
		t.Fatalf("got %v\nwant %s", err, want)
	}
	if _, err := pipeline.LoadConfig(t.TempDir()); err == nil || !strings.Contains(err.Error(), "holds no *.toml files") {
		t.Fatalf("empty directory: %v", err)
	}
	if _, err := pipeline.LoadConfig(filepath.Join(dir, "missing.toml")); err == nil || !strings.Contains(err.Error(), "cannot read the configuration") {
		t.Fatalf("missing file: %v", err)
	}
}

func TestByteSize(t *testing.T) {
	for in, want := range map[string]pipeline.ByteSize{"512": 512, "64KiB": 64 << 10, "10MB": 10e6, "1.5GiB": 3 << 29, "2 kb": 2000, "7B": 7} {
		if got, err := pipeline.ParseByteSize(in); err != nil || got != want {
			t.Errorf("ParseByteSize(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	// A size survives JSON, as a section does when a reload falls back.
	var back pipeline.ByteSize
	if b, err := json.Marshal(pipeline.ByteSize(64 << 10)); err != nil || json.Unmarshal(b, &back) != nil || back != 64<<10 {
		t.Fatalf("ByteSize through JSON: %s, %d, %v", b, back, err)
	}
	for _, bad := range []string{"", "ten", "5 parsecs", "-1", "1e30GB"} {
		if _, err := pipeline.ParseByteSize(bad); err == nil {
			t.Errorf("ParseByteSize(%q) accepted", bad)
		}
	}
}

func TestCheckDir(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "f")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		dir, want string
	}{
		{dir, ""},
		{filepath.Join(dir, "new", "deeper"), ""},
		{file, "is not a directory"},
		{filepath.Join(file, "sub", "x"), "is a file, so"},
	} {
		err := pipeline.CheckDir(tc.dir)
		if (err == nil) != (tc.want == "") || err != nil && !strings.Contains(err.Error(), tc.want) {
			t.Errorf("CheckDir(%s) = %v, want %q", tc.dir, err, tc.want)
		}
	}
}

func TestServices(t *testing.T) {
	s := pipeline.NewServicesForTest()
	withdraw, err := s.Publish("stats", 42)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Publish("stats", 43); err == nil {
		t.Fatal("a taken name was published again")
	}
	if v, ok := s.Lookup("stats"); !ok || v != 42 {
		t.Fatalf("Lookup = %v, %v", v, ok)
	}
	withdraw()
	withdraw()
	if _, ok := s.Lookup("stats"); ok {
		t.Fatal("still published after withdraw")
	}
}
