package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/metlog/metlog/client"
	"github.com/metlog/metlog/message"
)

const sendSynopsis = `
Usage:
  metlog send [flags] log TEXT...          a log line (type oldstyle; TEXT "-" reads stdin)
  metlog send [flags] incr NAME            a counter (-count N, -rate R)
  metlog send [flags] timer NAME DURATION  a timer sample: a Go duration (12.5ms, 2s) or milliseconds (12.5)
  metlog send [flags] gauge NAME VALUE     a gauge (-delta: VALUE is a change)
  metlog send [flags] cef NAME             a CEF security event (-cef-* flags, -ext k=v)
  metlog send [flags] json [FILE]          metlog or canonical JSON messages, one per line, from FILE or stdin

Sends messages to a router with the Go client library, over any of its
senders, then waits until they are written. The client reads the METLOG_*
environment variables as applications do (METLOG_SENDER, METLOG_ENCODER,
METLOG_LOGGER, METLOG_HMAC_*, METLOG_CONFIG); flags override them.

-field NAME=VALUE adds a typed field, as JSON would type VALUE: an integer
(n=3), a double (x=1.5, y=1e3), a boolean (ok=true), else a string.
NAME:=VALUE always makes a string (zip:=01234, v:=true). Repeat -field for
several fields; repeating a NAME adds values under one name.
`

type sendOptions struct {
	to, encoder, logger, severity, typ, file string
	fields                                   listFlag
	count                                    int64
	rate                                     float64
	delta                                    bool
	timeout                                  time.Duration
	verbose                                  bool
	cefVendor, cefProduct, cefVersion, cefID string
	cefSeverity                              int
	ext                                      listFlag
}

// listFlag is a flag that may be repeated.
type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, " ") }
func (l *listFlag) Set(s string) error { *l = append(*l, s); return nil }

func sendFlags() (*flag.FlagSet, *sendOptions) {
	o := &sendOptions{}
	fs := flag.NewFlagSet("send", flag.ContinueOnError)
	fs.StringVar(&o.to, "to", "", "sender URL: udp://host:port[,host:port], tcp://host:port, unix:///path, unixgram:///path, file:///path or stdout\n(default $METLOG_SENDER, else udp://127.0.0.1:5565)")
	fs.StringVar(&o.encoder, "encoder", "", "protobuf (Heka framing) or json (metlog JSON) (default $METLOG_ENCODER, else protobuf)")
	fs.StringVar(&o.logger, "logger", "", "logger name (default $METLOG_LOGGER, else metlog)")
	fs.StringVar(&o.severity, "severity", "", "severity, by name (info, warning, err...) or number 0..7 (default info)")
	fs.StringVar(&o.typ, "type", "", "log: the message type instead of oldstyle")
	fs.Var(&o.fields, "field", "NAME=VALUE: add a typed field; NAME:=VALUE for a string (repeatable)")
	fs.Int64Var(&o.count, "count", 1, "incr: the amount to add")
	fs.Float64Var(&o.rate, "rate", 1, "incr, timer: the sample rate (0 < R <= 1) the message carries; it is always sent")
	fs.BoolVar(&o.delta, "delta", false, "gauge: VALUE is a change (sent with an explicit sign and the field delta=true)")
	fs.StringVar(&o.file, "file", "", "json: read messages from this file instead of stdin")
	fs.StringVar(&o.cefVendor, "cef-vendor", "metlog", "cef: device vendor")
	fs.StringVar(&o.cefProduct, "cef-product", "metlog", "cef: device product")
	fs.StringVar(&o.cefVersion, "cef-version", "1", "cef: device version")
	fs.StringVar(&o.cefID, "cef-id", "", "cef: signature id (default NAME)")
	fs.IntVar(&o.cefSeverity, "cef-severity", 5, "cef: CEF severity 0..10")
	fs.Var(&o.ext, "ext", "cef: KEY=VALUE extension pair (repeatable)")
	fs.DurationVar(&o.timeout, "timeout", 5*time.Second, "how long to wait for the messages to be written")
	fs.BoolVar(&o.verbose, "v", false, "say what was sent, on stderr")
	return fs, o
}

// kindFlags lists the flags that only some kinds take.
var kindFlags = map[string][]string{
	"count": {"incr"}, "rate": {"incr", "timer"}, "delta": {"gauge"}, "type": {"log"},
	"file": {"json"}, "cef-vendor": {"cef"}, "cef-product": {"cef"}, "cef-version": {"cef"},
	"cef-id": {"cef"}, "cef-severity": {"cef"}, "ext": {"cef"},
}

// writerSender is the client sender of -to stdout: it writes each message
// to the command's standard output.
type writerSender struct{ w io.Writer }

func (s writerSender) Send(b []byte) error { _, err := s.w.Write(b); return err }
func (s writerSender) Close() error        { return nil }

