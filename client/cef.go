package client

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/metlog/metlog/message"
)

// CEFEvent is a security event in ArcSight's Common Event Format (CEF),
// the format metlog-cef sent for SIEMs to read from syslog.
type CEFEvent struct {
	Vendor      string // device vendor
	Product     string // device product
	Version     string // device version
	SignatureID string // device event class id; Name when empty
	Name        string // what happened, for a human
	Severity    int    // 0 (lowest) .. 10 (highest)
	// Extensions are key=value pairs written in order after the header.
	// Keys are letters, digits, '_', '-' and '.'; common ones are src, dst,
	// suser, requestMethod, request, cs1Label and cs1.
	Extensions []CEFExtension
}

// A CEFExtension is one key=value pair of a CEF event's extension.
type CEFExtension struct {
	Key, Value string
}

// Ext returns a CEF extension pair.
func Ext(key, value string) CEFExtension { return CEFExtension{key, value} }

// Well-known CEF signature ids, as the cef library defines them.
const (
	CEFAuthFailure      = "AuthFail"
	CEFCaptchaFailure   = "CaptchaFail"
	CEFOverrideFailure  = "InvalidAdmin"
	CEFAccountLocked    = "AccountLockout"
	CEFPasswordResetClr = "PasswordResetCleared"
)

// SyslogFacility sets the syslog facility a CEF event should be logged
// with downstream (KERN, USER, MAIL, DAEMON, AUTH, LPR, NEWS, UUCP, CRON,
// LOCAL0..LOCAL7; default LOCAL4).
func SyslogFacility(f string) Option {
	return Option{kind: optSyslogFacility, str: strings.ToUpper(f)}
}

// SyslogIdent sets the syslog identity (app name) of a CEF event; default
// the client's logger.
func SyslogIdent(ident string) Option { return Option{kind: optSyslogIdent, str: ident} }

// SyslogOptions sets openlog options for a CEF event, a comma-separated
// subset of PID, CONS, NDELAY, NOWAIT and PERROR.
func SyslogOptions(opts string) Option {
	return Option{kind: optSyslogOptions, str: strings.ToUpper(opts)}
}

// SyslogPriority sets the syslog priority of a CEF event (EMERG, ALERT,
// CRIT, ERR, WARNING, NOTICE, INFO, DEBUG; default INFO), which is also the
// message's severity. Other spellings of a severity ("error", "warn", "3")
// are accepted and sent as the syslog name.
func SyslogPriority(p string) Option {
	sev, err := message.ParseSeverity(p)
	if err != nil {
		return Option{kind: optSyslogPriority, str: p, num: -1}
	}
	return Option{kind: optSyslogPriority, str: syslogPriorities[sev], num: int64(sev)}
}

// syslogPriorities are the syslog names of the severities 0..7.
var syslogPriorities = [...]string{"EMERG", "ALERT", "CRIT", "ERR", "WARNING", "NOTICE", "INFO", "DEBUG"}

// cefMeta carries the syslog options of a CEF event, sent in the
// cef_meta.* fields as metlog-cef did.
type cefMeta struct {
	facility, ident, options, priority string
}

var syslogFacilities = []string{"KERN", "USER", "MAIL", "DAEMON", "AUTH", "LPR", "NEWS", "UUCP", "CRON",
	"LOCAL0", "LOCAL1", "LOCAL2", "LOCAL3", "LOCAL4", "LOCAL5", "LOCAL6", "LOCAL7"}

var syslogOptionNames = []string{"PID", "CONS", "NDELAY", "NOWAIT", "PERROR"}

