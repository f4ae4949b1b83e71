package main

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	_ "github.com/metlog/metlog/pipeline/pipelinetest" // capture_output
)

func TestCheck(t *testing.T) {
	const good = `
[metlogd]
data_dir = "/tmp/metlog-check-test"

[everything]
type = "capture_output"
message_matcher = "TRUE"

[timers]
type = "capture_output"
message_matcher = "Type == 'timer' && Fields[name] =~ /^db\\./"
`
	dir := t.TempDir()
	write := func(name, text string) string {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	goodFile := write("good.toml", good)
	write("conf.d/10-global.toml", "[metlogd]\nqueue_size = 100\n")
	write("conf.d/20-out.toml", "[out]\ntype = \"capture_output\"\nmessage_matcher = \"Severity <= 3\"\n")
	badMatcher := write("bad-matcher.toml", "[out]\ntype = \"capture_output\"\nmessage_matcher = \"Type == 'a' Type == 'b'\"\n")
	badMany := write("bad-many.toml", `
[metlogd]
log_level = "loud"

[a]
type = "capture_outptu"

[b]
type = "capture_output"
message_matcher = "TRUE"
dealy = "1s"

[c]
type = "capture_output"
`)
	badSyntax := write("bad-syntax.toml", "[out\ntype = 1\n")
	for _, tc := range []struct {
		name   string
		args   []string
		code   int
		stdout string
		stderr []string // each a regular expression that must match a line
	}{
		{"good file", []string{goodFile}, exitOK, goodFile + ": ok (0 inputs, 0 filters, 2 outputs)\n", nil},
		{"directory", []string{filepath.Join(dir, "conf.d")}, exitOK, filepath.Join(dir, "conf.d") + ": ok (0 inputs, 0 filters, 1 outputs)\n", nil},
		{"quiet", []string{"-q", goodFile}, exitOK, "", nil},
		{"bad matcher", []string{badMatcher}, exitFail, "", []string{
			`^` + regexp.QuoteMeta(badMatcher) + `:3: \[out\] message_matcher: matcher: column 13: .+`,
			`^` + regexp.QuoteMeta(badMatcher) + `: 1 problem$`,
		}},
		{"every problem", []string{badMany}, exitFail, "", []string{
			`\[metlogd\] log_level: "loud" is not debug, info, warn or error`,
			`:6: \[a\] type: there is no plugin of type "capture_outptu" \(did you mean "capture_output"\?\)`,
			`:11: \[b\] dealy: unknown key \(did you mean "delay"\?\)`,
			`:13: \[c\] the output has no message_matcher`,
			`: 4 problems$`,
		}},
		{"TOML syntax", []string{badSyntax}, exitFail, "", []string{`bad-syntax.toml:\d+: TOML syntax error: expected`}},
		{"missing", []string{filepath.Join(dir, "nope.toml")}, exitFail, "", []string{`nope.toml: cannot read the configuration: .*no such file`}},
		{"good and bad", []string{goodFile, badMatcher}, exitFail, goodFile + ": ok (0 inputs, 0 filters, 2 outputs)\n", []string{`column 13`}},
		{"no file", nil, exitUsage, "", []string{`name the configuration file or directory`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := runCmd(t, "", append([]string{"check"}, tc.args...)...)
			if r.code != tc.code || r.stdout != tc.stdout {
				t.Fatalf("exit %d, want %d\nstdout: %q\nwant:   %q\nstderr: %s", r.code, tc.code, r.stdout, tc.stdout, r.stderr)
			}
			lines := strings.Split(r.stderr, "\n")
			for _, re := range tc.stderr {
				found := false
				for _, l := range lines {
					if regexp.MustCompile(re).MatchString(l) {
						found = true
					}
				}
				if !found {
					t.Errorf("no stderr line matches %s; stderr:\n%s", re, r.stderr)
				}
			}
			if tc.stderr == nil && r.stderr != "" {
				t.Errorf("stderr: %s", r.stderr)
			}
		})
	}
}