func runSend(e *env, args []string) int {
	fs, o := sendFlags()
	c := &cmdIO{e: e, name: "send", fs: fs, synopsis: sendSynopsis}
	pos, code, ok := c.parse(args)
	if !ok {
		return code
	}
	if len(pos) == 0 {
		return c.usagef("say what to send: log, incr, timer, gauge, cef or json")
	}
	kind, pos := pos[0], pos[1:]
	set := flagsSet(fs)
	for name := range set {
		if kinds, only := kindFlags[name]; only && !contains(kinds, kind) {
			return c.usagef("-%s is for %s, not %s", name, strings.Join(kinds, " and "), kind)
		}
	}
	if o.timeout <= 0 {
		return c.usagef("-timeout must be positive")
	}
	var fields []message.Field
	for _, f := range o.fields {
		fld, err := parseField(f)
		if err != nil {
			return c.usagef("-field %s: %v", f, err)
		}
		fields = append(fields, fld)
	}
	severity := int32(message.Info)
	if o.severity != "" {
		s, err := message.ParseSeverity(o.severity)
		if err != nil {
			return c.usagef("-severity: %v", err)
		}
		severity = s
	}

	// Build what to send before connecting, so that usage errors send nothing.
	var msgs []*message.Message
	var cef *client.CEFEvent
	var jsonInput io.Reader
	closeInput := func() {}
	defer func() { closeInput() }()
	metric := func(typ, name, payload string, rate float64, delta bool) {
		msgs = append(msgs, metricMessage(typ, name, payload, severity, rate, delta, fields))
	}
	switch kind {
	case "log":
		if len(pos) == 0 {
			return c.usagef("log needs the text to send")
		}
		text := strings.Join(pos, " ")
		if len(pos) == 1 && pos[0] == "-" {
			b, err := io.ReadAll(e.stdin)
			if err != nil {
				return c.failf("cannot read the text from stdin: %v", err)
			}
			text = strings.TrimSuffix(strings.TrimSuffix(string(b), "\n"), "\r")
		}
		typ := "oldstyle"
		if o.typ != "" {
			typ = o.typ
		}
		msgs = append(msgs, &message.Message{Type: typ, Severity: severity, Payload: text, Fields: fields})
	case "incr":
		if len(pos) != 1 {
			return c.usagef("incr takes one counter NAME, not %d arguments", len(pos))
		}
		if !(o.rate > 0 && o.rate <= 1) {
			return c.usagef("-rate %v is not a sample rate 0 < R <= 1", o.rate)
		}
		metric("counter", pos[0], strconv.FormatInt(o.count, 10), o.rate, false)
	case "timer":
		if len(pos) != 2 {
			return c.usagef("timer takes a NAME and a DURATION")
		}
		if !(o.rate > 0 && o.rate <= 1) {
			return c.usagef("-rate %v is not a sample rate 0 < R <= 1", o.rate)
		}
		d, err := parseTimerDuration(pos[1])
		if err != nil {
			return c.usagef("%v", err)
		}
		metric("timer", pos[0], timerPayload(d), o.rate, false)
	case "gauge":
		if len(pos) != 2 {
			return c.usagef("gauge takes a NAME and a VALUE")
		}
		v, err := strconv.ParseFloat(pos[1], 64)
		if err != nil {
			return c.usagef("gauge value %q is not a number", pos[1])
		}
		metric("gauge", pos[0], gaugePayload(v, o.delta), 1, o.delta)
	case "cef":
		if len(pos) != 1 {
			return c.usagef("cef takes the event NAME (quote it if it has spaces)")
		}
		cef = &client.CEFEvent{Vendor: o.cefVendor, Product: o.cefProduct, Version: o.cefVersion,
			SignatureID: o.cefID, Name: pos[0], Severity: o.cefSeverity}
		for _, x := range o.ext {
			k, v, found := strings.Cut(x, "=")
			if !found || k == "" {
				return c.usagef("-ext %q is not KEY=VALUE", x)
			}
			cef.Extensions = append(cef.Extensions, client.Ext(k, v))
		}
		if _, err := client.AppendCEF(nil, cef); err != nil {
			return c.usagef("%v", err)
		}
	case "json":
		name := o.file
		switch {
		case len(pos) == 1 && name == "":
			name = pos[0]
		case len(pos) > 0:
			return c.usagef("json reads one FILE (or -file, or stdin)")
		case name == "":
			name = "-"
		}
		r, closer, err := openInput(name, e.stdin)
		if err != nil {
			return c.failf("%v", err)
		}
		jsonInput, closeInput = r, closer
	default:
		return c.usagef("%q is not something to send: use log, incr, timer, gauge, cef or json", kind)
	}

	cfg, err := sendConfig(e, o)
	if err != nil {
		return c.usagef("%v", err)
	}
	var mu sync.Mutex
	var lastErr error
	cfg.OnError = func(err error) {
		mu.Lock()
		lastErr = err
		mu.Unlock()
	}
	cl, err := client.New(cfg)
	if err != nil {
		return c.usagef("%v", err)
	}
	sent, bad := 0, 0
	switch {
	case cef != nil:
		opts := []client.Option{client.Fields(attrsOf(fields)...)}
		if o.severity != "" {
			opts = append(opts, client.SyslogPriority(message.SeverityName(severity)))
		}
		if err := cl.CEF(*cef, opts...); err != nil {
			cl.Close()
			return c.usagef("%v", err)
		}
		sent++
	case jsonInput != nil:
		sent, bad = sendJSON(e, c, cl, jsonInput, o, set, severity, fields)
	default:
		for _, m := range msgs {
			cl.Send(m)
			sent++
		}
	}
	ctx, cancel := context.WithTimeout(e.ctx, o.timeout)
	flushErr := cl.Flush(ctx)
	cancel()
	closeErr := cl.Close()
	st := cl.Stats()
	mu.Lock()
	why := lastErr
	mu.Unlock()
	if why == nil {
		why = closeErr
	}
	if why == nil && flushErr != nil {
		why = flushErr
	}
	failed := st.Dropped + st.Failed + st.TooLarge
	if failed > 0 || st.Filtered > 0 {
		var parts []string
		if failed > 0 {
			parts = append(parts, fmt.Sprintf("%d of %d messages could not be sent to %s", failed, sent, cfg.Sender.URL))
		}
		if st.Filtered > 0 {
			parts = append(parts, fmt.Sprintf("%d were dropped by the client's filter settings (METLOG_CONFIG, METLOG_MAX_SEVERITY, METLOG_TYPES_*)", st.Filtered))
		}
		msg := strings.Join(parts, "; ")
		if why != nil {
			msg += ": " + why.Error()
		}
		return c.failf("%s", msg)
	}
	if o.verbose {
		fmt.Fprintf(e.stderr, "metlog send: sent %d message(s) to %s (%s)\n", sent, cfg.Sender.URL, cfg.Sender.Encoder)
	}
	if bad > 0 {
		return exitFail
	}
	return exitOK
}

