// Package client is what Go applications import to emit metlog messages:
// logs at the eight RFC 5424 severities, counters, timers and gauges,
// exceptions with stack traces, CEF security events and messages of any
// type, each a labelled message handed to a sender without the application
// knowing which back end receives it.
//
//	c, err := client.New(client.Config{Logger: "myapp"})
//	if err != nil { ... }
//	defer c.Close()
//	c.Info("user logged in", client.String("user", "ana"))
//	c.Incr("logins")
//	t := c.Timer("db.query")
//	rows := query()
//	t.Stop()
//
// The hot path (a counter, a timer, a log line with a few fields) allocates
// nothing and never blocks: messages are encoded on the caller's goroutine
// into a bounded queue that one goroutine per client writes out, and when
// the queue is full they are dropped and counted (see Stats) unless the
// sender is configured to block. This package depends on package message
// only; it knows nothing of the router.
package client

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/metlog/metlog/message"
)

// A FilterFunc decides whether a message is sent. It must not modify the
// message (with Send, its fields are the caller's), and must not keep it,
// or any string or slice read from it, after it returns: the client reuses
// their memory.
type FilterFunc func(*message.Message) bool

// Client emits metlog messages. It is safe for concurrent use.
type Client struct {
	logger     string
	hostname   string
	pid        int32
	envVersion string
	leaveTS    bool

	sender   Sender
	queue    *asyncSender // sender, when it is ours and framing can go straight into its queue
	encoding encoding
	signer   *message.Signer
	frames   *message.FrameEncoder
	maxSize  int // of the encoded message, without framing or newline

	filter         filterSet
	userFilters    []FilterFunc
	disabledAll    bool
	disabledTimers map[string]struct{}
	onError        func(error)

	clock  wallClock
	pool   sync.Pool // of *msgBuf
	closed atomic.Bool

	filtered atomic.Uint64
	tooLarge atomic.Uint64
	failed   atomic.Uint64
}

type encoding uint8

const (
	encProtobuf encoding = iota
	encJSONDatagram
	encJSONStream
)

// msgBuf is a message under construction with the memory it reuses: the
// payload scratch its Payload may point into, and the encoding buffer.
type msgBuf struct {
	m       message.Message
	scratch []byte
	out     []byte
}

// payloadBytes sets the payload to the bytes in mb.scratch without copying
// them. The string is valid until mb is reused.
func (mb *msgBuf) payloadBytes() {
	mb.m.Payload = unsafe.String(unsafe.SliceData(mb.scratch), len(mb.scratch))
}

// New returns a Client built from cfg, with its sender connected or
// connecting in the background.
func New(cfg Config) (*Client, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("client config: %w", err)
	}
	cfg = cfg.withDefaults()
	c := &Client{
		logger:      cfg.Logger,
		hostname:    cfg.Hostname,
		pid:         int32(os.Getpid()),
		envVersion:  cfg.EnvVersion,
		leaveTS:     cfg.LeaveTimestamp,
		userFilters: cfg.Filters,
		onError:     cfg.OnError,
		filter:      newFilterSet(cfg.Filter),
	}
	c.pool.New = func() any { return &msgBuf{out: make([]byte, 0, 512)} }
	for _, name := range cfg.DisabledTimers {
		if name == "*" {
			c.disabledAll = true
		}
		if c.disabledTimers == nil {
			c.disabledTimers = make(map[string]struct{})
		}
		c.disabledTimers[name] = struct{}{}
	}
	var err error
	if c.signer, err = cfg.signer(); err != nil {
		return nil, err
	}
	c.frames = message.NewFrameEncoder(c.signer, c.logger, c.envVersion, c.pid, c.hostname)
	c.sender = cfg.Output
	if c.sender == nil {
		if c.sender, err = newSender(cfg.Sender, cfg.OnError); err != nil {
			return nil, err
		}
	}
	datagram := false
	if d, ok := c.sender.(interface{ Datagram() bool }); ok {
		datagram = d.Datagram()
	}
	c.maxSize = cfg.MaxMessageSize
	if u, err := parseSenderURL(cfg.Sender.URL); err == nil && cfg.Output == nil && u.scheme == "udp" {
		// A UDP datagram holds at most 65,507 bytes; leave room for the
		// largest frame header, so the kernel never refuses a frame.
		c.maxSize = min(c.maxSize, maxUDPPayload-3-message.MaxHeaderSize)
	}
	if q, ok := c.sender.(*asyncSender); ok && cfg.Sender.Encoder != "json" {
		c.queue = q
	}
	switch {
	case cfg.Sender.Encoder == "json" && datagram:
		c.encoding = encJSONDatagram
	case cfg.Sender.Encoder == "json":
		c.encoding = encJSONStream
	}
	return c, nil
}

