package filein

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/metlog/metlog/message"
	"github.com/metlog/metlog/pipeline"
	"github.com/metlog/metlog/pipeline/pipelinetest"
)

// tailConfig is a pipeline with the input [in] tailing paths, polling every
// 10ms, and a blocking capture output [out]. extra is added to [in].
func tailConfig(paths []string, extra string) string {
	return tailConfigOut(paths, extra, "")
}

// tailConfigOut is tailConfig with outExtra added to [out].
func tailConfigOut(paths []string, extra, outExtra string) string {
	q := make([]string, len(paths))
	for i, p := range paths {
		q[i] = "'" + p + "'"
	}
	return fmt.Sprintf(`
[in]
type = "file_input"
paths = [%s]
poll_interval = "10ms"
checkpoint_interval = "10ms"
%s

[out]
type = "capture_output"
message_matcher = "TRUE"
when_full = "block"
%s
`, strings.Join(q, ", "), extra, outExtra)
}

// withDataDir puts a [metlogd] section with data_dir first, so that two
// pipelines can share it.
func withDataDir(dataDir, cfg string) string {
	return fmt.Sprintf("[metlogd]\ndata_dir = '%s'\nhttp_listen = \"\"\n", dataDir) + cfg
}

// tail runs cfg and returns the pipeline, its input and its output.
func tail(t *testing.T, cfg string) (*pipeline.Pipeline, *Input, *pipelinetest.Capture) {
	t.Helper()
	p := pipelinetest.Run(t, cfg)
	return p, pipelinetest.Plugin(t, p, "in").(*Input), pipelinetest.Output(t, p, "out")
}

// settle waits until the input has made three more passes (so whatever is
// in the files now has been read) and the output holds everything the
// input delivered.
func settle(t *testing.T, p *pipeline.Pipeline, in *Input, out *pipelinetest.Capture) {
	t.Helper()
	n := in.passes.Load()
	pipelinetest.Eventually(t, func() bool { return in.passes.Load() >= n+3 }, "the input to make three passes")
	m := p.Metrics("in")
	pipelinetest.Eventually(t, func() bool { return uint64(len(out.Messages())) == m.In.Load() }, "the output to catch up")
}

func write(t testing.TB, path, s string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString(s); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

// numbered returns lines "<prefix> 00000" .. for i in [from, to), each with
// a newline.
func numbered(prefix string, from, to int) string {
	var b strings.Builder
	for i := from; i < to; i++ {
		fmt.Fprintf(&b, "%s %05d\n", prefix, i)
	}
	return b.String()
}

// lines splits s into its newline-terminated lines.
func lines(s string) []string {
	return strings.Split(strings.TrimSuffix(s, "\n"), "\n")
}

func payloads(msgs []*message.Message) []string {
	out := make([]string, len(msgs))
	for i, m := range msgs {
		out[i] = m.Payload
	}
	return out
}

func equal(t *testing.T, what string, got, want []string) {
	t.Helper()
	if !slices.Equal(got, want) {
		t.Fatalf("%s:\n got %d %q\nwant %d %q", what, len(got), clip(got), len(want), clip(want))
	}
}

func clip(s []string) []string {
	if len(s) > 12 {
		return append(append(slices.Clone(s[:6]), "..."), s[len(s)-6:]...)
	}
	return s
}

// exactlyOnce checks that got holds every line of want once, and nothing
// else, in any order; and that each file's lines (by prefix before the
// space) came in order.
func exactlyOnce(t *testing.T, got, want []string) {
	t.Helper()
	count := map[string]int{}
	for _, g := range got {
		count[g]++
	}
	for _, w := range want {
		if count[w] != 1 {
			t.Errorf("line %q arrived %d times", w, count[w])
		}
		delete(count, w)
	}
	for g, n := range count {
		t.Errorf("unexpected line %q (%d times)", g, n)
	}
	last := map[string]string{}
	for _, g := range got {
		prefix, _, _ := strings.Cut(g, " ")
		if g < last[prefix] {
			t.Errorf("line %q came after %q", g, last[prefix])
		}
		last[prefix] = g
	}
}

// collector is a Deliverer that keeps what it is given, or fails with err.
type collector struct {
	msgs []*message.Message
	err  error
}

func (c *collector) Deliver(ctx context.Context, m *message.Message) error {
	if c.err != nil {
		return c.err
	}
	c.msgs = append(c.msgs, m)
	return nil
}

// startDirect starts in outside a pipeline, with dataDir (a new one when
// ""), for tests that drive passes themselves with a chosen clock.
func startDirect(t testing.TB, in *Input, dataDir string) *state {
	t.Helper()
	if dataDir == "" {
		dataDir = t.TempDir()
	}
	if err := in.Validate(); err != nil {
		t.Fatal(err)
	}
	s := &pipeline.Settings{
		Name: "in", Type: "file_input",
		Logger:  slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelDebug})),
		Metrics: &pipeline.Metrics{},
		Global:  pipeline.Global{MaxMessageSize: 64 << 10, DataDir: dataDir, Hostname: "testhost"},
	}
	if err := in.Start(context.Background(), s); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = in.Stop(context.Background()) })
	return in.st
}

func join(dir string, name ...string) string { return filepath.Join(append([]string{dir}, name...)...) }