// sendConfig builds the client configuration: the environment's, then the
// flags over it.
func sendConfig(e *env, o *sendOptions) (client.Config, error) {
	var cfg client.Config
	if e.clientEnv != nil {
		var err error
		if cfg, err = e.clientEnv(); err != nil {
			return cfg, err
		}
	}
	if o.to != "" {
		cfg.Sender.URL = o.to
	}
	if cfg.Sender.URL == "" {
		cfg.Sender.URL = client.DefaultSenderURL
	}
	if o.encoder != "" {
		cfg.Sender.Encoder = o.encoder
	}
	if cfg.Sender.Encoder == "" {
		cfg.Sender.Encoder = "protobuf"
	}
	if o.logger != "" {
		cfg.Logger = o.logger
	}
	if cfg.Logger == "" {
		cfg.Logger = "metlog"
	}
	// Deliver everything or say so: wait for room rather than drop, and
	// leave Close little to do after the flush.
	cfg.Sender.Block = true
	cfg.Sender.BlockTimeout = o.timeout
	cfg.Sender.CloseTimeout = 500 * time.Millisecond
	if u := cfg.Sender.URL; u == "stdout" || u == "stdout:" {
		cfg.Output = writerSender{e.stdout}
	}
	return cfg, cfg.Validate()
}

// sendJSON sends the messages of r, one JSON object per line, and returns
// how many were sent and how many lines were bad (reported on stderr).
func sendJSON(e *env, c *cmdIO, cl *client.Client, r io.Reader, o *sendOptions, set map[string]bool, severity int32, fields []message.Field) (sent, bad int) {
	lr := newLineReader(bufio.NewReaderSize(r, 64<<10), 1<<20)
	var m message.Message
	for {
		line, _, n, long, ok := lr.next()
		if !ok {
			break
		}
		if long {
			bad++
			fmt.Fprintf(e.stderr, "metlog send: line %d: longer than 1 MiB; skipped\n", n)
			continue
		}
		if len(strings.TrimSpace(string(line))) == 0 {
			continue
		}
		m.Reset()
		if _, err := decodeJSONLine(line, &m); err != nil {
			bad++
			fmt.Fprintf(e.stderr, "metlog send: line %d: %v; skipped\n", n, err)
			continue
		}
		if set["logger"] {
			m.Logger = o.logger
		}
		if set["severity"] {
			m.Severity = severity
		}
		m.Fields = append(m.Fields, fields...)
		cl.Send(&m)
		sent++
	}
	if lr.err != nil {
		bad++
		fmt.Fprintf(e.stderr, "metlog send: reading the messages: %v\n", lr.err)
	}
	return sent, bad
}

