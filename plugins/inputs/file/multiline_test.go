package filein

import (
	"context"
	"strings"
	"testing"
	"time"
)

const (
	javaTrace = `2024-01-02 10:00:00 ERROR request failed
java.lang.IllegalStateException: bad state
	at com.example.Foo.bar(Foo.java:10)
	at com.example.Main.main(Main.java:5)
Caused by: java.io.IOException: disk full

	... 2 more`
	pyTrace = `2024-01-02 10:00:02 ERROR job failed
Traceback (most recent call last):
  File "app.py", line 3, in <module>
    main()
ValueError: nope`
	plainRecord = `2024-01-02 10:00:01 INFO next request`
)

func TestMultiline(t *testing.T) {
	dir := t.TempDir()
	path := join(dir, "app.log")
	p, in, out := tail(t, tailConfig([]string{path}, `multiline_start = '^\d{4}-\d{2}-\d{2} '
multiline_timeout = "100ms"`))
	// Before the first start line: a record of its own.
	write(t, path, "\n\torphan continuation\n"+javaTrace+"\n"+plainRecord+"\n")
	write(t, path, strings.ReplaceAll(pyTrace, "\n", "\r\n")+"\r\n")
	out.Wait(t, 4)
	settle(t, p, in, out)
	equal(t, "records", payloads(out.Messages()), []string{"\torphan continuation", javaTrace, plainRecord, pyTrace})
}

// TestMultilineTimeout drives passes with a chosen clock: the last record is
// delivered after multiline_timeout without new data, an unfinished last
// line with it; data arriving restarts the wait.
func TestMultilineTimeout(t *testing.T) {
	dir := t.TempDir()
	path := join(dir, "app.log")
	write(t, path, "")
	in := New()
	in.Paths = []string{path}
	in.MultilineStart = `^\d{4}-\d{2}-\d{2} `
	in.MultilineTimeout = time.Second
	st := startDirect(t, in, "")
	c := &collector{}
	now := time.Now()
	pass := func(d time.Duration, want ...string) {
		t.Helper()
		if _, err := st.pass(context.Background(), c, now.Add(d)); err != nil {
			t.Fatal(err)
		}
		equal(t, "after "+d.String(), payloads(c.msgs), want)
	}
	write(t, path, javaTrace+"\n"+pyTrace[:40])
	pass(0, javaTrace) // flushed by the next start line
	pass(900*time.Millisecond, javaTrace)
	write(t, path, pyTrace[40:]+"\n")
	pass(950*time.Millisecond, javaTrace)
	pass(1900*time.Millisecond, javaTrace)
	pass(1950*time.Millisecond, javaTrace, pyTrace)
	write(t, path, plainRecord+"\nunfinished")
	pass(2*time.Second, javaTrace, pyTrace)
	pass(3*time.Second, javaTrace, pyTrace, plainRecord+"\nunfinished")
	write(t, path, " line\n")
	pass(3*time.Second, javaTrace, pyTrace, plainRecord+"\nunfinished")
	pass(4*time.Second, javaTrace, pyTrace, plainRecord+"\nunfinished", " line")
	for _, f := range st.files {
		if f.committed != f.offset {
			t.Fatalf("committed %d, read %d", f.committed, f.offset)
		}
	}
}

// TestMultilineRestart: a record not yet delivered at a stop is read again,
// whole, by the next run; the one delivered before is not.
func TestMultilineRestart(t *testing.T) {
	data, dir := t.TempDir(), t.TempDir()
	path := join(dir, "app.log")
	write(t, path, "")
	cfg := withDataDir(data, tailConfig([]string{path}, `multiline_start = '^\d{4}-\d{2}-\d{2} '
multiline_timeout = "1h"`))
	p1, in1, out1 := tail(t, cfg)
	write(t, path, javaTrace+"\n"+pyTrace[:60])
	out1.Wait(t, 1)
	settle(t, p1, in1, out1)
	shutdown(t, p1)
	equal(t, "first run", payloads(out1.Messages()), []string{javaTrace})
	write(t, path, pyTrace[60:]+"\n"+plainRecord+"\n")
	p2, in2, out2 := tail(t, cfg)
	out2.Wait(t, 1)
	settle(t, p2, in2, out2)
	equal(t, "second run", payloads(out2.Messages()), []string{pyTrace})
}