// Close sends what is queued, within the sender's close timeout, and
// releases the sender. Calls after Close send nothing.
func (c *Client) Close() error {
	if c.closed.Swap(true) {
		return nil
	}
	return c.sender.Close()
}

// Stats counts what happened to the messages a client was asked to send.
//
// Every message a call asked to send ends in exactly one of Sent, Dropped,
// Filtered, TooLarge and Failed (or is still queued).
type Stats struct {
	Sent     uint64 // written to the transport
	Dropped  uint64 // accepted but lost: write failures, datagrams no destination took, pending at Close
	Filtered uint64 // dropped by a filter or a disabled timer
	TooLarge uint64 // over MaxMessageSize
	Failed   uint64 // rejected by the sender: queue full (ErrQueueFull) or closed (ErrClosed)
	Errors   uint64 // write and connection failures (messages may have been retried)
	Queued   int    // bytes waiting to be written
}

// maxUDPPayload is the largest UDP datagram over IPv4.
const maxUDPPayload = 65507

// Stats returns the client's counters.
func (c *Client) Stats() Stats {
	s := Stats{Filtered: c.filtered.Load(), TooLarge: c.tooLarge.Load(), Failed: c.failed.Load()}
	if r, ok := c.sender.(interface{ stats() senderStats }); ok {
		ss := r.stats()
		s.Sent, s.Dropped, s.Errors, s.Queued = ss.sent, ss.dropped, ss.errors, ss.queued
	}
	return s
}

// get returns a cleared message buffer.
func (c *Client) get() *msgBuf {
	mb := c.pool.Get().(*msgBuf)
	mb.m.Reset()
	mb.scratch = mb.scratch[:0]
	return mb
}

// put returns mb to the pool, unless it grew too large to keep.
func (c *Client) put(mb *msgBuf) {
	if cap(mb.out) > 1<<20 || cap(mb.scratch) > 1<<20 {
		return
	}
	c.pool.Put(mb)
}

// emit completes the envelope of mb's message, runs the user filters, and
// encodes and sends it. The caller recycles mb.
func (c *Client) emit(mb *msgBuf) {
	m := &mb.m
	if m.UUID == ([16]byte{}) {
		m.UUID = message.NewUUID()
	}
	if m.Timestamp == 0 && !c.leaveTS {
		m.Timestamp = c.clock.now()
	}
	if m.Logger == "" {
		m.Logger = c.logger
	}
	if m.Hostname == "" {
		m.Hostname = c.hostname
	}
	if m.Pid == 0 {
		m.Pid = c.pid
	}
	if m.EnvVersion == "" {
		m.EnvVersion = c.envVersion
	}
	for _, f := range c.userFilters {
		if !f(m) {
			c.filtered.Add(1)
			return
		}
	}
	// The limit applies to the message itself, as the router checks it:
	// the protobuf bytes after the frame header, or the JSON text.
	var size int
	if c.queue != nil {
		handled, size, err := c.queue.trySendFrame(c.frames, m, c.maxSize)
		if handled {
			c.account(m, size, err)
			return
		}
	}
	switch c.encoding {
	case encProtobuf:
		mb.out = c.frames.Append(mb.out[:0], m)
		size = len(mb.out) - 3 - int(mb.out[1])
	case encJSONDatagram:
		mb.out = message.AppendMetlogJSON(mb.out[:0], m)
		size = len(mb.out)
	case encJSONStream:
		mb.out = message.AppendMetlogJSON(mb.out[:0], m)
		size = len(mb.out)
		mb.out = append(mb.out, '\n')
	}
	switch {
	case size > c.maxSize:
		c.account(m, size, nil)
	case c.closed.Load():
		c.failed.Add(1)
	default:
		c.account(m, 0, c.sender.Send(mb.out))
	}
}

