package main

import (
	"bytes"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/metlog/metlog/message"
)

// testFiles are inputs built from the test vectors.
type testFiles struct {
	goFramed, pyFramed, pyJSONL, canonical, garbage, badJSON string
	goMsgs                                                   []*message.Message
}

func buildTestFiles(t *testing.T) testFiles {
	t.Helper()
	goFrames := vectorFrames(t, "heka-go-frames.hex")
	var f testFiles
	f.goMsgs = vectorMessages(t, goFrames)
	f.goFramed = writeFile(t, "go.frames", bytes.Join(goFrames, nil))
	f.pyFramed = writeFile(t, "py.frames", bytes.Join(vectorFrames(t, "heka-py-frames-hmac-sha1.hex"), nil))
	f.pyJSONL = metlogpyJSONL
	var canon []byte
	for _, m := range f.goMsgs {
		canon = append(message.AppendJSON(canon, m), '\n')
	}
	f.canonical = writeFile(t, "go.jsonl", canon)
	// Garbage before, between and after frames, and a frame cut short.
	var g []byte
	g = append(g, "junk"...)
	g = append(g, goFrames[2]...) // counter
	g = append(g, 0x1e, 0x05, 'x', 'y')
	g = append(g, goFrames[3]...) // timer
	g = append(g, goFrames[0][:20]...)
	f.garbage = writeFile(t, "garbage.frames", g)
	py, err := os.ReadFile(metlogpyJSONL)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(py)), "\n")
	f.badJSON = writeFile(t, "bad.jsonl", []byte(lines[0]+"\n{\"severity\": \"high\"}\n\n"+lines[1]+"\r\n"))
	return f
}

func TestMatch(t *testing.T) {
	f := buildTestFiles(t)
	goFramed, err := os.ReadFile(f.goFramed)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name   string
		stdin  string
		args   []string
		code   int
		stdout string // exact, when not empty
		stderr string // substring
	}{
		{"count framed", "", []string{"-count", "TRUE", f.goFramed}, exitOK, "9\n", ""},
		{"count signed framed", "", []string{"-count", "Type == 'counter'", f.pyFramed}, exitOK, "6\n", ""},
		{"count metlog JSON", "", []string{"-count", "Type == 'timer'", f.pyJSONL}, exitOK, "2\n", ""},
		{"count canonical JSON", "", []string{"-count", "Severity < 6", f.canonical}, exitOK, "2\n", ""},
		{"count several files", "", []string{"-count", "Type == 'counter'", f.goFramed, f.pyFramed, f.pyJSONL, f.canonical}, exitOK, "14\n", ""},
		{"stdin framed", string(goFramed), []string{"-count", "Logger == 'acceptance.alarm'"}, exitOK, "1\n", ""},
		{"stdin named -", string(goFramed), []string{"-count", "TRUE", "-"}, exitOK, "9\n", ""},
		{"field matcher", "", []string{"-count", "Fields[lang] == 'ja'", f.goFramed}, exitOK, "1\n", ""},
		{"nothing matches", "", []string{"Type == 'nope'", f.goFramed}, exitFail, "", ""},
		{"nothing matches, counted", "", []string{"-count", "Type == 'nope'", f.goFramed}, exitFail, "0\n", ""},
		{"garbage is skipped and reported", "", []string{"-count", "TRUE", f.garbage}, exitOK, "2\n",
			"metlog match: " + f.garbage + ": 28 bytes of garbage skipped (first: not a valid frame"},
		{"bad JSON lines", "", []string{"-count", "TRUE", f.badJSON}, exitOK, "2\n",
			"1 record could not be decoded (first: line 2: JSON: \"severity\" must be an integer 0..7"},
		{"forced JSON on frames", "", []string{"-format", "json", "TRUE", f.goFramed}, exitFail, "", "could not be decoded"},
		{"forced framing on JSON", "", []string{"-format", "framed", "TRUE", f.canonical}, exitFail, "", "bytes of garbage skipped"},
		{"pretty", "", []string{"-pretty", "Type == 'timer'", f.goFramed}, exitOK,
			"2026-11-25T00:23:36.725Z info    timer acceptance: 12 {name=db.query rate=1}\n", ""},
		{"bad expression", "", []string{"Severity <", f.goFramed}, exitUsage, "", "metlog match: the expression: column 11: "},
		{"missing expression", "", nil, exitUsage, "", "give the matcher expression"},
		{"missing file", "", []string{"TRUE", "/nonexistent"}, exitFail, "", "cannot read /nonexistent"},
		{"pretty and count", "", []string{"-pretty", "-count", "TRUE"}, exitUsage, "", "do not go together"},
		{"bad format", "", []string{"-format", "xml", "TRUE"}, exitUsage, "", `"xml" is not auto, framed or json`},
		{"too large", "", []string{"-max-size", "1KiB", "-count", "TRUE", f.goFramed}, exitOK, "8\n", "garbage skipped"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := runCmd(t, tc.stdin, append([]string{"match"}, tc.args...)...)
			if r.code != tc.code || (tc.stdout != "" || tc.code == exitFail) && r.stdout != tc.stdout || !strings.Contains(r.stderr, tc.stderr) {
				t.Fatalf("exit %d, want %d\nstdout: %q\nwant:   %q\nstderr: %s", r.code, tc.code, r.stdout, tc.stdout, r.stderr)
			}
			if tc.stderr == "" && r.stderr != "" {
				t.Fatalf("stderr: %s", r.stderr)
			}
		})
	}
}