// metricMessage builds a counter, timer or gauge message laid out as the
// client's Incr, TimerSend and Gauge/GaugeDelta build them (fields rate,
// name, then delta, then the caller's), but always sent: the command line
// is the one sample, whatever rate it carries.
func metricMessage(typ, name, payload string, severity int32, rate float64, delta bool, fields []message.Field) *message.Message {
	m := &message.Message{Type: typ, Severity: severity, Payload: payload}
	m.AddDouble("rate", rate)
	m.AddString("name", name)
	if delta {
		m.AddBool("delta", true)
	}
	m.Fields = append(m.Fields, fields...)
	return m
}

// timerPayload writes d in milliseconds as the client does: whole
// milliseconds as an integer, else with microsecond fractions.
func timerPayload(d time.Duration) string {
	us := max(d.Microseconds(), 0)
	if us%1000 == 0 {
		return strconv.FormatInt(us/1000, 10)
	}
	return strconv.FormatFloat(float64(us)/1000, 'f', -1, 64)
}

// gaugePayload writes a gauge value as the client does; a delta carries
// an explicit sign.
func gaugePayload(v float64, delta bool) string {
	if v == 0 {
		v = 0 // not -0
	}
	s := strconv.FormatFloat(v, 'f', -1, 64)
	if delta && v >= 0 {
		s = "+" + s
	}
	return s
}

// parseTimerDuration reads a Go duration ("12.5ms", "2s") or a number of
// milliseconds ("12.5").
func parseTimerDuration(s string) (time.Duration, error) {
	var d time.Duration
	if ms, err := strconv.ParseFloat(s, 64); err == nil {
		d = time.Duration(ms * float64(time.Millisecond))
	} else if d, err = time.ParseDuration(s); err != nil {
		return 0, fmt.Errorf("timer duration %q is neither a Go duration (12.5ms, 2s) nor a number of milliseconds", s)
	}
	if d < 0 {
		return 0, fmt.Errorf("timer duration %q is negative", s)
	}
	return d, nil
}

// parseField reads -field NAME=VALUE (typed as JSON would type VALUE) or
// NAME:=VALUE (a string).
func parseField(s string) (message.Field, error) {
	name, value, found := strings.Cut(s, "=")
	if !found {
		return message.Field{}, errors.New("want NAME=VALUE (or NAME:=VALUE for a string)")
	}
	if n, forced := strings.CutSuffix(name, ":"); forced {
		if n == "" {
			return message.Field{}, errors.New("the field has no name")
		}
		return message.NewString(n, value), nil
	}
	if name == "" {
		return message.Field{}, errors.New("the field has no name")
	}
	switch {
	case value == "true" || value == "false":
		return message.NewBool(name, value == "true"), nil
	case isJSONInteger(value):
		if n, err := strconv.ParseInt(value, 10, 64); err == nil {
			return message.NewInt(name, n), nil
		}
		fallthrough // too large for 64 bits: a double, as JSON decoders do
	case isJSONNumber(value):
		if v, err := strconv.ParseFloat(value, 64); err == nil {
			return message.NewDouble(name, v), nil
		}
		// Beyond the range of a double (1e999): kept as the text.
	}
	return message.NewString(name, value), nil
}

// isJSONInteger reports whether s is a JSON number without fraction or
// exponent: -?(0|[1-9][0-9]*).
func isJSONInteger(s string) bool {
	s = strings.TrimPrefix(s, "-")
	if s == "" || (s[0] == '0' && len(s) > 1) {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// isJSONNumber reports whether s is a JSON number:
// -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?.
func isJSONNumber(s string) bool {
	i := 0
	if i < len(s) && s[i] == '-' {
		i++
	}
	digits := func() int {
		start := i
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
		}
		return i - start
	}
	switch {
	case i < len(s) && s[i] == '0':
		i++
	case digits() == 0:
		return false
	}
	if i < len(s) && s[i] == '.' {
		i++
		if digits() == 0 {
			return false
		}
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i++
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			i++
		}
		if digits() == 0 {
			return false
		}
	}
	return i == len(s)
}

// attrsOf turns fields into client attributes, for the CEF call.
func attrsOf(fields []message.Field) []client.Attr {
	var out []client.Attr
	for _, f := range fields {
		switch f.Type {
		case message.String:
			out = append(out, client.Strings(f.Name, f.Strings...))
		case message.Integer:
			out = append(out, client.Ints(f.Name, f.Integers...))
		case message.Double:
			out = append(out, client.Floats(f.Name, f.Doubles...))
		case message.Bool:
			out = append(out, client.Bools(f.Name, f.Bools...))
		}
	}
	return out
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
