// Package pipeline is metlog's router runtime and its plugin API.
//
// Messages flow from inputs through the router to filters and outputs:
//
//	input ──Deliver──▶ router ──matcher──▶ filter queue ──▶ filter ──Inject──▶ router
//	                          └─matcher──▶ output queue ──▶ output ──▶ endpoint
//
// The router is not a goroutine: Deliver runs on the input's goroutine,
// evaluates every filter's and output's compiled message matcher, and puts
// the message on the bounded queue of each that accepts it. Each filter and
// output has its own queue and goroutine, so a slow endpoint only fills its
// own queue; what happens then is its when_full policy (drop and count, or
// block the inputs).
//
// Plugins register a typed descriptor from init (Register). The
// constructor returns a value holding the plugin's defaults; the TOML
// section of the configuration decodes over it, unknown keys being errors;
// then the optional lifecycle interfaces run: Validator (no network),
// Starter, Stopper.
package pipeline

import (
	"context"
	"fmt"
	"log/slog"
	"sort"
	"sync"
	"time"

	"github.com/metlog/metlog/message"
)

// An Input receives messages from outside and hands them to the router.
type Input interface {
	// Run receives messages until ctx is done, handing each to d. It
	// returns nil when ctx ends, or an error when it cannot go on (a port
	// in use, say); the pipeline logs the error and runs it again after a
	// backoff.
	Run(ctx context.Context, d Deliverer) error
}

// A Deliverer is the router as an input sees it.
type Deliverer interface {
	// Deliver routes m to every filter and output whose matcher accepts it
	// and returns once each of their queues has taken it (or, by its
	// when_full policy, dropped it). It blocks while a blocking queue is
	// full, until ctx is done, which is how inputs get back-pressure.
	//
	// The router takes m: the caller must not read or change it afterwards.
	// Messages are immutable from here on; every filter and output shares
	// the same *message.Message.
	Deliver(ctx context.Context, m *message.Message) error
}

// An Output delivers messages to an endpoint.
type Output interface {
	// Deliver writes a batch of messages to the endpoint. It returns nil
	// when the whole batch is delivered; an error marked with Permanent
	// when it can never be (the batch is counted and logged as failed, and
	// with a dead-letter file, kept there); any other error to have the
	// same batch retried after a backoff.
	//
	// Deliver must not change the messages, nor keep batch after it
	// returns; it may keep the messages themselves.
	Deliver(ctx context.Context, batch []*message.Message) error
}

// A Filter examines messages and may inject new ones.
type Filter interface {
	// Process handles one message. It must not change m. Messages it
	// injects are routed like input messages; a message that has gone round
	// the filters more than max_loops times is dropped and counted.
	Process(ctx context.Context, m *message.Message, inj Injector) error
}

// An Injector hands messages a filter makes to the router.
type Injector interface {
	// Inject routes m, which the router takes, as Deliverer.Deliver does.
	Inject(ctx context.Context, m *message.Message) error
}

// A Ticker is a filter that also runs every ticker_interval of its section
// (a statsd flush, say). Tick is called on the filter's goroutine, never at
// the same time as Process.
type Ticker interface {
	Tick(ctx context.Context, now time.Time, inj Injector) error
}

// DefaultTicker is implemented by Ticker filters that run on a clock even
// when their section sets no ticker_interval (a statsd flush every 10s).
type DefaultTicker interface {
	DefaultTickerInterval() time.Duration
}

// Validator is implemented by plugins that check their configuration after
// it is decoded. Validate must not touch the network or the file system
// beyond reading; metlogd -check runs it.
type Validator interface {
	Validate() error
}

// Starter is implemented by plugins that acquire resources (files,
// connections, listeners) before they run. A plugin whose Start fails is
// not run, and the pipeline does not start.
type Starter interface {
	Start(ctx context.Context, s *Settings) error
}

// Stopper is implemented by plugins that release resources. Stop must be
// idempotent and safe to call without Start.
type Stopper interface {
	Stop(ctx context.Context) error
}

// Reopener is implemented by plugins that write files: Reopen closes and
// opens them again, so that an external logrotate can move them away.
// metlogd calls it on SIGHUP.
type Reopener interface {
	Reopen() error
}

// Settings are what the pipeline gives a plugin instance when it starts.
type Settings struct {
	Name    string       // the configuration section's name
	Type    string       // the plugin type
	Logger  *slog.Logger // tagged with the plugin's name
	Metrics *Metrics     // this plugin's counters, kept across reloads
	Global  Global       // the [metlogd] section
	// Encoder is an output's configured encoder, or nil.
	Encoder Encoder
	// HTTP registers handlers on metlogd's shared HTTP listener
	// ([metlogd] http_listen); nil when it is disabled.
	HTTP *HTTPMux
	// Services reaches the other plugins of the pipeline in-process.
	Services *Services
}

