package main

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/metlog/metlog/pipeline"
)

func runArgs(args ...string) (code int, stdout, stderr string) {
	var out, errb bytes.Buffer
	code = run(args, &out, &errb)
	return code, out.String(), errb.String()
}

func TestFlags(t *testing.T) {
	if code, out, _ := runArgs("-version"); code != 0 || !strings.HasPrefix(out, "metlogd ") {
		t.Fatalf("-version: %d %q", code, out)
	}
	// The embedded default configuration is the readable file in the
	// repository, byte for byte.
	file, err := os.ReadFile("default.toml")
	if err != nil {
		t.Fatal(err)
	}
	if code, out, _ := runArgs("-print-default-config"); code != 0 || out != string(file) {
		t.Fatalf("-print-default-config differs from default.toml (%d)", code)
	}
	code, out, _ := runArgs("-plugins")
	for _, typ := range []string{"udp_input", "tcp_input", "unix_input", "http_input", "file_input",
		"file_output", "stdout_output", "tcp_output", "udp_output", "encoders: json, metlog, payload, protobuf"} {
		if code != 0 || !strings.Contains(out, typ) {
			t.Errorf("-plugins lacks %q", typ)
		}
	}
	if code, _, errOut := runArgs("-nonsense"); code != 2 || !strings.Contains(errOut, "usage: metlogd") {
		t.Fatalf("bad flag: %d %q", code, errOut)
	}
	if code, _, errOut := runArgs("extra"); code != 2 || !strings.Contains(errOut, `unexpected argument "extra"`) {
		t.Fatalf("stray argument: %d %q", code, errOut)
	}
}

// The default configuration loads, and serves what DESIGN §2 says:
// framed and JSON input on UDP and TCP 5565, HTTP on 4352, every message
// to files under ./metlog-data.
func TestDefaultConfig(t *testing.T) {
	cfg, err := loadConfig("")
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Global.HTTPListen != "127.0.0.1:4352" || cfg.Global.DataDir != "./metlog-data" {
		t.Fatalf("global %+v", cfg.Global)
	}
	types := map[string]*pipeline.Section{}
	for _, s := range cfg.Sections {
		types[s.Type] = s
	}
	for _, typ := range []string{"udp_input", "tcp_input", "http_input", "file_output"} {
		if types[typ] == nil {
			t.Errorf("the default configuration has no %s", typ)
		}
	}
	for _, typ := range []string{"udp_input", "tcp_input"} {
		if w := where(types[typ].Plugin); !strings.Contains(w, "address=127.0.0.1:5565") {
			t.Errorf("%s listens on %q", typ, w)
		}
	}
	if w := where(types["file_output"].Plugin); !strings.Contains(w, "path=./metlog-data/") {
		t.Errorf("file_output writes to %q", w)
	}
}

func TestCheck(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.toml")
	os.WriteFile(good, []byte("[out]\ntype = \"stdout_output\"\nmessage_matcher = \"TRUE\"\n"), 0o644)
	if code, out, _ := runArgs("-check", good); code != 0 || !strings.Contains(out, "ok (0 inputs, 0 filters, 1 outputs)") {
		t.Fatalf("good: %d %q", code, out)
	}
	bad := filepath.Join(dir, "bad.toml")
	os.WriteFile(bad, []byte("[out]\ntype = \"stdout_output\"\nmessage_matcher = \"Type ==\"\ncolour = 1\n"), 0o644)
	code, _, errOut := runArgs("-check", bad)
	if code != 1 || !strings.Contains(errOut, bad+":3: [out] message_matcher: matcher: column 8") ||
		!strings.Contains(errOut, bad+":4: [out] colour: unknown key") || !strings.Contains(errOut, "2 problems") {
		t.Fatalf("bad: %d\n%s", code, errOut)
	}
}

var update = flag.Bool("update", false, "rewrite testdata/check/*.err")

// `metlogd -check` on each testdata/check/NAME.bad.toml prints exactly
// NAME.err: every problem of every real plugin's section, located.
func TestCheckGolden(t *testing.T) {
	files, _ := filepath.Glob("testdata/check/*.bad.toml")
	if len(files) == 0 {
		t.Fatal("no cases")
	}
	for _, file := range files {
		t.Run(strings.TrimSuffix(filepath.Base(file), ".bad.toml"), func(t *testing.T) {
			code, _, got := runArgs("-check", file)
			if code != 1 {
				t.Fatalf("exit %d", code)
			}
			golden := strings.TrimSuffix(file, ".bad.toml") + ".err"
			if *update {
				os.WriteFile(golden, []byte(got), 0o644)
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatal(err)
			}
			if got != string(want) {
				t.Fatalf("got:\n%s\nwant:\n%s", got, want)
			}
		})
	}
}
