package stdout

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/metlog/metlog/message"
	"github.com/metlog/metlog/pipeline"
	"github.com/metlog/metlog/pipeline/pipelinetest"
	_ "github.com/metlog/metlog/plugins/codecs"
)

// lockedBuffer is a writer the test reads while the output writes.
type lockedBuffer struct {
	mu     sync.Mutex
	buf    bytes.Buffer
	writes int
	err    error // returned by Write while set
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.err != nil {
		return 0, b.err
	}
	b.writes++
	return b.buf.Write(p)
}

func (b *lockedBuffer) setErr(err error) {
	b.mu.Lock()
	b.err = err
	b.mu.Unlock()
}

func (b *lockedBuffer) bytes() []byte {
	b.mu.Lock()
	defer b.mu.Unlock()
	return bytes.Clone(b.buf.Bytes())
}

// start runs cfg with the stdout_output [out] writing to w.
func start(t *testing.T, cfg string, w io.Writer) *pipeline.Pipeline {
	t.Helper()
	c, err := pipelinetest.Parse(t, "[out]\ntype = \"stdout_output\"\nmessage_matcher = \"TRUE\"\nretry_min = \"5ms\"\nretry_max = \"20ms\"\n"+cfg)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range c.Sections {
		if o, ok := s.Plugin.(*Output); ok {
			o.w = w // before Start: the output's goroutine reads it
		}
	}
	p := pipeline.New(pipeline.Options{})
	if err := p.Start(c); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Shutdown(context.Background()) })
	return p
}

func messages(n int) []*message.Message {
	out := make([]*message.Message, n)
	for i := range out {
		m := &message.Message{
			UUID: [16]byte{byte(i), 1}, Timestamp: int64(i+1) * 1e9, Type: "oldstyle", Logger: "app",
			Severity: message.Warning, Payload: fmt.Sprintf("line %d", i), Pid: 7, Hostname: "h",
		}
		m.AddInt("n", int64(i))
		out[i] = m
	}
	return out
}

func deliver(t *testing.T, p *pipeline.Pipeline, msgs []*message.Message) {
	t.Helper()
	d := p.Deliverer("test")
	for _, m := range msgs {
		if err := d.Deliver(context.Background(), m); err != nil {
			t.Fatal(err)
		}
	}
}

func TestEncoders(t *testing.T) {
	for _, encoder := range []string{"json", "metlog", "protobuf", "payload"} {
		t.Run(encoder, func(t *testing.T) {
			var w lockedBuffer
			p := start(t, fmt.Sprintf("encoder = %q\n", encoder), &w)
			msgs := messages(50)
			deliver(t, p, msgs)
			m := p.Metrics("out")
			pipelinetest.Eventually(t, func() bool { return m.Out.Load() == 50 }, "written")
			enc, _ := pipeline.NewEncoder(encoder)
			var want []byte
			for _, m := range msgs {
				want, _ = enc.Append(want, m)
			}
			if got := w.bytes(); !bytes.Equal(got, want) {
				t.Fatalf("wrote\n%s\nwant\n%s", got, want)
			}
		})
	}
}

func TestDefaultJSON(t *testing.T) {
	var w lockedBuffer
	p := start(t, "", &w)
	msgs := messages(20)
	deliver(t, p, msgs)
	m := p.Metrics("out")
	pipelinetest.Eventually(t, func() bool { return m.Out.Load() == 20 }, "written")
	sc := bufio.NewScanner(bytes.NewReader(w.bytes()))
	i := 0
	for ; sc.Scan(); i++ {
		var got message.Message
		if err := message.DecodeJSON(sc.Bytes(), &got); err != nil {
			t.Fatal(err)
		}
		if !got.Equal(msgs[i]) {
			t.Fatalf("line %d is %+v, want %+v", i, got, *msgs[i])
		}
	}
	if i != 20 {
		t.Fatalf("%d lines", i)
	}
	// One write per batch, never one per message.
	w.mu.Lock()
	writes := w.writes
	w.mu.Unlock()
	if writes > 20 || writes < 1 {
		t.Errorf("%d writes", writes)
	}
}

func TestOneWritePerBatch(t *testing.T) {
	var w lockedBuffer
	o := New()
	o.w = &w
	enc, _ := pipeline.NewEncoder("json")
	if err := o.Start(context.Background(), &pipeline.Settings{Encoder: enc}); err != nil {
		t.Fatal(err)
	}
	if err := o.Deliver(context.Background(), messages(100)); err != nil {
		t.Fatal(err)
	}
	if w.writes != 1 || strings.Count(w.buf.String(), "\n") != 100 {
		t.Errorf("%d writes, %d lines", w.writes, strings.Count(w.buf.String(), "\n"))
	}
	w.buf.Reset()
	batch := messages(100)
	if n := testing.AllocsPerRun(10, func() {
		w.buf.Reset()
		if err := o.Deliver(context.Background(), batch); err != nil {
			t.Fatal(err)
		}
	}); n != 0 {
		t.Errorf("%v allocations per batch", n)
	}
}

