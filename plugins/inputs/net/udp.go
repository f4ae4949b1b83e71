package netin

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/metlog/metlog/message"
	"github.com/metlog/metlog/pipeline"
)

// UDP is udp_input: it receives one message per datagram (or several Heka
// frames in one datagram).
type UDP struct {
	// Address is the host:port to listen on (default 127.0.0.1:5565).
	Address string `toml:"address"`
	// Format is auto (the default: a datagram starting with 0x1E holds
	// Heka frames, one starting with "{" metlog or canonical JSON, anything
	// else that is UTF-8 text is a plain line), or heka, metlog, json,
	// auto_json or plain for every datagram.
	Format string `toml:"format"`
	// ReceiveBuffer is the socket's receive buffer (SO_RCVBUF), what
	// absorbs bursts while the readers are busy (default 4 MiB; 0 leaves
	// the system default). The kernel caps it at net.core.rmem_max; the
	// input logs a warning with the size granted.
	ReceiveBuffer pipeline.ByteSize `toml:"receive_buffer"`
	// Readers is the number of goroutines reading the socket (default 2).
	Readers int `toml:"readers"`
	// MaxMessageSize bounds each message (default [metlogd]
	// max_message_size). A datagram may be larger by one frame's framing.
	MaxMessageSize pipeline.ByteSize `toml:"max_message_size"`
	// Signers are the HMAC keys framed datagrams are verified against.
	Signers Signers `toml:"signers"`
	// RequireSigned refuses unsigned frames, and with format auto, every
	// unframed datagram.
	RequireSigned bool `toml:"require_signed"`

	mu   sync.Mutex
	conn *net.UDPConn
	h    *datagramHandler
}

var (
	_ pipeline.Input     = (*UDP)(nil)
	_ pipeline.Validator = (*UDP)(nil)
	_ pipeline.Starter   = (*UDP)(nil)
	_ pipeline.Stopper   = (*UDP)(nil)
)

// NewUDP returns a udp_input with its defaults.
func NewUDP() *UDP {
	return &UDP{Address: "127.0.0.1:5565", Format: formatAuto, ReceiveBuffer: 4 << 20, Readers: 2}
}

