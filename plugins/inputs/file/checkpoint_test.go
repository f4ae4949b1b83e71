package filein

import (
	"context"
	"encoding/json"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/metlog/metlog/pipeline"
	"github.com/metlog/metlog/pipeline/pipelinetest"
)

func shutdown(t *testing.T, p *pipeline.Pipeline) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := p.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
}

func readCheckpoint(t *testing.T, dataDir string) checkpointFile {
	t.Helper()
	var cf checkpointFile
	b, err := os.ReadFile(join(dataDir, "in", checkpointName))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &cf); err != nil {
		t.Fatal(err)
	}
	return cf
}

// TestRestartContinues stops a pipeline in the middle of a file (a slow,
// blocking output holds the input back), appends lines, and starts another
// on the same data directory: it continues exactly where the first
// stopped.
func TestRestartContinues(t *testing.T) {
	data, dir := t.TempDir(), t.TempDir()
	path := join(dir, "a.log")
	const total = 20000
	write(t, path, numbered("l", 0, total))
	paths := []string{path}
	slow := withDataDir(data, tailConfigOut(paths, `start_at = "beginning"`, "queue_size = 10\nbatch_size = 10\ndelay = \"2ms\""))
	p1, _, out1 := tail(t, slow)
	out1.Wait(t, 300)
	shutdown(t, p1)
	got := payloads(out1.Messages())
	if len(got) >= total {
		t.Fatalf("the first pipeline read the whole file (%d lines): the test stops nothing mid-file", len(got))
	}
	cf := readCheckpoint(t, data)
	if len(cf.Files) != 1 || cf.Files[0].Path != path || cf.Files[0].Offset != int64(len(got)*len("l 00000\n")) {
		t.Fatalf("checkpoint after %d lines: %+v", len(got), cf)
	}
	t.Logf("stopped after %d lines", len(got))

	write(t, path, numbered("l", total, total+100))
	p2, in2, out2 := tail(t, withDataDir(data, tailConfig(paths, `start_at = "end"`)))
	out2.Wait(t, total+100-len(got))
	settle(t, p2, in2, out2)
	equal(t, "both runs", append(got, payloads(out2.Messages())...), lines(numbered("l", 0, total+100)))
}

// TestRestartAfterCrash restores a checkpoint taken while the first
// pipeline ran, as a crash would leave it: the lines after it are read
// again (at least once), none is skipped.
func TestRestartAfterCrash(t *testing.T) {
	data, dir := t.TempDir(), t.TempDir()
	path := join(dir, "a.log")
	const total = 5000
	write(t, path, numbered("l", 0, total))
	paths := []string{path}
	p1, _, out1 := tail(t, withDataDir(data, tailConfigOut(paths, `start_at = "beginning"`, "queue_size = 10\nbatch_size = 10\ndelay = \"1ms\"")))
	ckpt := join(data, "in", checkpointName)
	var snapshot []byte
	pipelinetest.Eventually(t, func() bool {
		b, err := os.ReadFile(ckpt)
		if err == nil && !strings.Contains(string(b), `"offset": 0`) {
			snapshot = b
			return true
		}
		return false
	}, "a checkpoint past the start")
	var cf checkpointFile
	if err := json.Unmarshal(snapshot, &cf); err != nil {
		t.Fatal(err)
	}
	from := int(cf.Files[0].Offset) / len("l 00000\n")
	if from >= total {
		t.Fatal("the snapshot is at the end of the file: the test restores nothing")
	}
	t.Logf("the snapshot is after %d lines", from)
	out1.Wait(t, min(from+200, total)) // the snapshot is now well behind
	shutdown(t, p1)
	if err := os.WriteFile(ckpt, snapshot, 0o644); err != nil {
		t.Fatal(err)
	}

	p2, in2, out2 := tail(t, withDataDir(data, tailConfig(paths, "")))
	out2.Wait(t, total-from)
	settle(t, p2, in2, out2)
	equal(t, "second run", payloads(out2.Messages()), lines(numbered("l", from, total)))
}

// TestCheckpointNotApplied changes the file while metlogd is stopped: a
// checkpoint is applied only to the file it was written for.
func TestCheckpointNotApplied(t *testing.T) {
	for _, tc := range []struct {
		name    string
		stopped func(t *testing.T, path string) // while no pipeline runs
		running func(t *testing.T, path string) // once the second one runs
		want    string
	}{
		{
			name: "deleted, created again later",
			stopped: func(t *testing.T, path string) {
				if err := os.Remove(path); err != nil {
					t.Fatal(err)
				}
			},
			running: func(t *testing.T, path string) { write(t, path, numbered("new", 0, 300)) },
			want:    numbered("new", 0, 300),
		},
		{
			name: "replaced by another file of that name",
			stopped: func(t *testing.T, path string) {
				if err := os.Remove(path); err != nil {
					t.Fatal(err)
				}
				write(t, path, numbered("new", 0, 300)) // longer than the old offset
			},
			want: numbered("new", 0, 300),
		},
		{
			name: "rewritten in place (same inode)",
			stopped: func(t *testing.T, path string) {
				if err := os.WriteFile(path, []byte(numbered("new", 0, 300)), 0o644); err != nil {
					t.Fatal(err)
				}
			},
			want: numbered("new", 0, 300),
		},
		{
			name: "truncated",
			stopped: func(t *testing.T, path string) {
				if err := os.Truncate(path, 0); err != nil {
					t.Fatal(err)
				}
				write(t, path, numbered("new", 0, 3))
			},
			want: numbered("new", 0, 3),
		},
		{
			name: "rotated: the rest of the old file, then the new one",
			stopped: func(t *testing.T, path string) {
				write(t, path, numbered("old", 100, 120))
				rename(t, path, path+".1")
				write(t, path, numbered("new", 0, 10))
			},
			want: numbered("old", 100, 120) + numbered("new", 0, 10),
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			data, dir := t.TempDir(), t.TempDir()
			path := join(dir, "app.log")
			write(t, path, numbered("old", 0, 100))
			paths := []string{join(dir, "*.log")}
			p1, _, out1 := tail(t, withDataDir(data, tailConfig(paths, `start_at = "beginning"`)))
			out1.Wait(t, 100)
			shutdown(t, p1)
			tc.stopped(t, path)
			// start_at = "end" does not apply: these files are not found on a first start.
			p2, in2, out2 := tail(t, withDataDir(data, tailConfig(paths, `start_at = "end"`)))
			if tc.running != nil {
				tc.running(t, path)
			}
			want := lines(tc.want)
			out2.Wait(t, len(want))
			settle(t, p2, in2, out2)
			equal(t, "second run", payloads(out2.Messages()), want)
			settle(t, p2, in2, out2)
			shutdown(t, p2)
			for _, e := range readCheckpoint(t, data).Files {
				if _, err := os.Stat(e.Path); err != nil {
					t.Errorf("the checkpoint names a file that is gone: %+v", e)
				}
			}
		})
	}
}

