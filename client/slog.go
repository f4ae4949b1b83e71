package client

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"time"
	"unsafe"

	"github.com/metlog/metlog/message"
)

// HandlerOptions configure a Handler. A nil *HandlerOptions means the
// defaults: records at slog.LevelInfo and above, without their source.
type HandlerOptions struct {
	// Level is the minimum level logged; nil means slog.LevelInfo. It is
	// read on every Enabled call, so a *slog.LevelVar changes it at run time.
	Level slog.Leveler
	// AddSource adds the fields source.function and source.file (strings)
	// and source.line (an integer) naming the code that logged the record,
	// when the record knows it. Looking the source up allocates.
	AddSource bool
}

// Handler is a slog.Handler that sends each record through a Client as a
// log message (type "oldstyle"), so that code written against log/slog
// reaches the metlog router:
//
//	logger := slog.New(client.NewHandler(c, nil))
//	logger.Info("user logged in", "user", "ana", "attempts", 2)
//
// The message's payload is the record's message, its timestamp the
// record's time (0 for a zero time, which the Client stamps unless
// Config.LeaveTimestamp is set), and its severity SeverityOfLevel of the
// record's level. Attributes become typed fields:
//
//	string                      String
//	int64, uint64 <= MaxInt64   Integer
//	larger uint64, float64      Double
//	bool                        Bool
//	time.Duration               Double in milliseconds, representation "ms"
//	time.Time                   String, RFC 3339 with nanoseconds
//	anything else               String: err.Error() for an error, else fmt.Sprint
//
// LogValuer values are resolved. Groups, from WithGroup or slog.Group, are
// flattened into dotted field names ("g.h.key"); a group with an empty key
// is inlined, an empty group is omitted, and an attribute with an empty key
// is ignored, as slog's rules say.
//
// Handle allocates nothing for attributes of the scalar kinds (strings,
// numbers, bools, durations, times), in groups or not: names and times are
// formatted into the pooled message buffer. Values of other kinds, which
// format themselves, and AddSource may allocate, as does slog.Record itself
// beyond five attributes. Attributes given to WithAttrs are converted once,
// and Enabled consults the client's filters, so records they would drop
// are never built. A Handler is immutable and safe for concurrent use.
type Handler struct {
	c         *Client
	level     slog.Leveler
	addSource bool
	attrs     []Attr // from WithAttrs, converted, named with their groups
	prefix    string // the open groups, "g.h.", or ""
}

var _ slog.Handler = (*Handler)(nil)

// NewHandler returns a Handler that sends records through c. opts may be
// nil.
func NewHandler(c *Client, opts *HandlerOptions) *Handler {
	h := &Handler{c: c, level: slog.LevelInfo}
	if opts != nil {
		if opts.Level != nil {
			h.level = opts.Level
		}
		h.addSource = opts.AddSource
	}
	return h
}

// SeverityOfLevel returns the RFC 5424 severity a slog level is sent at.
// slog's four levels map to the four severities of the same name, and the
// levels between and beyond them to the severities slog has no name for:
//
//	level l                     severity
//	l < Info                    7 debug
//	l == Info                   6 info
//	Info < l < Warn             5 notice
//	Warn <= l < Error           4 warning
//	Error <= l < Error+4        3 error
//	Error+4 <= l < Error+8      2 critical
//	Error+8 <= l < Error+12     1 alert
//	Error+12 <= l               0 emergency
//
// So slog.LevelInfo+2 is a notice, slog.LevelError+4 critical, and
// slog.LevelError+8 an alert.
func SeverityOfLevel(l slog.Level) int32 {
	switch {
	case l < slog.LevelInfo:
		return message.Debug
	case l == slog.LevelInfo:
		return message.Info
	case l < slog.LevelWarn:
		return message.Notice
	case l < slog.LevelError:
		return message.Warning
	case l < slog.LevelError+4:
		return message.Error
	case l < slog.LevelError+8:
		return message.Critical
	case l < slog.LevelError+12:
		return message.Alert
	}
	return message.Emergency
}

// Enabled reports whether a record at level l is logged: l is at least the
// handler's level, and the client's filters (max_severity, the type lists,
// type_max_severity for "oldstyle") let a log message of that severity
// through. Filter functions (Config.Filters) need the message, so they are
// applied when it is sent, not here.
func (h *Handler) Enabled(_ context.Context, l slog.Level) bool {
	return l >= h.level.Level() && h.c.slogAllows(SeverityOfLevel(l))
}

// slogAllows reports whether the configured filters let a log message of
// severity sev through.
func (c *Client) slogAllows(sev int32) bool {
	return c.filter.allows(typeOldstyle, sev)
}