func TestWriteErrors(t *testing.T) {
	tests := []struct {
		name      string
		err       error
		permanent bool
	}{
		{"full disk", syscall.ENOSPC, false},
		{"i/o error", syscall.EIO, false},
		{"reader gone", syscall.EPIPE, true},
		{"closed", os.ErrClosed, true},
		{"bad descriptor", syscall.EBADF, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var w lockedBuffer
			w.setErr(&os.PathError{Op: "write", Path: "/dev/stdout", Err: tt.err})
			p := start(t, "encoder = \"payload\"\n", &w)
			deliver(t, p, messages(3))
			m := p.Metrics("out")
			if tt.permanent {
				pipelinetest.Eventually(t, func() bool { return m.Dropped(pipeline.DropPermanent) == 3 }, "dropped as permanent")
				if n := m.Errors.Load(); n != 0 {
					t.Errorf("%d retries of a permanent error", n)
				}
				return
			}
			pipelinetest.Eventually(t, func() bool { return m.Errors.Load() >= 2 }, "retried")
			w.setErr(nil)
			pipelinetest.Eventually(t, func() bool { return m.Out.Load() == 3 }, "written once the error clears")
			if got := string(w.bytes()); got != "line 0\nline 1\nline 2\n" {
				t.Errorf("wrote %q", got)
			}
		})
	}
}

func TestClosedStdout(t *testing.T) {
	// A real pipe whose reader went away: EPIPE is permanent. (Writing to
	// it through a descriptor other than 1 or 2 does not raise SIGPIPE.)
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	r.Close()
	defer w.Close()
	o := New()
	o.w = w
	if err := o.Start(context.Background(), &pipeline.Settings{}); err != nil {
		t.Fatal(err)
	}
	err = o.Deliver(context.Background(), messages(1))
	if !pipeline.IsPermanent(err) || !errors.Is(err, syscall.EPIPE) {
		t.Errorf("Deliver to a pipe without reader: %v, want a permanent EPIPE", err)
	}
	w.Close()
	if err := o.Deliver(context.Background(), messages(1)); !pipeline.IsPermanent(err) {
		t.Errorf("Deliver to a closed file: %v, want a permanent error", err)
	}
}

func TestSample(t *testing.T) {
	sample, err := os.ReadFile("sample.toml")
	if err != nil {
		t.Fatal(err)
	}
	c, err := pipelinetest.Parse(t, string(sample))
	if err != nil {
		t.Fatal(err)
	}
	var out lockedBuffer
	c.Sections[0].Plugin.(*Output).w = &out
	p2 := pipeline.New(pipeline.Options{})
	if err := p2.Start(c); err != nil {
		t.Fatal(err)
	}
	defer p2.Shutdown(context.Background())
	msgs := messages(2)
	msgs[1].Severity = message.Info // not matched by the sample
	deliver(t, p2, msgs)
	m := p2.Metrics("console")
	pipelinetest.Eventually(t, func() bool { return m.Out.Load() == 1 }, "written")
	if got := string(out.bytes()); got != "line 0\n" {
		t.Errorf("wrote %q", got)
	}
	if !slices.Contains(pipelineTypes(), "stdout_output") {
		t.Error("stdout_output is not registered")
	}
}

func pipelineTypes() []string {
	var out []string
	for _, p := range pipeline.Plugins() {
		out = append(out, p.Type)
	}
	return out
}

func BenchmarkStdout(b *testing.B) {
	devNull, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	if err != nil {
		b.Fatal(err)
	}
	defer devNull.Close()
	o := New()
	o.w = devNull
	enc, _ := pipeline.NewEncoder("json")
	if err := o.Start(context.Background(), &pipeline.Settings{Encoder: enc}); err != nil {
		b.Fatal(err)
	}
	batch := messages(1000)
	var size int
	for _, m := range batch {
		line, _ := enc.Append(nil, m)
		size += len(line)
	}
	b.SetBytes(int64(size))
	o.Deliver(context.Background(), batch) // grows the buffer once
	b.ReportAllocs()
	for b.Loop() {
		if err := o.Deliver(context.Background(), batch); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(batch)), "ns/msg")
}
