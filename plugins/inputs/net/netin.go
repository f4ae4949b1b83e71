// Package netin holds metlogd's network inputs, the ways applications send
// messages to the router:
//
//	udp_input   one message per datagram: Heka frames, metlog JSON (what
//	            metlog-py sends) or a plain line, told apart by the first byte
//	tcp_input   a stream of Heka frames, or newline-delimited metlog JSON,
//	            canonical JSON or plain lines; TLS and mutual TLS
//	unix_input  the same as tcp_input on a unix stream socket
//
// Every input bounds what it holds (max_message_size, max_line, the
// datagram buffer, max_connections) and counts what it rejects, each
// rejected piece of input exactly once:
//
//	metlog_decode_errors_total           malformed frames, garbage, JSON that does not decode
//	metlog_dropped_total{too_large}      frames, lines and datagrams over the limit
//	metlog_dropped_total{unauthorized}   frames with an unknown signer or a bad HMAC, or unsigned
//	                                     ones where require_signed is set
//	metlog_errors_total                  accept failures, connections refused over
//	                                     max_connections, failed TLS handshakes
//	metlog_input_bytes_total             bytes read (after TLS)
//
// Framed messages may be signed with an HMAC (Heka's scheme): the signers
// table holds the keys by signer name and key version. The package is named
// netin, not net, so that it does not shadow the standard library's.
package netin

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/metlog/metlog/internal/ratelog"
	"github.com/metlog/metlog/message"
	"github.com/metlog/metlog/pipeline"
	"github.com/metlog/metlog/plugins/codecs"
)

func init() {
	pipeline.Register(pipeline.Plugin{
		Type:    "udp_input",
		Kind:    pipeline.KindInput,
		New:     func() any { return NewUDP() },
		Summary: "receives one message per UDP datagram: Heka frames, metlog JSON or plain lines, detected by the first byte",
	})
	pipeline.Register(pipeline.Plugin{
		Type:    "tcp_input",
		Kind:    pipeline.KindInput,
		New:     func() any { return NewTCP() },
		Summary: "receives Heka frames or newline-delimited JSON or lines over TCP, with optional TLS, mutual TLS and HMAC verification",
	})
	pipeline.Register(pipeline.Plugin{
		Type:    "unix_input",
		Kind:    pipeline.KindInput,
		New:     func() any { return NewUnix() },
		Summary: "receives Heka frames or newline-delimited JSON or lines on a unix stream socket",
	})
}

// Formats an input reads.
const (
	formatAuto     = "auto"      // udp_input: by the first byte of each datagram
	formatHeka     = "heka"      // Heka stream framing
	formatMetlog   = "metlog"    // metlog-py's JSON envelope
	formatJSON     = "json"      // canonical JSON
	formatAutoJSON = "auto_json" // metlog JSON or canonical JSON, by its keys
	formatPlain    = "plain"     // the bytes as the payload
)

// lineDecoder returns the decoder of an unframed format.
func lineDecoder(format string) pipeline.Decoder {
	switch format {
	case formatMetlog:
		return codecs.MetlogDecoder{}
	case formatJSON:
		return codecs.JSONDecoder{}
	case formatAutoJSON:
		return codecs.AutoJSONDecoder{}
	case formatPlain:
		return codecs.PlainDecoder{}
	}
	return nil
}

// maxFrameOverhead is the most framing a Heka frame adds to its message:
// the separators, the header length byte and a header of at most 255 bytes.
const maxFrameOverhead = 3 + message.MaxHeaderSize

// logEvery is how often each kind of bad input is logged at most.
const logEvery = 10 * time.Second

// Signers holds the HMAC keys framed messages are verified against. Each
// key is named as in Heka, "<signer>_<version>": the signer name the
// client writes into frame headers, an underscore, and the key version.
//
//	[in.signers]
//	ops_1 = "${OPS_KEY_1}"
//	ops_2 = "${OPS_KEY_2}"
//
// Heka's table form is accepted too: [in.signers.ops_1] hmac_key = "...".
type Signers map[string]SignerKey

// SignerKey is one HMAC key of Signers, written as a string or, as Heka
// did, as a table with an hmac_key.
type SignerKey string