// account counts the outcome of sending m: over the size limit when size
// is not zero, rejected by the sender when err is not nil.
func (c *Client) account(m *message.Message, size int, err error) {
	switch {
	case size > 0:
		c.tooLarge.Add(1)
		c.report(fmt.Errorf("%w: a %s message of %d bytes, over the limit of %d", ErrTooLarge, m.Type, size, c.maxSize))
	case err != nil:
		c.failed.Add(1)
		c.report(err)
	}
}

// send emits mb and recycles it.
func (c *Client) send(mb *msgBuf) {
	c.emit(mb)
	c.put(mb)
}

func (c *Client) report(err error) {
	if c.onError != nil {
		c.onError(err)
	}
}

// ErrTooLarge reports a message over the configured maximum size.
var ErrTooLarge = errors.New("message too large")

// Send sends a message of any type. Header fields left empty are filled in:
// UUID, Timestamp, Logger, Hostname, Pid and EnvVersion. msg itself is not
// modified, and the client keeps no reference to it.
func (c *Client) Send(msg *message.Message) {
	if !c.filter.allows(msg.Type, msg.Severity) {
		c.filtered.Add(1)
		return
	}
	mb := c.get()
	own := mb.m.Fields
	mb.m = *msg
	c.emit(mb)
	mb.m.Fields = own[:0] // the pool must never hold the caller's fields
	c.put(mb)
}

// Log sends a log message (type "oldstyle") at the given severity.
func (c *Client) Log(severity int32, msg string, attrs ...Attr) {
	if !c.filter.allows(typeOldstyle, severity) {
		c.filtered.Add(1)
		return
	}
	mb := c.get()
	mb.m.Type = typeOldstyle
	mb.m.Severity = severity
	mb.m.Payload = msg
	for i := range attrs {
		attrs[i].appendTo(&mb.m)
	}
	c.send(mb)
}

// Logf sends a log message (type "oldstyle") at the given severity, its
// payload formatted as fmt.Sprintf does. As in metlog-py, the format is
// applied only when there are arguments: without any, format is the
// payload as it is, so "100%" stays "100%".
func (c *Client) Logf(severity int32, format string, args ...any) {
	if !c.filter.allows(typeOldstyle, severity) {
		c.filtered.Add(1)
		return
	}
	if len(args) > 0 {
		format = fmt.Sprintf(format, args...)
	}
	c.Log(severity, format)
}

// Debug logs msg at severity 7.
func (c *Client) Debug(msg string, attrs ...Attr) { c.Log(message.Debug, msg, attrs...) }

// Info logs msg at severity 6.
func (c *Client) Info(msg string, attrs ...Attr) { c.Log(message.Info, msg, attrs...) }

// Notice logs msg at severity 5.
func (c *Client) Notice(msg string, attrs ...Attr) { c.Log(message.Notice, msg, attrs...) }

// Warn logs msg at severity 4.
func (c *Client) Warn(msg string, attrs ...Attr) { c.Log(message.Warning, msg, attrs...) }

// Error logs msg at severity 3.
func (c *Client) Error(msg string, attrs ...Attr) { c.Log(message.Error, msg, attrs...) }