// Validate implements pipeline.Validator.
func (u *UDP) Validate() error {
	var errs []error
	if err := checkHostPort(u.Address); err != nil {
		errs = append(errs, err)
	}
	switch u.Format {
	case formatAuto, formatHeka:
	case formatMetlog, formatJSON, formatAutoJSON, formatPlain:
		if u.RequireSigned {
			errs = append(errs, fmt.Errorf("require_signed: only framed messages are signed; with format %q nothing could pass (use format heka or auto)", u.Format))
		}
	default:
		errs = append(errs, fmt.Errorf("format: %q is not auto, heka, metlog, json, auto_json or plain", u.Format))
	}
	if u.ReceiveBuffer < 0 || u.ReceiveBuffer > 1<<30 {
		errs = append(errs, fmt.Errorf("receive_buffer: %d bytes is outside 0 .. 1 GiB", u.ReceiveBuffer))
	}
	if u.Readers < 1 || u.Readers > 64 {
		errs = append(errs, fmt.Errorf("readers: %d is not between 1 and 64", u.Readers))
	}
	if err := checkMaxSize("max_message_size", u.MaxMessageSize); err != nil {
		errs = append(errs, err)
	}
	if _, err := u.Signers.keyRing(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// Start implements pipeline.Starter: it opens the socket.
func (u *UDP) Start(ctx context.Context, s *pipeline.Settings) error {
	if err := u.Validate(); err != nil {
		return err
	}
	keys, _ := u.Signers.keyRing()
	maxSize := int(u.MaxMessageSize)
	if maxSize == 0 {
		maxSize = int(s.Global.MaxMessageSize)
	}
	var lc net.ListenConfig
	pc, err := lc.ListenPacket(ctx, "udp", u.Address)
	if err != nil {
		return fmt.Errorf("listen on udp %s: %w", u.Address, err)
	}
	conn := pc.(*net.UDPConn)
	if u.ReceiveBuffer > 0 {
		want := int(u.ReceiveBuffer)
		if err := conn.SetReadBuffer(want); err != nil {
			s.Logger.Warn("cannot set the UDP receive buffer", "want", want, "err", err)
		} else if got, ok := receiveBuffer(conn); ok && got < want {
			s.Logger.Warn("the kernel granted a smaller UDP receive buffer than configured; bursts may be lost (raise net.core.rmem_max)",
				"want", want, "granted", got)
		}
	}
	h := &datagramHandler{
		format: u.Format,
		max:    maxSize,
		auth:   auth{keys: keys, require: u.RequireSigned},
		rep:    newReporter(s.Metrics, s.Logger),
	}
	u.mu.Lock()
	u.conn, u.h = conn, h
	u.mu.Unlock()
	s.Logger.Info("listening", "network", "udp", "address", conn.LocalAddr().String(), "format", u.Format)
	return nil
}

// Addr returns the address the input listens on, or nil before Start.
func (u *UDP) Addr() net.Addr {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.conn == nil {
		return nil
	}
	return u.conn.LocalAddr()
}

// Run implements pipeline.Input: Readers goroutines read datagrams until
// ctx is done.
func (u *UDP) Run(ctx context.Context, d pipeline.Deliverer) error {
	u.mu.Lock()
	conn, h := u.conn, u.h
	u.mu.Unlock()
	if conn == nil {
		return errors.New("udp_input is not started")
	}
	if err := conn.SetReadDeadline(time.Time{}); err != nil {
		return fmt.Errorf("udp %s: %w", u.Address, err)
	}
	// A deadline in the past wakes every reader without closing the
	// socket, which Stop does; Run may be called again.
	stop := context.AfterFunc(ctx, func() { _ = conn.SetReadDeadline(time.Now()) })
	defer stop()
	var wg sync.WaitGroup
	errs := make([]error, u.Readers)
	for i := range u.Readers {
		wg.Go(func() { errs[i] = h.read(ctx, d, conn) })
	}
	wg.Wait()
	if ctx.Err() != nil || u.Addr() == nil { // ended, or stopped
		return nil
	}
	return errors.Join(errs...)
}

// Stop implements pipeline.Stopper: it closes the socket.
func (u *UDP) Stop(context.Context) error {
	u.mu.Lock()
	conn := u.conn
	u.conn = nil
	u.mu.Unlock()
	if conn == nil {
		return nil
	}
	return conn.Close()
}

// datagramHandler reads and decodes datagrams.
type datagramHandler struct {
	format string
	max    int // the largest message
	auth   auth
	rep    reporter
}

// bufSize is the size of a reader's buffer: one byte more than the largest
// datagram accepted (a message and one frame's framing, at most the largest
// UDP payload), so that a longer one is seen to be truncated.
func (h *datagramHandler) bufSize() int {
	return min(h.max+maxFrameOverhead, 65535) + 1
}

// read reads datagrams from conn until ctx is done or the socket closes.
func (h *datagramHandler) read(ctx context.Context, d pipeline.Deliverer, conn *net.UDPConn) error {
	buf := make([]byte, h.bufSize())
	var pause time.Duration
	for {
		n, from, err := conn.ReadFromUDPAddrPort(buf)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			if errors.Is(err, net.ErrClosed) {
				return fmt.Errorf("udp %s: the socket was closed", conn.LocalAddr())
			}
			if errors.Is(err, os.ErrDeadlineExceeded) {
				return nil // Run's deadline, as ctx ends
			}
			// Something transient (an ICMP error reported on the socket,
			// say): count it, and do not spin if it repeats.
			h.rep.m.Errors.Add(1)
			h.rep.rl.Warn("read", "reading a datagram failed", "err", err)
			pause = min(max(2*pause, 5*time.Millisecond), time.Second)
			select {
			case <-time.After(pause):
			case <-ctx.Done():
				return nil
			}
			continue
		}
		pause = 0
		h.rep.m.Bytes.Add(uint64(n))
		if n == len(buf) {
			h.rep.tooLarge(from, "datagram", n, len(buf)-1)
			continue
		}
		if err := h.handle(ctx, d, buf[:n], from); err != nil {
			return nil // ctx ended while Deliver waited
		}
	}
}

// handle decodes one datagram and delivers its messages. It returns an
// error only when Deliver does (ctx is done).
func (h *datagramHandler) handle(ctx context.Context, d pipeline.Deliverer, b []byte, from netip.AddrPort) error {
	if len(b) == 0 {
		return nil // an empty datagram: nothing to say, in any format
	}
	format := h.format
	if format == formatAuto {
		format = classify(b)
	}
	if format == formatHeka {
		return h.frames(ctx, d, b, from)
	}
	if isBlank(b) {
		return nil // white space is not a message
	}
	if h.auth.require {
		h.rep.unauthorized(from, message.ErrUnsigned)
		return nil
	}
	if len(b) > h.max {
		h.rep.tooLarge(from, "datagram", len(b), h.max)
		return nil
	}
	m, err := decodeUnframed(h.format, b)
	if err != nil {
		h.rep.decodeError(from, err)
		return nil
	}
	return d.Deliver(ctx, m)
}

var errBinary = errors.New("neither a frame nor JSON nor UTF-8 text")

// decodeUnframed decodes a datagram or line in an unframed format, or
// with format auto, as JSON when it starts with "{" and as a plain line
// when it is UTF-8 text.
func decodeUnframed(format string, b []byte) (*message.Message, error) {
	if format == formatAuto {
		if format = classify(b); format != formatAutoJSON { // a frame in a text stream is not text
			format = formatPlain
			if !utf8.Valid(b) {
				return nil, errBinary
			}
		}
	}
	m := new(message.Message)
	if err := lineDecoder(format).Decode(b, m); err != nil {
		return nil, err
	}
	return m, nil
}

// classify tells what an auto-detected datagram holds: Heka frames when it
// starts with the record separator, JSON when it starts with "{" (after
// white space), a plain line otherwise.
func classify(b []byte) string {
	if len(b) > 0 && b[0] == message.RecordSeparator {
		return formatHeka
	}
	for _, c := range b {
		switch c {
		case ' ', '\t', '\r', '\n':
		case '{':
			return formatAutoJSON
		default:
			return formatPlain
		}
	}
	return formatPlain
}

// frames delivers the Heka frames of one datagram. A frame that does not
// parse ends the datagram: the rest is counted once and discarded. A frame
// that fails verification or whose message does not decode is counted and
// skipped; the frames after it still count.
func (h *datagramHandler) frames(ctx context.Context, d pipeline.Deliverer, b []byte, from netip.AddrPort) error {
	for len(b) > 0 {
		hdr, msg, n, err := message.ParseFrame(b, h.max)
		if err != nil {
			if errors.Is(err, message.ErrTooLarge) {
				h.rep.tooLarge(from, "frame", int(hdr.MessageLength), h.max)
			} else {
				h.rep.decodeError(from, err)
			}
			return nil
		}
		b = b[n:]
		if err := h.auth.check(&hdr, msg); err != nil {
			h.rep.unauthorized(from, err)
			continue
		}
		m := new(message.Message)
		if err := m.Unmarshal(msg); err != nil {
			h.rep.decodeError(from, err)
			continue
		}
		if err := d.Deliver(ctx, m); err != nil {
			return err
		}
	}
	return nil
}