// UnmarshalTOML reads a key as a string or as a table {hmac_key = "..."}.
func (k *SignerKey) UnmarshalTOML(v any) error {
	switch v := v.(type) {
	case string:
		*k = SignerKey(v)
		return nil
	case map[string]any:
		for name := range v {
			if name != "hmac_key" {
				return fmt.Errorf("a signer table takes only hmac_key, not %q", name)
			}
		}
		s, ok := v["hmac_key"].(string)
		if !ok {
			return errors.New(`a signer table needs hmac_key = "the key"`)
		}
		*k = SignerKey(s)
		return nil
	}
	return fmt.Errorf("a signer's key must be a string, not %T", v)
}

// keyRing parses the names and returns the keys as a KeyRing. Its errors
// start with "signers: ", so that the configuration points at the table.
func (s Signers) keyRing() (*message.KeyRing, error) {
	kr := &message.KeyRing{}
	names := make([]string, 0, len(s))
	for name := range s {
		names = append(names, name)
	}
	sort.Strings(names)
	var errs []error
	for _, name := range names {
		signer, version, ok := splitSignerName(name)
		if !ok {
			errs = append(errs, fmt.Errorf(`signers: %q is not "<signer>_<version>", such as "ops_1"`, name))
			continue
		}
		if s[name] == "" {
			errs = append(errs, fmt.Errorf("signers: the key of %q is empty", name))
			continue
		}
		kr.Add(signer, version, []byte(s[name]))
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return kr, nil
}

// splitSignerName splits "ops_1" into "ops" and 1. The signer name may
// itself hold underscores: the version follows the last one.
func splitSignerName(name string) (string, uint32, bool) {
	i := strings.LastIndexByte(name, '_')
	if i <= 0 || i == len(name)-1 {
		return "", 0, false
	}
	v, err := strconv.ParseUint(name[i+1:], 10, 32)
	if err != nil {
		return "", 0, false
	}
	return name[:i], uint32(v), true
}

// auth decides whether a framed message is let in.
type auth struct {
	keys    *message.KeyRing
	require bool // refuse unsigned frames
}

// check returns nil when the frame may pass: it is signed with a known key
// and its HMAC matches, or it is unsigned and unsigned frames are allowed.
// A signed frame whose key is not configured is always refused, as in
// Heka: a signature that cannot be checked proves nothing.
func (a *auth) check(h *message.Header, msg []byte) error {
	if h.Signer == "" && !a.require {
		return nil
	}
	return a.keys.Verify(h, msg)
}

// reporter counts rejected input and logs it, rate-limited.
type reporter struct {
	m  *pipeline.Metrics
	rl *ratelog.Limiter
}

func newReporter(m *pipeline.Metrics, log *slog.Logger) reporter {
	return reporter{m: m, rl: ratelog.New(log, logEvery)}
}

func (r reporter) decodeError(remote any, err error) {
	r.m.DecodeErrors.Add(1)
	r.rl.Warn("decode", "input that is not a valid message was discarded", "remote", remote, "err", err)
}

func (r reporter) tooLarge(remote any, what string, size, limit int) {
	r.m.Drop(pipeline.DropTooLarge, 1)
	r.rl.Warn("too_large:"+what, "a "+what+" over the size limit was dropped", "remote", remote, "size", size, "limit", limit)
}

func (r reporter) unauthorized(remote any, err error) {
	r.m.Drop(pipeline.DropUnauthorized, 1)
	r.rl.Warn("unauthorized", "a message failed HMAC verification and was dropped", "remote", remote, "err", err)
}

// checkMaxSize validates a max_message_size-like setting (0: the default).
func checkMaxSize(key string, v pipeline.ByteSize) error {
	if v != 0 && (v < 256 || v > 64<<20) {
		return fmt.Errorf("%s: %d bytes is outside 256 B .. 64 MiB", key, v)
	}
	return nil
}

// checkHostPort validates a host:port address.
func checkHostPort(addr string) error {
	if addr == "" {
		return errors.New("address: must be host:port, such as 127.0.0.1:5565")
	}
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("address: %q is not host:port, such as 127.0.0.1:5565", addr)
	}
	if _, err := strconv.ParseUint(port, 10, 16); err != nil {
		return fmt.Errorf("address: port %q of %q is not a number 0..65535", port, addr)
	}
	return nil
}

// isBlank reports whether b holds only ASCII white space.
func isBlank(b []byte) bool {
	for _, c := range b {
		if c != ' ' && c != '\t' && c != '\r' && c != '\n' {
			return false
		}
	}
	return true
}