// Critical logs msg at severity 2.
func (c *Client) Critical(msg string, attrs ...Attr) { c.Log(message.Critical, msg, attrs...) }

// Alert logs msg at severity 1.
func (c *Client) Alert(msg string, attrs ...Attr) { c.Log(message.Alert, msg, attrs...) }

// Emergency logs msg at severity 0.
func (c *Client) Emergency(msg string, attrs ...Attr) { c.Log(message.Emergency, msg, attrs...) }

// Message types the client sends.
const (
	typeOldstyle  = "oldstyle"
	typeCounter   = "counter"
	typeTimer     = "timer"
	typeGauge     = "gauge"
	typeException = "exception"
	typeCEF       = "cef"
)

// Incr increments the counter name: a "counter" message whose payload is
// the count (1 unless Count is given) and whose fields carry name and rate,
// as metlog-py sends. With Rate(r), only a fraction r of calls send.
func (c *Client) Incr(name string, opts ...Option) {
	o := callOptions{count: 1, rate: 1, severity: message.Info}.with(opts)
	if !c.sample(o.rate) {
		return
	}
	if !c.filter.allows(typeCounter, o.severity) {
		c.filtered.Add(1)
		return
	}
	mb := c.get()
	mb.scratch = strconv.AppendInt(mb.scratch, o.count, 10)
	mb.payloadBytes()
	c.metric(mb, typeCounter, name, &o, opts, false)
}

// Gauge sets the gauge name to v: a "gauge" message with the value as
// payload and fields rate and name. The value is absolute even when
// negative; see GaugeDelta for changes.
func (c *Client) Gauge(name string, v float64, opts ...Option) {
	c.gauge(name, v, false, opts)
}

// GaugeDelta adjusts the gauge name by delta: the payload carries an
// explicit sign ("+5", "-2.5"), as statsd writes changes, and the field
// delta=true marks the message as a change, so that a negative Gauge value
// ("-5", absolute) and a negative delta are never confused.
func (c *Client) GaugeDelta(name string, delta float64, opts ...Option) {
	c.gauge(name, delta, true, opts)
}

func (c *Client) gauge(name string, v float64, delta bool, opts []Option) {
	o := callOptions{rate: 1, severity: message.Info}.with(opts)
	if !c.filter.allows(typeGauge, o.severity) {
		c.filtered.Add(1)
		return
	}
	if v == 0 {
		v = 0 // not -0, which would be written "-0" or "+-0"
	}
	mb := c.get()
	if delta && v >= 0 {
		mb.scratch = append(mb.scratch, '+')
	}
	mb.scratch = strconv.AppendFloat(mb.scratch, v, 'f', -1, 64)
	mb.payloadBytes()
	c.metric(mb, typeGauge, name, &o, opts, delta)
}

// metric finishes a counter, timer or gauge: fields rate then name, in
// metlog-py's order, delta=true for gauge changes, then the caller's fields.
func (c *Client) metric(mb *msgBuf, typ, name string, o *callOptions, opts []Option, delta bool) {
	m := &mb.m
	m.Type = typ
	m.Severity = o.severity
	m.Logger = o.loggerName()
	m.AddDouble("rate", o.rate)
	m.AddString("name", name)
	if delta {
		m.AddBool("delta", true)
	}
	addAttrs(m, opts)
	c.send(mb)
}

// addAttrs adds the fields of every Fields option in opts, in order.
func addAttrs(m *message.Message, opts []Option) {
	for i := range opts {
		if op := &opts[i]; op.kind == optFields {
			for j := range op.attrs {
				op.attrs[j].appendTo(m)
			}
		}
	}
}

// sample reports whether a call at sample rate r sends.
func (c *Client) sample(r float64) bool {
	return r >= 1 || rand.Float64() < r
}

// A Timer measures one duration; Stop sends it. The zero Timer, returned
// for disabled timer names, sends nothing and its Stop returns 0.
type Timer struct {
	c     *Client
	name  string
	start time.Time
}

