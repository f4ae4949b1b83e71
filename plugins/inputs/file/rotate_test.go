package filein

import (
	"context"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/metlog/metlog/pipeline/pipelinetest"
)

// TestRotateRenameCreate rotates as logrotate's default (create) mode does,
// and as deletion does, while the application keeps writing to its old
// descriptor for a while: every line arrives exactly once.
func TestRotateRenameCreate(t *testing.T) {
	for _, tc := range []struct {
		name     string
		patterns func(dir string) []string
		rotate   func(t *testing.T, path string)
		wantOpen int32 // files open once the old one is finished
	}{
		{
			name:     "renamed out of the pattern",
			patterns: func(dir string) []string { return []string{join(dir, "app.log")} },
			rotate:   func(t *testing.T, path string) { rename(t, path, path+".1") },
			wantOpen: 1,
		},
		{
			name:     "renamed within the pattern",
			patterns: func(dir string) []string { return []string{join(dir, "app.log*")} },
			rotate:   func(t *testing.T, path string) { rename(t, path, path+".1") },
			wantOpen: 2,
		},
		{
			name:     "deleted",
			patterns: func(dir string) []string { return []string{join(dir, "app.log")} },
			rotate: func(t *testing.T, path string) {
				if err := os.Remove(path); err != nil {
					t.Fatal(err)
				}
			},
			wantOpen: 1,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			path := join(dir, "app.log")
			write(t, path, "")
			p, in, out := tail(t, tailConfig(tc.patterns(dir), `rotate_wait = "200ms"`))
			app, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0) // the application's descriptor
			if err != nil {
				t.Fatal(err)
			}
			appWrite := func(s string) {
				if _, err := app.WriteString(s); err != nil {
					t.Fatal(err)
				}
			}
			appWrite(numbered("old", 0, 100))
			tc.rotate(t, path)
			appWrite(numbered("old", 100, 150)) // after the rename, before the new file exists
			write(t, path, numbered("new", 0, 50))
			waitPayload(t, out, "new 00049")    // the input has switched to the new file
			appWrite(numbered("old", 150, 200)) // the application has not reopened yet
			app.Close()
			write(t, path, numbered("new", 50, 100))

			out.Wait(t, 300)
			pipelinetest.Eventually(t, func() bool { return in.nopen.Load() == tc.wantOpen }, "the old file to be finished")
			settle(t, p, in, out)
			exactlyOnce(t, payloads(out.Messages()), lines(numbered("old", 0, 200)+numbered("new", 0, 100)))
		})
	}
}

// TestRotateUnreadData rotates files whose last lines were not read yet,
// several times in a row.
func TestRotateUnreadData(t *testing.T) {
	dir := t.TempDir()
	path := join(dir, "app.log")
	write(t, path, "")
	p, in, out := tail(t, tailConfig([]string{path}, `rotate_wait = "100ms"`))
	var want string
	for gen := 0; gen < 5; gen++ {
		prefix := "gen" + string(rune('a'+gen))
		// The input must see a file to read it: a file created and renamed
		// away between two scans is never found (by any poller).
		write(t, path, numbered(prefix, 0, 10))
		n := in.passes.Load()
		pipelinetest.Eventually(t, func() bool { return in.passes.Load() >= n+2 }, "a scan")
		// These are most likely unread when the file is renamed.
		write(t, path, numbered(prefix, 10, 200))
		want += numbered(prefix, 0, 200)
		rename(t, path, join(dir, "app.log."+string(rune('0'+gen))))
	}
	write(t, path, numbered("last", 0, 10))
	want += numbered("last", 0, 10)
	out.Wait(t, 1010)
	pipelinetest.Eventually(t, func() bool { return in.nopen.Load() == 1 }, "the rotated files to be finished")
	settle(t, p, in, out)
	exactlyOnce(t, payloads(out.Messages()), lines(want))
}

