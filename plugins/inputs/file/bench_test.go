package filein

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/metlog/metlog/message"
	"github.com/metlog/metlog/pipeline"
	"github.com/metlog/metlog/pipeline/pipelinetest"
)

func init() {
	pipeline.Register(pipeline.Plugin{
		Type:    "filein_count_output",
		Kind:    pipeline.KindOutput,
		New:     func() any { return &countOutput{done: make(chan struct{})} },
		Summary: "counts and discards messages, for the file_input benchmark",
	})
}

// countOutput discards messages, closing done when it has had Want.
type countOutput struct {
	Want int64 `toml:"want"`
	n    atomic.Int64
	once sync.Once
	done chan struct{}
}

func (c *countOutput) Deliver(ctx context.Context, batch []*message.Message) error {
	if c.n.Add(int64(len(batch))) >= c.Want {
		c.once.Do(func() { close(c.done) })
	}
	return nil
}

// BenchmarkTail reads a 100 MB file of 200-byte lines through a pipeline
// into an output that discards them.
func BenchmarkTail(b *testing.B) {
	const lineLen, size = 200, 100_000_000
	const n = size / lineLen
	path := join(b.TempDir(), "big.log")
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	w := bufio.NewWriterSize(f, 1<<20)
	pad := strings.Repeat("x", lineLen-len("2024-01-02T10:00:00Z INFO req 0000000 ")-1)
	for i := range n {
		fmt.Fprintf(w, "2024-01-02T10:00:00Z INFO req %07d %s\n", i, pad)
	}
	if err := w.Flush(); err != nil {
		b.Fatal(err)
	}
	f.Close()
	if st, _ := os.Stat(path); st.Size() != size {
		b.Fatalf("file of %d bytes", st.Size())
	}
	b.SetBytes(size)
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		p := pipelinetest.Run(b, withDataDir(b.TempDir(), fmt.Sprintf(`
[in]
type = "file_input"
paths = ['%s']
start_at = "beginning"

[out]
type = "filein_count_output"
message_matcher = "TRUE"
when_full = "block"
want = %d
`, path, n)))
		out := pipelinetest.Plugin(b, p, "out").(*countOutput)
		select {
		case <-out.done:
		case <-time.After(20 * time.Second):
			b.Fatalf("%d of %d lines after 20 seconds", out.n.Load(), n)
		}
		b.StopTimer()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		_ = p.Shutdown(ctx)
		cancel()
		b.StartTimer()
	}
	b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "lines/s")
}

type discard struct{}

func (discard) Deliver(context.Context, *message.Message) error { return nil }

// BenchmarkConsume measures splitting and message making alone, per line.
func BenchmarkConsume(b *testing.B) {
	for _, tc := range []struct {
		name, re string
	}{
		{"plain", ""},
		{"multiline", `^\d{4}-`},
	} {
		b.Run(tc.name, func(b *testing.B) {
			line := "2024-01-02T10:00:00Z INFO req 0000000 " + strings.Repeat("x", 161) + "\n"
			chunk := []byte(strings.Repeat(line, readSize/len(line)))
			st := bareState(64<<10, tc.re)
			tf := &tailed{}
			tf.setPath("f")
			b.SetBytes(int64(len(line)))
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; {
				k := min(b.N-i, len(chunk)/len(line))
				if err := st.consume(context.Background(), discard{}, tf, chunk[:k*len(line)], tf.offset); err != nil {
					b.Fatal(err)
				}
				tf.offset += int64(k * len(line))
				i += k
			}
		})
	}
}
