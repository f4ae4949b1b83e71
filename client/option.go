package client

import "unique"

// An Option adjusts one call: its count, sample rate, severity, logger or
// extra fields. Options are plain values, so passing them does not allocate.
type Option struct {
	kind  optionKind
	num   int64
	rate  float64
	str   string
	attrs []Attr
}

type optionKind uint8

const (
	optCount optionKind = iota + 1
	optRate
	optSeverity
	optLogger
	optFields
	optSwallow
	optSyslogFacility
	optSyslogIdent
	optSyslogOptions
	optSyslogPriority
)

// Count sets the amount a counter is incremented by (default 1).
func Count(n int64) Option { return Option{kind: optCount, num: n} }

// Rate samples a counter or timer: the call sends with probability r
// (0 < r <= 1), and the message carries r in fields.rate so that the router
// scales counts back up, as statsd does. Gauges are not sampled (statsd
// does not scale them, and a lost GaugeDelta would be lost for good); they
// only carry r in fields.rate.
func Rate(r float64) Option { return Option{kind: optRate, rate: r} }

// Severity overrides the severity of the message (0 emergency .. 7 debug).
func Severity(s int32) Option { return Option{kind: optSeverity, num: int64(s)} }

// Logger overrides the client's logger name for one message. The name is
// interned (see package unique), so that passing it does not allocate.
func Logger(name string) Option { return Option{kind: optLogger, str: name} }

// Fields adds typed fields to the message.
func Fields(attrs ...Attr) Option { return Option{kind: optFields, attrs: attrs} }

// Swallow makes Recover report a panic and return normally instead of
// panicking again.
func Swallow() Option { return Option{kind: optSwallow} }

// callOptions is the result of applying a call's options to its defaults.
type callOptions struct {
	count    int64
	rate     float64
	severity int32
	logger   string
	swallow  bool
	syslog   cefMeta
}

// with returns o changed by opts. It works on a copy, not through a
// pointer, and Fields options stay in opts for addAttrs: the compiler's
// escape analysis does not tell one field of an Option from another, so
// storing any of their strings or slices where it cannot follow them (a
// pointer parameter, the message) would make every Fields argument escape
// to the heap, and each call allocate. For the same reason the logger
// override is interned (see loggerName) before the message refers to it.
func (o callOptions) with(opts []Option) callOptions {
	for i := range opts {
		op := &opts[i]
		switch op.kind {
		case optCount:
			o.count = op.num
		case optRate:
			o.rate = op.rate
		case optSeverity:
			o.severity = int32(op.num)
		case optLogger:
			o.logger = op.str
		case optFields:
			// added by addAttrs, from opts
		case optSwallow:
			o.swallow = true
		case optSyslogFacility:
			o.syslog.facility = op.str
		case optSyslogIdent:
			o.syslog.ident = op.str
		case optSyslogOptions:
			o.syslog.options = op.str
		case optSyslogPriority:
			o.syslog.priority = op.str
			o.severity = int32(op.num)
		}
	}
	return o
}

// loggerName returns the logger override of a call, as a string that the
// message may keep: the interned copy of o.logger, or "" for none.
func (o *callOptions) loggerName() string {
	if o.logger == "" {
		return ""
	}
	return unique.Make(o.logger).Value()
}