func TestCopyTruncate(t *testing.T) {
	for _, tc := range []struct {
		name  string
		after string // written after the truncation
	}{
		{"shorter than before", numbered("new", 0, 10)},
		{"longer than before", numbered("new", 0, 500)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			path := join(dir, "app.log")
			write(t, path, "")
			p, in, out := tail(t, tailConfig([]string{path}, ""))
			write(t, path, numbered("old", 0, 100))
			out.Wait(t, 100)
			copyFile(t, path, path+".1")
			if err := os.Truncate(path, 0); err != nil {
				t.Fatal(err)
			}
			write(t, path, tc.after)
			out.Wait(t, 100+len(lines(tc.after)))
			settle(t, p, in, out)
			equal(t, "payloads", payloads(out.Messages()), lines(numbered("old", 0, 100)+tc.after))
		})
	}
}

// TestTruncationDetected drives passes by hand, so that a file is
// truncated and rewritten between two of them: to a smaller size (the size
// tells), or to a larger one (only the fingerprint tells).
func TestTruncationDetected(t *testing.T) {
	for _, tc := range []struct {
		name  string
		after string
	}{
		{"smaller", numbered("new", 0, 10)},
		{"larger", numbered("new", 0, 300)},
		{"same size", numbered("new", 0, 100)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			path := join(dir, "app.log")
			write(t, path, "")
			in := New()
			in.Paths = []string{path}
			st := startDirect(t, in, "")
			c := &collector{}
			ctx := context.Background()
			now := time.Now()
			write(t, path, numbered("old", 0, 100))
			if _, err := st.pass(ctx, c, now); err != nil {
				t.Fatal(err)
			}
			equal(t, "before", payloads(c.msgs), lines(numbered("old", 0, 100)))
			if err := os.Truncate(path, 0); err != nil {
				t.Fatal(err)
			}
			write(t, path, tc.after)
			c.msgs = nil
			if _, err := st.pass(ctx, c, now); err != nil {
				t.Fatal(err)
			}
			equal(t, "after", payloads(c.msgs), lines(tc.after))
		})
	}
}

// TestRotateWait drives passes with a chosen clock: a deleted file stays
// open, and is read, until it has been quiet for rotate_wait.
func TestRotateWait(t *testing.T) {
	dir := t.TempDir()
	path := join(dir, "app.log")
	write(t, path, "")
	in := New()
	in.Paths = []string{path}
	in.RotateWait = 5 * time.Second
	st := startDirect(t, in, "")
	app, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer app.Close()
	c := &collector{}
	ctx := context.Background()
	now := time.Now()
	pass := func(d time.Duration) {
		t.Helper()
		if _, err := st.pass(ctx, c, now.Add(d)); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	pass(0) // noticed: rotated at 0
	app.WriteString("late 1\n")
	pass(4 * time.Second) // data at 4s
	app.WriteString("late 2\nunfinished")
	pass(8 * time.Second) // data at 8s: still open
	if in.nopen.Load() != 1 {
		t.Fatal("closed too early")
	}
	pass(12 * time.Second)
	if in.nopen.Load() != 1 {
		t.Fatal("closed before rotate_wait")
	}
	pass(13 * time.Second) // 5s quiet: finished, the unfinished line delivered
	if in.nopen.Load() != 0 {
		t.Fatal("not closed after rotate_wait")
	}
	equal(t, "payloads", payloads(c.msgs), []string{"late 1", "late 2", "unfinished"})
}

// waitPayload waits until a message with payload p has been delivered.
func waitPayload(t *testing.T, out *pipelinetest.Capture, p string) {
	t.Helper()
	pipelinetest.Eventually(t, func() bool {
		return slices.Contains(payloads(out.Messages()), p)
	}, "a message "+p)
}

func rename(t *testing.T, from, to string) {
	t.Helper()
	if err := os.Rename(from, to); err != nil {
		t.Fatal(err)
	}
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, b, 0o644); err != nil {
		t.Fatal(err)
	}
}
