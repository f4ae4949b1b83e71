package fileout

import (
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestTemplate(t *testing.T) {
	tm := time.Date(2030, 2, 3, 4, 5, 6, 7, time.UTC)
	tests := []struct {
		in, path, ext, rotated string
		verbs                  bool
	}{
		{"messages.jsonl", "messages.jsonl", ".jsonl", "messages.20300203T040506.000Z.jsonl", false},
		{"logs/m-%Y-%m-%d.jsonl", "logs/m-2030-02-03.jsonl", ".jsonl", "logs/m-2030-02-03.20300203T040506.000Z.jsonl", true},
		{"%Y/%j/%H%M%S", "2030/034/040506", "", "2030/034/040506.20300203T040506.000Z", true},
		{"100%%-%d.log", "100%-03.log", ".log", "100%-03.20300203T040506.000Z.log", true},
		{"dir.d/app", "dir.d/app", "", "dir.d/app.20300203T040506.000Z", false},
		{"dir/.hidden", "dir/.hidden", "", "dir/.hidden.20300203T040506.000Z", false},
		{".hidden", ".hidden", "", ".hidden.20300203T040506.000Z", false},
		{"x.%Y", "x.2030", "", "x.2030.20300203T040506.000Z", true},
		{"x.%Y.log", "x.2030.log", ".log", "x.2030.20300203T040506.000Z.log", true},
		{"%Y.log", "2030.log", ".log", "2030.20300203T040506.000Z.log", true},
		{"a[1]*?.log", "a[1]*?.log", ".log", "a[1]*?.20300203T040506.000Z.log", false},
	}
	for _, tt := range tests {
		tmpl, err := parseTemplate(tt.in)
		if err != nil {
			t.Fatalf("%q: %v", tt.in, err)
		}
		path := string(tmpl.appendPath(nil, tm))
		rotated := string(tmpl.rotatedName(nil, path, tm))
		if path != tt.path || tmpl.ext != tt.ext || rotated != tt.rotated || tmpl.hasVerbs != tt.verbs {
			t.Errorf("%q: path %q ext %q rotated %q verbs %v; want %q %q %q %v", tt.in, path, tmpl.ext, rotated, tmpl.hasVerbs, tt.path, tt.ext, tt.rotated, tt.verbs)
		}
		checkGlobs(t, tmpl, path, rotated)
		// A glob must not match the other kind of name.
		if ok, _ := filepath.Match(tmpl.rotatedGlob(), path); ok {
			t.Errorf("%q: rotated glob %q matches the current path", tt.in, tmpl.rotatedGlob())
		}
	}
	for _, bad := range []string{"", "x%", "x%y", "%Q", "a/", "a\x00b"} {
		if _, err := parseTemplate(bad); err == nil {
			t.Errorf("%q parses", bad)
		}
	}
}

func TestExpandAllocs(t *testing.T) {
	tmpl, _ := parseTemplate("logs/%Y/%m/m-%Y-%m-%dT%H%M%S-%j.jsonl")
	buf := make([]byte, 0, 128)
	tm := time.Now()
	cur := string(tmpl.appendPath(nil, tm))
	same := 0
	if n := testing.AllocsPerRun(100, func() {
		buf = tmpl.appendPath(buf[:0], tm)
		if string(buf) == cur {
			same++
		}
	}); n != 0 {
		t.Errorf("%v allocations per expansion", n)
	}
	if same == 0 {
		t.Error("the expansion changed")
	}
}

// checkGlobs checks that the template's globs match its expansion and
// rotated name.
func checkGlobs(t *testing.T, tmpl *template, path, rotated string) {
	t.Helper()
	if ok, err := filepath.Match(tmpl.glob(), path); !ok || err != nil {
		t.Errorf("glob %q does not match %q (%v)", tmpl.glob(), path, err)
	}
	if ok, err := filepath.Match(tmpl.rotatedGlob(), rotated); !ok || err != nil {
		t.Errorf("rotated glob %q does not match %q (%v)", tmpl.rotatedGlob(), rotated, err)
	}
}

func FuzzTemplate(f *testing.F) {
	for _, s := range []string{"messages.jsonl", "logs/m-%Y-%m-%d.jsonl", "%Y/%j/%H%M%S", "100%%.log", "a[1]*?\\.log", "x.%Y", "%", "%%%"} {
		f.Add(s, int64(1893456000))
	}
	f.Fuzz(func(t *testing.T, s string, sec int64) {
		tmpl, err := parseTemplate(s)
		if err != nil {
			return
		}
		tm := time.Unix(sec%(1<<33), 0).UTC() // years 1697..2242
		path := string(tmpl.appendPath(nil, tm))
		if !tmpl.hasVerbs && path != strings.ReplaceAll(s, "%%", "%") {
			t.Fatalf("%q expands to %q", s, path)
		}
		if !strings.HasSuffix(path, tmpl.ext) {
			t.Fatalf("%q: %q does not end in its extension %q", s, path, tmpl.ext)
		}
		rotated := string(tmpl.rotatedName(nil, path, tm))
		if strings.Contains(path, "\\") {
			return // filepath.Match reads a backslash in the name as an escape
		}
		checkGlobs(t, tmpl, path, rotated)
	})
}