// DataDir returns the plugin's own directory under [metlogd] data_dir,
// creating it when needed: where it keeps state across restarts.
func (s *Settings) DataDir() (string, error) {
	return dataDir(s.Global.DataDir, s.Name)
}

// Kind is the kind of a plugin.
type Kind int

// The kinds of plugin.
const (
	KindInput Kind = iota + 1
	KindFilter
	KindOutput
)

func (k Kind) String() string {
	switch k {
	case KindInput:
		return "input"
	case KindFilter:
		return "filter"
	case KindOutput:
		return "output"
	}
	return fmt.Sprintf("kind(%d)", int(k))
}

// Plugin describes a plugin type to the registry.
type Plugin struct {
	// Type is what a configuration section names in `type = "..."`; by
	// convention it ends in _input, _filter or _output.
	Type string
	Kind Kind
	// New returns a new instance holding the plugin's defaults, without
	// side effects. It must implement the interface of its Kind (Input,
	// Filter or Output); its exported fields with toml tags are its
	// configuration.
	New func() any
	// Summary is one line saying what the plugin does.
	Summary string
}

var registry = struct {
	sync.Mutex
	plugins map[string]Plugin
}{plugins: make(map[string]Plugin)}

// Register adds a plugin type. It is called from init and panics on an
// empty type, a missing constructor, an unknown kind, or a duplicate.
func Register(p Plugin) {
	if p.Type == "" {
		panic("pipeline.Register: empty plugin type")
	}
	if p.New == nil {
		panic("pipeline.Register: plugin " + p.Type + " has no constructor")
	}
	if p.Kind < KindInput || p.Kind > KindOutput {
		panic("pipeline.Register: plugin " + p.Type + " has no kind")
	}
	registry.Lock()
	defer registry.Unlock()
	if _, dup := registry.plugins[p.Type]; dup {
		panic("pipeline.Register: plugin type " + p.Type + " registered twice")
	}
	registry.plugins[p.Type] = p
}

// Lookup returns the plugin registered as typ.
func Lookup(typ string) (Plugin, bool) {
	registry.Lock()
	defer registry.Unlock()
	p, ok := registry.plugins[typ]
	return p, ok
}

// Plugins returns every registered plugin, sorted by type.
func Plugins() []Plugin {
	registry.Lock()
	defer registry.Unlock()
	out := make([]Plugin, 0, len(registry.plugins))
	for _, p := range registry.plugins {
		out = append(out, p)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Type < out[j].Type })
	return out
}

// An Encoder turns a message into the bytes an output writes.
type Encoder interface {
	// Append appends the encoding of m to dst, with whatever delimiter a
	// stream needs (a newline for JSON lines), and returns the result.
	Append(dst []byte, m *message.Message) ([]byte, error)
}

// A Decoder turns the bytes of one message into a message.
type Decoder interface {
	// Decode replaces m's contents with the message in b. It must not keep
	// b: inputs reuse their buffers.
	Decode(b []byte, m *message.Message) error
}

var codecs = struct {
	sync.Mutex
	encoders map[string]func() Encoder
	decoders map[string]func() Decoder
}{encoders: map[string]func() Encoder{}, decoders: map[string]func() Decoder{}}

// RegisterEncoder adds an encoder that outputs name in `encoder = "..."`.
// It panics on an empty name, a nil constructor or a duplicate.
func RegisterEncoder(name string, f func() Encoder) {
	registerCodec(codecs.encoders, name, f, "encoder")
}

// RegisterDecoder adds a decoder that inputs name in their format option.
// It panics on an empty name, a nil constructor or a duplicate.
func RegisterDecoder(name string, f func() Decoder) {
	registerCodec(codecs.decoders, name, f, "decoder")
}

func registerCodec[F any](m map[string]F, name string, f F, what string) {
	if name == "" {
		panic("pipeline: empty " + what + " name")
	}
	if any(f) == nil {
		panic("pipeline: " + what + " " + name + " has no constructor")
	}
	codecs.Lock()
	defer codecs.Unlock()
	if _, dup := m[name]; dup {
		panic("pipeline: " + what + " " + name + " registered twice")
	}
	m[name] = f
}

// NewEncoder returns a new encoder registered as name.
func NewEncoder(name string) (Encoder, bool) {
	codecs.Lock()
	defer codecs.Unlock()
	f, ok := codecs.encoders[name]
	if !ok {
		return nil, false
	}
	return f(), true
}

// NewDecoder returns a new decoder registered as name.
func NewDecoder(name string) (Decoder, bool) {
	codecs.Lock()
	defer codecs.Unlock()
	f, ok := codecs.decoders[name]
	if !ok {
		return nil, false
	}
	return f(), true
}

// EncoderNames returns the registered encoder names, sorted.
func EncoderNames() []string { return sortedKeys(codecs.encoders) }

// DecoderNames returns the registered decoder names, sorted.
func DecoderNames() []string { return sortedKeys(codecs.decoders) }

func sortedKeys[F any](m map[string]F) []string {
	codecs.Lock()
	defer codecs.Unlock()
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