// Handle sends r as a log message. It never returns an error: like every
// call of the Client, a message that cannot be sent is counted in Stats and
// reported to Config.OnError.
func (h *Handler) Handle(_ context.Context, r slog.Record) error {
	c := h.c
	sev := SeverityOfLevel(r.Level)
	if !c.slogAllows(sev) {
		c.filtered.Add(1)
		return nil
	}
	mb := c.get()
	m := &mb.m
	m.Type = typeOldstyle
	m.Severity = sev
	m.Payload = r.Message
	if !r.Time.IsZero() {
		m.Timestamp = r.Time.UnixNano()
	}
	if h.addSource && r.PC != 0 {
		if src := r.Source(); src != nil {
			m.AddString("source.function", src.Function)
			m.AddString("source.file", src.File)
			m.AddInt("source.line", int64(src.Line))
		}
	}
	for i := range h.attrs {
		h.attrs[i].appendTo(m)
	}
	if r.NumAttrs() > 0 {
		s := attrSink{m: m, scratch: &mb.scratch}
		r.Attrs(func(a slog.Attr) bool {
			s.add(h.prefix, a)
			return true
		})
	}
	c.send(mb)
	return nil
}

// WithAttrs returns a Handler that adds attrs, in the groups opened so far,
// to every record. They are resolved and converted to fields now, once.
func (h *Handler) WithAttrs(attrs []slog.Attr) slog.Handler {
	if len(attrs) == 0 {
		return h
	}
	h2 := *h
	s := attrSink{out: make([]Attr, len(h.attrs), len(h.attrs)+len(attrs))}
	copy(s.out, h.attrs)
	for _, a := range attrs {
		s.add(h.prefix, a)
	}
	h2.attrs = s.out
	return &h2
}

// WithGroup returns a Handler that puts the attributes of later WithAttrs
// calls and of records in the group name: their fields are named
// "name.key". An empty name returns h, as slog's rules say.
func (h *Handler) WithGroup(name string) slog.Handler {
	if name == "" {
		return h
	}
	h2 := *h
	h2.prefix = h.prefix + name + "."
	return &h2
}

// attrSink converts slog attributes to fields: appended to m when it is
// set, with the strings it formats (names in groups, times, other values)
// kept in *scratch, the message buffer's memory, which lives until the
// message is sent; or else appended to out, with strings of their own.
type attrSink struct {
	m       *message.Message
	scratch *[]byte
	out     []Attr
}

// add converts a, in the groups prefix names, following slog's rules.
func (s *attrSink) add(prefix string, a slog.Attr) {
	v := a.Value.Resolve()
	if v.Kind() == slog.KindGroup {
		group := v.Group()
		if len(group) == 0 {
			return
		}
		p := prefix
		if a.Key != "" {
			p = s.join(prefix, a.Key, true)
		}
		for _, g := range group {
			s.add(p, g)
		}
		return
	}
	if a.Key == "" {
		return
	}
	name := a.Key
	if prefix != "" {
		name = s.join(prefix, a.Key, false)
	}
	at := s.attr(name, v)
	if s.m != nil {
		at.appendTo(s.m)
	} else {
		s.out = append(s.out, at)
	}
}

// attr converts the resolved, non-group value v to an Attr named name.
func (s *attrSink) attr(name string, v slog.Value) Attr {
	switch v.Kind() {
	case slog.KindString:
		return String(name, v.String())
	case slog.KindInt64:
		return Int64(name, v.Int64())
	case slog.KindUint64:
		if u := v.Uint64(); u > math.MaxInt64 {
			return Float(name, float64(u))
		}
		return Int64(name, int64(v.Uint64()))
	case slog.KindFloat64:
		return Float(name, v.Float64())
	case slog.KindBool:
		return Bool(name, v.Bool())
	case slog.KindDuration:
		return Duration(name, v.Duration())
	case slog.KindTime:
		if s.scratch == nil {
			return String(name, v.Time().Format(time.RFC3339Nano))
		}
		start := len(*s.scratch)
		*s.scratch = v.Time().AppendFormat(*s.scratch, time.RFC3339Nano)
		return String(name, s.string(start))
	}
	// KindAny: KindLogValuer and KindGroup were handled by the caller.
	x := v.Any()
	if err, ok := x.(error); ok {
		return String(name, err.Error())
	}
	if s.scratch == nil {
		return String(name, fmt.Sprint(x))
	}
	start := len(*s.scratch)
	*s.scratch = fmt.Append(*s.scratch, x)
	return String(name, s.string(start))
}

// join returns prefix+key, followed by a dot when dot is set.
func (s *attrSink) join(prefix, key string, dot bool) string {
	if s.scratch == nil {
		if dot {
			return prefix + key + "."
		}
		return prefix + key
	}
	start := len(*s.scratch)
	*s.scratch = append(*s.scratch, prefix...)
	*s.scratch = append(*s.scratch, key...)
	if dot {
		*s.scratch = append(*s.scratch, '.')
	}
	return s.string(start)
}

// string returns the bytes of *s.scratch from start as a string, without
// copying them. Later appends may move the scratch buffer, but never write
// over bytes already in it, so the string stays valid until the message
// buffer is reused.
func (s *attrSink) string(start int) string {
	b := (*s.scratch)[start:]
	return unsafe.String(unsafe.SliceData(b), len(b))
}
