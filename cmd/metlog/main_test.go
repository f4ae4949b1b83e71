package main

import (
	"bytes"
	"encoding/hex"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/metlog/metlog/message"
)

// result is what one run of the command did.
type result struct {
	code           int
	stdout, stderr string
}

// runCmd runs metlog with args and stdin, as main would, in-process.
func runCmd(t testing.TB, stdin string, args ...string) result {
	t.Helper()
	var out, errb bytes.Buffer
	e := &env{ctx: t.Context(), stdin: strings.NewReader(stdin), stdout: &out, stderr: &errb,
		getenv: func(string) string { return "" }}
	code := run(e, args)
	return result{code, out.String(), errb.String()}
}

func TestRunUsage(t *testing.T) {
	for _, tc := range []struct {
		name   string
		args   []string
		code   int
		stdout string // substring expected on stdout
		stderr string // substring expected on stderr
	}{
		{"no arguments", nil, exitUsage, "", "Commands:"},
		{"help", []string{"help"}, exitOK, "Commands:", ""},
		{"-h", []string{"-h"}, exitOK, "Commands:", ""},
		{"help of a command", []string{"help", "match"}, exitOK, "metlog match [flags] EXPR", ""},
		{"help of nothing", []string{"help", "nope"}, exitUsage, "", `there is no command "nope"`},
		{"unknown command", []string{"snd"}, exitUsage, "", `(did you mean "send"?)`},
		{"version", []string{"version"}, exitOK, "metlog ", ""},
		{"-h of a command", []string{"bench", "-h"}, exitOK, "-count-file", ""},
		{"unknown flag", []string{"cat", "-nope"}, exitUsage, "", "metlog cat: there is no flag -nope"},
		{"flag without value", []string{"tail", "-match"}, exitUsage, "", "flag -match needs a value"},
		{"bad flag value", []string{"bench", "-conns", "many"}, exitUsage, "", "invalid value"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := runCmd(t, "", tc.args...)
			if r.code != tc.code || !strings.Contains(r.stdout, tc.stdout) || !strings.Contains(r.stderr, tc.stderr) {
				t.Fatalf("exit %d, want %d\nstdout: %s\nstderr: %s", r.code, tc.code, r.stdout, r.stderr)
			}
		})
	}
}

// TestEveryCommandHelp checks that each command's help names it and lists
// its flags.
func TestEveryCommandHelp(t *testing.T) {
	for _, c := range commands() {
		var b bytes.Buffer
		c.usage(&b)
		if !strings.Contains(b.String(), "metlog "+c.name) {
			t.Errorf("help of %s does not show its synopsis:\n%s", c.name, b.String())
		}
	}
}

func TestParseArgs(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		pos  []string
		n    int
		b    bool
		s    string
		err  bool
	}{
		{"flags first", []string{"-n", "3", "-b", "a", "b"}, []string{"a", "b"}, 3, true, "", false},
		{"flags last", []string{"a", "-n", "3", "b", "-b"}, []string{"a", "b"}, 3, true, "", false},
		{"negative numbers are arguments", []string{"gauge", "-5", "-.5", "-n", "-2"}, []string{"gauge", "-5", "-.5"}, -2, false, "", false},
		{"flag value starting with a dash", []string{"-s", "-x", "a"}, []string{"a"}, 0, false, "-x", false},
		{"equals form", []string{"-s=v", "--n=4", "a"}, []string{"a"}, 4, false, "v", false},
		{"double dash ends flags", []string{"a", "--", "-b", "-n"}, []string{"a", "-b", "-n"}, 0, false, "", false},
		{"bool with value", []string{"-b=false", "x"}, []string{"x"}, 0, false, "", false},
		{"lone dash is an argument", []string{"-"}, []string{"-"}, 0, false, "", false},
		{"unknown flag", []string{"-zz", "a"}, nil, 0, false, "", true},
		{"missing value", []string{"a", "-n"}, nil, 0, false, "", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fs := flag.NewFlagSet("t", flag.ContinueOnError)
			n := fs.Int("n", 0, "")
			b := fs.Bool("b", false, "")
			s := fs.String("s", "", "")
			pos, err := parseArgs(fs, tc.args)
			if (err != nil) != tc.err {
				t.Fatalf("err = %v", err)
			}
			if tc.err {
				return
			}
			if !reflect.DeepEqual(pos, tc.pos) || *n != tc.n || *b != tc.b || *s != tc.s {
				t.Fatalf("pos %q n %d b %v s %q; want %q %d %v %q", pos, *n, *b, *s, tc.pos, tc.n, tc.b, tc.s)
			}
		})
	}
}

// vectorKeys are the keys the signed test vectors were made with
// (message/framing_test.go).
var vectorKeys = []string{"acceptance:1:s3cr3t", "acceptance:2:k3y", "acc:3:pykey"}

// vectorFrames returns the frames of a message/testdata/*.hex file.
func vectorFrames(t testing.TB, name string) [][]byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "message", "testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	var out [][]byte
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		fr, err := hex.DecodeString(strings.TrimSpace(line))
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, fr)
	}
	return out
}

// vectorMessages decodes frames.
func vectorMessages(t testing.TB, frames [][]byte) []*message.Message {
	t.Helper()
	var out []*message.Message
	for _, fr := range frames {
		_, msg, _, err := message.ParseFrame(fr, 0)
		if err != nil {
			t.Fatal(err)
		}
		m := new(message.Message)
		if err := m.Unmarshal(msg); err != nil {
			t.Fatal(err)
		}
		out = append(out, m)
	}
	return out
}

// writeFile writes b to a new file of the test's temporary directory.
func writeFile(t testing.TB, name string, b []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// metlogpyJSONL is the path of the captured metlog-py datagrams.
var metlogpyJSONL = filepath.Join("..", "..", "message", "testdata", "metlogpy-udp.jsonl")