// TestStartAtWithNewPatterns: start_at applies to files that no pattern of
// the previous run matched, even when a checkpoint file exists.
func TestStartAtWithNewPatterns(t *testing.T) {
	data, dir := t.TempDir(), t.TempDir()
	write(t, join(dir, "a.log"), "a 1\n")
	p1, _, out1 := tail(t, withDataDir(data, tailConfig([]string{join(dir, "*.log")}, `start_at = "beginning"`)))
	out1.Wait(t, 1)
	shutdown(t, p1)
	write(t, join(dir, "b.log"), "b 1\n") // appeared while stopped: read from its start
	write(t, join(dir, "c.txt"), "c 1\n") // an existing file a new pattern finds: from its end
	write(t, join(dir, "a.log"), "a 2\n") // resumed
	p2, in2, out2 := tail(t, withDataDir(data, tailConfig([]string{join(dir, "*.log"), join(dir, "*.txt")}, `start_at = "end"`)))
	write(t, join(dir, "c.txt"), "c 2\n")
	out2.Wait(t, 3)
	settle(t, p2, in2, out2)
	equal(t, "second run", payloads(out2.Messages()), []string{"a 2", "b 1", "c 2"})
}

func TestCorruptCheckpoint(t *testing.T) {
	data, dir := t.TempDir(), t.TempDir()
	path := join(dir, "a.log")
	write(t, path, "old\n")
	if err := os.MkdirAll(join(data, "in"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(join(data, "in", checkpointName), []byte(`{"version": 1, "files": [`), 0o644); err != nil {
		t.Fatal(err)
	}
	p, in, out := tail(t, withDataDir(data, tailConfig([]string{path}, "")))
	write(t, path, "new\n")
	out.Wait(t, 1)
	settle(t, p, in, out)
	equal(t, "as on a first start", payloads(out.Messages()), []string{"new"})
	if _, err := os.Stat(join(data, "in", checkpointName+".bad")); err != nil {
		t.Fatal("the bad checkpoint was not set aside:", err)
	}
	if p.Metrics("in").Errors.Load() != 1 {
		t.Fatal("not counted")
	}
}

func TestParseCheckpoint(t *testing.T) {
	for _, tc := range []struct {
		in      string
		entries int
		bad     int
		err     bool
	}{
		{`{"version":1,"patterns":["/a/*"],"files":[{"path":"/a/b","dev":1,"inode":2,"fingerprint_bytes":3,"fingerprint":"ff","offset":4}]}`, 1, 0, false},
		{`{"version":2}`, 0, 0, true},
		{`[`, 0, 0, true},
		{`{"version":1,"files":[{"path":"","fingerprint":"0"}]}`, 0, 1, false},
		{`{"version":1,"files":[{"path":"/x","fingerprint":"zz"}]}`, 0, 1, false},
		{`{"version":1,"files":[{"path":"/x","fingerprint":"0","fingerprint_bytes":5000}]}`, 0, 1, false},
		{`{"version":1,"files":[{"path":"/x","fingerprint":"0","offset":-1}]}`, 0, 1, false},
	} {
		_, entries, bad, err := parseCheckpoint([]byte(tc.in))
		if len(entries) != tc.entries || len(bad) != tc.bad || (err != nil) != tc.err {
			t.Errorf("%s: %d entries, bad %q, err %v", tc.in, len(entries), bad, err)
		}
	}
}

// TestLifecycle: Stop is idempotent and safe without Start; Stop ends Run
// without the pipeline's context; nothing is left running.
func TestLifecycle(t *testing.T) {
	goroutines := runtime.NumGoroutine()
	if err := New().Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := New().Run(context.Background(), &collector{}); err == nil {
		t.Fatal("Run without Start")
	}
	dir := t.TempDir()
	path := join(dir, "a.log")
	write(t, path, "x\n")
	in := New()
	in.Paths = []string{path}
	in.PollInterval = time.Millisecond
	startDirect(t, in, "")
	done := make(chan error, 1)
	go func() { done <- in.Run(context.Background(), &collector{}) }()
	pipelinetest.Eventually(t, func() bool { return in.passes.Load() > 2 }, "passes")
	for range 2 {
		if err := in.Stop(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return after Stop")
	}
	if n := in.nopen.Load(); n != 0 {
		t.Fatalf("%d files open after Stop", n)
	}
	if err := in.Run(context.Background(), &collector{}); err == nil {
		t.Fatal("Run after Stop")
	}
	pipelinetest.Eventually(t, func() bool { return runtime.NumGoroutine() <= goroutines }, "goroutines to end")
}
