// Package pipelinetest runs real pipelines in tests: a configuration
// snippet in, the messages that reached an output out. It registers a
// capture_output plugin that keeps what it is given and can be told to fail.
//
//	p := pipelinetest.Run(t, `
//	[in]
//	type = "udp_input"
//	address = "127.0.0.1:0"
//
//	[out]
//	type = "capture_output"
//	message_matcher = "TRUE"
//	`)
//	out := pipelinetest.Output(t, p, "out")
//	msgs := out.Wait(t, 3)
package pipelinetest

import (
	"context"
	"net"
	"regexp"
	"sync"
	"testing"
	"time"

	"github.com/metlog/metlog/message"
	"github.com/metlog/metlog/pipeline"
)

func init() {
	pipeline.Register(pipeline.Plugin{
		Type:    "capture_output",
		Kind:    pipeline.KindOutput,
		New:     func() any { return &Capture{} },
		Summary: "keeps the messages it is given, for tests",
	})
}

// Capture is an output that keeps what it receives.
type Capture struct {
	// Delay makes each Deliver wait this long first.
	Delay time.Duration `toml:"delay"`

	mu      sync.Mutex
	msgs    []*message.Message
	batches int
	fail    func(batch []*message.Message) error
	changed chan struct{}
}

var _ pipeline.Output = (*Capture)(nil)

// Deliver implements pipeline.Output.
func (c *Capture) Deliver(ctx context.Context, batch []*message.Message) error {
	if c.Delay > 0 {
		select {
		case <-time.After(c.Delay):
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.fail != nil {
		if err := c.fail(batch); err != nil {
			return err
		}
	}
	c.msgs = append(c.msgs, batch...)
	c.batches++
	c.notifyLocked()
	return nil
}

func (c *Capture) notifyLocked() {
	if c.changed != nil {
		close(c.changed)
		c.changed = nil
	}
}

// FailWith makes Deliver return f(batch) when it is not nil (nil f: stop
// failing). Return pipeline.Permanent(err) for a permanent failure.
func (c *Capture) FailWith(f func(batch []*message.Message) error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.fail = f
}

// Messages returns the messages delivered so far.
func (c *Capture) Messages() []*message.Message {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]*message.Message(nil), c.msgs...)
}

// Batches returns how many batches were delivered.
func (c *Capture) Batches() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.batches
}

// Wait waits up to 10 seconds until at least n messages were delivered, and
// returns them; it fails the test when they do not come.
func (c *Capture) Wait(t testing.TB, n int) []*message.Message {
	t.Helper()
	return c.WaitFor(t, n, 10*time.Second)
}

// WaitFor is Wait with a timeout.
func (c *Capture) WaitFor(t testing.TB, n int, timeout time.Duration) []*message.Message {
	t.Helper()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		c.mu.Lock()
		if len(c.msgs) >= n {
			out := append([]*message.Message(nil), c.msgs...)
			c.mu.Unlock()
			return out
		}
		if c.changed == nil {
			c.changed = make(chan struct{})
		}
		ch, have := c.changed, len(c.msgs)
		c.mu.Unlock()
		select {
		case <-ch:
		case <-deadline.C:
			t.Fatalf("waited %v for %d messages, got %d", timeout, n, have)
		}
	}
}

// Run parses cfg as a configuration, starts it, and shuts it down when the
// test ends. [metlogd] defaults are adjusted for tests: the data directory
// is a temporary one and the HTTP listener is off, unless cfg sets them.
func Run(t testing.TB, cfg string) *pipeline.Pipeline {
	t.Helper()
	p, err := Start(t, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// Start is Run returning the error of a configuration that does not load
// or start.
func Start(t testing.TB, cfg string) (*pipeline.Pipeline, error) {
	t.Helper()
	c, err := Parse(t, cfg)
	if err != nil {
		return nil, err
	}
	p := pipeline.New(pipeline.Options{Version: "test"})
	if err := p.Start(c); err != nil {
		return nil, err
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = p.Shutdown(ctx)
	})
	return p, nil
}

// Parse loads cfg with the test defaults of Run.
func Parse(t testing.TB, cfg string) (*pipeline.Config, error) {
	t.Helper()
	head := "[metlogd]\ndata_dir = \"" + dataDir(t) + "\"\nhttp_listen = \"\"\n"
	if hasGlobal.MatchString(cfg) {
		head = ""
	}
	return pipeline.ParseConfig([]string{"test.toml"}, []string{head + cfg})
}

// hasGlobal finds a [metlogd] table header (not the words in a comment).
var hasGlobal = regexp.MustCompile(`(?m)^\s*\[metlogd\]`)

// dataDirs keeps one data directory per test, so that a configuration
// parsed again for a reload sees the same [metlogd] section.
var dataDirs sync.Map // testing.TB -> string

func dataDir(t testing.TB) string {
	if d, ok := dataDirs.Load(t); ok {
		return d.(string)
	}
	d := t.TempDir()
	dataDirs.Store(t, d)
	t.Cleanup(func() { dataDirs.Delete(t) })
	return d
}

// Output returns the capture_output named name of a running pipeline.
func Output(t testing.TB, p *pipeline.Pipeline, name string) *Capture {
	t.Helper()
	for _, s := range p.Config().Sections {
		if s.Name == name {
			if c, ok := s.Plugin.(*Capture); ok {
				return c
			}
			t.Fatalf("[%s] is a %s, not a capture_output", name, s.Type)
		}
	}
	t.Fatalf("no section [%s]", name)
	return nil
}

// Plugin returns the plugin instance of section name of a running pipeline.
func Plugin(t testing.TB, p *pipeline.Pipeline, name string) any {
	t.Helper()
	for _, s := range p.Config().Sections {
		if s.Name == name {
			return s.Plugin
		}
	}
	t.Fatalf("no section [%s]", name)
	return nil
}

// FreePort returns a TCP (or, with network "udp", UDP) address on
// 127.0.0.1 that was free a moment ago.
func FreePort(t testing.TB, network string) string {
	t.Helper()
	if network == "udp" {
		c, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		return c.LocalAddr().String()
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// Eventually polls cond every 10ms until it holds, failing the test after
// 10 seconds with msg.
func Eventually(t testing.TB, cond func() bool, msg string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("timed out: " + msg)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