// TestMatchRoundTrip checks that match prints every message as canonical
// JSON that decodes back to the message in the file, from frames and from
// canonical JSON lines alike.
func TestMatchRoundTrip(t *testing.T) {
	f := buildTestFiles(t)
	for _, file := range []string{f.goFramed, f.canonical} {
		r := runCmd(t, "", "match", "TRUE", file)
		lines := strings.Split(strings.TrimSuffix(r.stdout, "\n"), "\n")
		if r.code != exitOK || len(lines) != len(f.goMsgs) {
			t.Fatalf("%s: exit %d, %d lines: %s", file, r.code, len(lines), r.stderr)
		}
		for i, l := range lines {
			var m message.Message
			if err := message.DecodeJSON([]byte(l), &m); err != nil {
				t.Fatalf("line %d: %v", i+1, err)
			}
			if !m.Equal(f.goMsgs[i]) {
				t.Errorf("%s: message %d differs:\n got %+v\nwant %+v", file, i, &m, f.goMsgs[i])
			}
		}
	}
}

// TestMatchBadFrameHidingAFrame checks that a frame whose message does not
// decode is counted as bad, and a valid frame inside it still found.
func TestMatchBadFrameHidingAFrame(t *testing.T) {
	inner := vectorFrames(t, "heka-go-frames.hex")[2]
	bad := message.AppendFrameBytes(nil, append([]byte{0xff}, inner...), nil)
	file := writeFile(t, "hidden.frames", bad)
	r := runCmd(t, "", "match", "-count", "TRUE", file)
	if r.code != exitOK || r.stdout != "1\n" || !strings.Contains(r.stderr, "1 record could not be decoded") {
		t.Fatalf("exit %d: %q %s", r.code, r.stdout, r.stderr)
	}
}

func TestReadMessagesLongLines(t *testing.T) {
	long := `{"type":"t","payload":"` + strings.Repeat("x", 200) + `"}`
	in := "{\"type\":\"a\"}\n" + long + "\n{\"type\":\"b\"}"
	var types []string
	st := readMessages(strings.NewReader(in), formatAuto, 100, func(m *message.Message) { types = append(types, m.Type) })
	if strings.Join(types, ",") != "a,b" || st.bad != 1 || st.records != 2 || !strings.Contains(st.problems(), "line 2 is longer than 100 bytes") {
		t.Fatalf("types %v, stats %+v: %s", types, st, st.problems())
	}
	// Lines longer than the reader's buffer.
	huge := `{"type":"big","payload":"` + strings.Repeat("y", 200<<10) + `"}`
	types = nil
	st = readMessages(strings.NewReader(huge+"\n"+huge), formatAuto, 1<<20, func(m *message.Message) {
		types = append(types, m.Type+":"+strconv.Itoa(len(m.Payload)))
	})
	if len(types) != 2 || types[0] != "big:204800" || st.bad != 0 {
		t.Fatalf("types %v, stats %+v", types, st)
	}
}
