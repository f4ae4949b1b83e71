// Package stdout is the stdout_output plugin: it writes each batch of
// messages, encoded (canonical JSON lines by default), to the process's
// standard output with one write. It suits running metlogd in a container
// or under a supervisor that collects standard output, and debugging.
// See docs/plugins/stdout_output.md.
package stdout

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"syscall"
	"time"

	"github.com/metlog/metlog/internal/ratelog"
	"github.com/metlog/metlog/message"
	"github.com/metlog/metlog/pipeline"
)

func init() {
	pipeline.Register(pipeline.Plugin{
		Type:    "stdout_output",
		Kind:    pipeline.KindOutput,
		New:     func() any { return New() },
		Summary: "writes messages to standard output",
	})
}

// maxKeptBuffer is the largest encode buffer kept between batches.
const maxKeptBuffer = 16 << 20

// Output is the stdout_output plugin. It has no settings of its own; the
// section's encoder key chooses the format. It keeps nothing between
// batches, so it needs no Stop: standard output belongs to the process.
type Output struct {
	w       io.Writer // os.Stdout; tests replace it before Start
	enc     pipeline.Encoder
	metrics *pipeline.Metrics
	rl      *ratelog.Limiter
	buf     []byte
	started bool
}

var (
	_ pipeline.Output      = (*Output)(nil)
	_ pipeline.Starter     = (*Output)(nil)
	_ pipeline.EncoderUser = (*Output)(nil)
)

// New returns a stdout output.
func New() *Output { return &Output{w: os.Stdout} }

// DefaultEncoder implements pipeline.EncoderUser: canonical JSON lines.
func (*Output) DefaultEncoder() string { return "json" }

// Start implements pipeline.Starter.
func (o *Output) Start(ctx context.Context, s *pipeline.Settings) error {
	o.enc = s.Encoder
	if o.enc == nil {
		o.enc, _ = pipeline.NewEncoder(o.DefaultEncoder())
		if o.enc == nil {
			return errors.New("no encoder: import plugins/codecs")
		}
	}
	o.metrics = s.Metrics
	if o.metrics == nil {
		o.metrics = &pipeline.Metrics{}
	}
	log := s.Logger
	if log == nil {
		log = slog.Default()
	}
	o.rl = ratelog.New(log, time.Minute)
	if o.w == nil {
		o.w = os.Stdout
	}
	o.started = true
	return nil
}

// Deliver implements pipeline.Output: it encodes the batch and writes it
// with one write. Standard output that is closed (a reader that went away:
// EPIPE, a closed descriptor) cannot come back while the process runs, so
// that error is permanent and the batch dropped and counted; any other
// write error (a full disk behind a redirection, say) is retried.
func (o *Output) Deliver(ctx context.Context, batch []*message.Message) error {
	if !o.started {
		return errors.New("the stdout output is not started")
	}
	buf := o.buf[:0]
	rejected := 0
	for _, m := range batch {
		start := len(buf)
		b, err := o.enc.Append(buf, m)
		if err != nil {
			buf = buf[:start]
			rejected++
			o.rl.Warn("encode", "a message the encoder cannot write is dropped", "err", err)
			continue
		}
		buf = b
	}
	if rejected > 0 {
		o.metrics.Drop(pipeline.DropPermanent, rejected)
	}
	var err error
	if len(buf) > 0 {
		_, err = o.w.Write(buf)
	}
	if cap(buf) > maxKeptBuffer {
		buf = nil
	}
	o.buf = buf[:0]
	if err != nil {
		err = fmt.Errorf("write to standard output: %w", err)
		if closedError(err) {
			return pipeline.Permanent(err)
		}
		return err
	}
	return nil
}

// closedError reports whether err means the output is gone for good.
func closedError(err error) bool {
	return errors.Is(err, syscall.EPIPE) || errors.Is(err, syscall.EBADF) ||
		errors.Is(err, fs.ErrClosed) || errors.Is(err, io.ErrClosedPipe)
}