// Timer starts timing name. When name is disabled (Config.DisabledTimers)
// it returns the zero Timer and counts the message it will not send in
// Stats.Filtered.
//
//	t := c.Timer("db.query")
//	defer t.Stop()
func (c *Client) Timer(name string) Timer {
	if c.timerDisabled(name) {
		c.filtered.Add(1)
		return Timer{}
	}
	return Timer{c: c, name: name, start: time.Now()}
}

// Stop sends the time elapsed since the timer started, and returns it.
func (t Timer) Stop(opts ...Option) time.Duration {
	if t.c == nil {
		return 0
	}
	d := time.Since(t.start)
	t.c.TimerSend(t.name, d, opts...)
	return d
}

// Time runs f and sends how long it took as the timer name, and returns
// it. When f panics the timer is sent too, as metlog-py's timer context
// manager does when its block raises, and the panic goes on.
func (c *Client) Time(name string, f func(), opts ...Option) (d time.Duration) {
	t := c.Timer(name)
	defer func() { d = t.Stop(opts...) }()
	f()
	return 0
}

// TimerSend sends d as a sample of the timer name: a "timer" message whose
// payload is d in milliseconds (fractions down to the microsecond, "12" or
// "0.25"; negative durations count as 0) and whose fields carry name and
// rate.
func (c *Client) TimerSend(name string, d time.Duration, opts ...Option) {
	if c.timerDisabled(name) {
		c.filtered.Add(1)
		return
	}
	o := callOptions{rate: 1, severity: message.Info}.with(opts)
	if !c.sample(o.rate) {
		return
	}
	if !c.filter.allows(typeTimer, o.severity) {
		c.filtered.Add(1)
		return
	}
	mb := c.get()
	us := max(d.Microseconds(), 0)
	if us%1000 == 0 {
		mb.scratch = strconv.AppendInt(mb.scratch, us/1000, 10)
	} else {
		mb.scratch = strconv.AppendFloat(mb.scratch, float64(us)/1000, 'f', -1, 64)
	}
	mb.payloadBytes()
	c.metric(mb, typeTimer, name, &o, opts, false)
}

func (c *Client) timerDisabled(name string) bool {
	if c.disabledTimers == nil {
		return false
	}
	if c.disabledAll {
		return true
	}
	_, off := c.disabledTimers[name]
	return off
}

// filterSet is the configured filters, checked before a message is built.
type filterSet struct {
	active  bool
	maxSev  int32
	allow   map[string]struct{}
	deny    map[string]struct{}
	typeMax map[string]int32
}

func newFilterSet(fc FilterConfig) filterSet {
	f := filterSet{maxSev: 1<<31 - 1}
	if fc.MaxSeverity.Set {
		f.maxSev, f.active = fc.MaxSeverity.Value, true
	}
	set := func(names []string) map[string]struct{} {
		if len(names) == 0 {
			return nil
		}
		f.active = true
		m := make(map[string]struct{}, len(names))
		for _, n := range names {
			m[n] = struct{}{}
		}
		return m
	}
	f.allow = set(fc.TypesAllow)
	f.deny = set(fc.TypesDeny)
	if len(fc.TypeMaxSeverity) > 0 {
		f.active = true
		f.typeMax = make(map[string]int32, len(fc.TypeMaxSeverity))
		for t, l := range fc.TypeMaxSeverity {
			f.typeMax[t] = l.Value
		}
	}
	return f
}

func (f *filterSet) allows(typ string, severity int32) bool {
	if !f.active {
		return true
	}
	if severity > f.maxSev {
		return false
	}
	if f.deny != nil {
		if _, ok := f.deny[typ]; ok {
			return false
		}
	}
	if f.allow != nil {
		if _, ok := f.allow[typ]; !ok {
			return false
		}
	}
	if max, ok := f.typeMax[typ]; ok && severity > max {
		return false
	}
	return true
}