func (m *cefMeta) validate(severity int32) error {
	var errs []error
	if !contains(syslogFacilities, m.facility) {
		errs = append(errs, fmt.Errorf("syslog facility %q is not one of %s", m.facility, strings.Join(syslogFacilities, ", ")))
	}
	if m.options != "" {
		for _, o := range strings.Split(m.options, ",") {
			if !contains(syslogOptionNames, strings.TrimSpace(o)) {
				errs = append(errs, fmt.Errorf("syslog option %q is not one of %s", o, strings.Join(syslogOptionNames, ", ")))
			}
		}
	}
	if severity < 0 || severity > 7 {
		errs = append(errs, fmt.Errorf("syslog priority %q is not one of EMERG, ALERT, CRIT, ERR, WARNING, NOTICE, INFO, DEBUG", m.priority))
	}
	return errors.Join(errs...)
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// CEF sends a security event: a "cef" message whose payload is the event
// in CEF ("CEF:0|vendor|product|version|signature|name|severity|ext") and
// whose fields cef_meta.syslog_facility, _ident, _options and _priority say
// how a syslog output should log it. It returns an error, and sends
// nothing, when the event or its options are invalid, whether or not a
// filter would drop the message.
func (c *Client) CEF(ev CEFEvent, opts ...Option) error {
	o := callOptions{severity: message.Info, syslog: cefMeta{facility: "LOCAL4", priority: "INFO"}}.with(opts)
	if err := o.syslog.validate(o.severity); err != nil {
		return fmt.Errorf("cef: %w", err)
	}
	if err := ev.validate(); err != nil {
		return err
	}
	if !c.filter.allows(typeCEF, o.severity) {
		c.filtered.Add(1)
		return nil
	}
	mb := c.get()
	mb.scratch = appendCEF(mb.scratch, &ev)
	mb.payloadBytes()
	m := &mb.m
	m.Type = typeCEF
	m.Severity = o.severity
	m.Logger = o.loggerName()
	ident := o.syslog.ident
	if ident == "" {
		ident = m.Logger
		if ident == "" {
			ident = c.logger
		}
	}
	m.AddString("cef_meta.syslog_facility", o.syslog.facility)
	m.AddString("cef_meta.syslog_ident", ident)
	m.AddString("cef_meta.syslog_options", o.syslog.options)
	m.AddString("cef_meta.syslog_priority", o.syslog.priority)
	addAttrs(m, opts)
	c.send(mb)
	return nil
}

// AppendCEF appends ev in CEF to dst, escaped as the CEF specification
// says: in the header, backslash and pipe are escaped and line breaks
// become spaces; in extension values, backslash and equals are escaped and
// line breaks written as \n and \r.
func AppendCEF(dst []byte, ev *CEFEvent) ([]byte, error) {
	if err := ev.validate(); err != nil {
		return dst, err
	}
	return appendCEF(dst, ev), nil
}

// validate reports what AppendCEF cannot write.
func (ev *CEFEvent) validate() error {
	if ev.Severity < 0 || ev.Severity > 10 {
		return fmt.Errorf("cef: severity %d is not between 0 and 10", ev.Severity)
	}
	if ev.Name == "" {
		return errors.New("cef: the event has no name")
	}
	for _, x := range ev.Extensions {
		if !validCEFKey(x.Key) {
			return fmt.Errorf("cef: extension key %q must be letters, digits, '_', '-' or '.'", x.Key)
		}
	}
	return nil
}

// appendCEF appends the valid event ev to dst.
func appendCEF(dst []byte, ev *CEFEvent) []byte {
	sig := ev.SignatureID
	if sig == "" {
		sig = ev.Name
	}
	dst = append(dst, "CEF:0|"...)
	for _, h := range [...]string{ev.Vendor, ev.Product, ev.Version, sig, ev.Name} {
		dst = appendCEFHeader(dst, h)
		dst = append(dst, '|')
	}
	dst = strconv.AppendInt(dst, int64(ev.Severity), 10)
	dst = append(dst, '|')
	for i, x := range ev.Extensions {
		if i > 0 {
			dst = append(dst, ' ')
		}
		dst = append(dst, x.Key...)
		dst = append(dst, '=')
		dst = appendCEFValue(dst, x.Value)
	}
	return dst
}

func appendCEFHeader(dst []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		switch b := s[i]; b {
		case '\\', '|':
			dst = append(dst, '\\', b)
		case '\r', '\n':
			dst = append(dst, ' ')
		default:
			dst = append(dst, b)
		}
	}
	return dst
}

func appendCEFValue(dst []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		switch b := s[i]; b {
		case '\\', '=':
			dst = append(dst, '\\', b)
		case '\n':
			dst = append(dst, '\\', 'n')
		case '\r':
			dst = append(dst, '\\', 'r')
		default:
			dst = append(dst, b)
		}
	}
	return dst
}

func validCEFKey(k string) bool {
	if k == "" {
		return false
	}
	for i := 0; i < len(k); i++ {
		b := k[i]
		if !('a' <= b && b <= 'z' || 'A' <= b && b <= 'Z' || '0' <= b && b <= '9' || b == '_' || b == '-' || b == '.') {
			return false
		}
	}
	return true
}
