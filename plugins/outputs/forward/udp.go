package forward

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"syscall"
	"time"

	"github.com/metlog/metlog/internal/ratelog"
	"github.com/metlog/metlog/message"
	"github.com/metlog/metlog/pipeline"
)

var (
	_ pipeline.Output    = (*UDP)(nil)
	_ pipeline.Validator = (*UDP)(nil)
	_ pipeline.Starter   = (*UDP)(nil)
	_ pipeline.Stopper   = (*UDP)(nil)
)

// MaxDatagram is the largest UDP payload over IPv4 (65,535 bytes less the
// IP and UDP headers): frames larger than this are dropped.
const MaxDatagram = 65507

// UDP forwards each message as one framed datagram, fire and forget: a
// message sent is delivered as far as the output can know. Messages whose
// frame exceeds MaxDatagram are dropped and counted; refusals reported by
// ICMP (nothing listening at the address) are counted as errors, and the
// batch still counts as delivered.
type UDP struct {
	// Address is the peer's host:port.
	Address string `toml:"address"`
	// HMAC signs every frame.
	HMAC HMAC `toml:"hmac"`

	log     *slog.Logger
	metrics *pipeline.Metrics
	warn    *ratelog.Limiter
	signer  *message.Signer
	buf     []byte

	// Where a batch that failed part way resumes when it is retried, so
	// that datagrams already sent are not sent twice. Deliver is called
	// from one goroutine at a time, so these need no lock.
	resumeFirst *message.Message
	resumeLast  *message.Message
	resumeLen   int
	resumeAt    int

	mu      sync.Mutex // guards conn and stopped, against Stop
	conn    *net.UDPConn
	stopped bool
}

// NewUDP returns a udp_output with its defaults.
func NewUDP() *UDP { return &UDP{} }

// Validate implements pipeline.Validator.
func (u *UDP) Validate() error {
	var errs []error
	if err := validateAddress(u.Address); err != nil {
		errs = append(errs, err)
	}
	if _, err := u.HMAC.signer(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// Start implements pipeline.Starter. It prepares signing; the socket is
// opened (and the address resolved) when there is something to send, so
// that a name that does not resolve yet does not keep metlogd from
// starting.
func (u *UDP) Start(ctx context.Context, s *pipeline.Settings) error {
	u.log, u.metrics = s.Logger, s.Metrics
	if u.log == nil {
		u.log = slog.Default()
	}
	if u.metrics == nil {
		u.metrics = &pipeline.Metrics{}
	}
	u.warn = ratelog.New(u.log, time.Minute)
	var err error
	if u.signer, err = u.HMAC.signer(); err != nil {
		return err
	}
	u.mu.Lock()
	u.stopped = false
	u.mu.Unlock()
	return nil
}

// Deliver implements pipeline.Output: one datagram per message. A send
// error other than a refusal fails the batch; its retry resumes after the
// datagrams already sent, on a new socket.
func (u *UDP) Deliver(ctx context.Context, batch []*message.Message) error {
	if len(batch) == 0 {
		return nil
	}
	conn, err := u.connection()
	if err != nil {
		return err
	}
	from := 0
	if u.resumeLen == len(batch) && u.resumeFirst == batch[0] && u.resumeLast == batch[len(batch)-1] {
		from = u.resumeAt
	}
	// Shutdown (ctx) interrupts a send that waits for buffer space.
	if err := conn.SetWriteDeadline(time.Time{}); err != nil {
		u.drop(conn)
		return fmt.Errorf("send to %s: %w", u.Address, err)
	}
	stop := context.AfterFunc(ctx, func() { _ = conn.SetWriteDeadline(time.Unix(1, 0)) })
	defer stop()
	for i := from; i < len(batch); i++ {
		u.buf = message.AppendFrame(u.buf[:0], batch[i], u.signer)
		if len(u.buf) > MaxDatagram {
			u.metrics.Drop(pipeline.DropTooLarge, 1)
			u.warn.Warn("too_large", "a message too large for a datagram is dropped", "size", len(u.buf), "max", MaxDatagram)
			continue
		}
		if err := u.send(conn, u.buf); err != nil {
			u.resumeFirst, u.resumeLast, u.resumeLen, u.resumeAt = batch[0], batch[len(batch)-1], len(batch), i
			u.drop(conn)
			return fmt.Errorf("send to %s (%d of %d messages sent): %w", u.Address, i, len(batch), err)
		}
	}
	u.resumeFirst, u.resumeLast, u.resumeLen, u.resumeAt = nil, nil, 0, 0
	if cap(u.buf) > 4*MaxDatagram {
		u.buf = nil
	}
	return nil
}

// send writes one datagram. A refusal is what the kernel learnt from an
// ICMP "port unreachable" answering an earlier datagram; the datagram in
// hand was not sent, so it is sent once more.
func (u *UDP) send(conn *net.UDPConn, b []byte) error {
	for range 2 {
		_, err := conn.Write(b)
		if !errors.Is(err, syscall.ECONNREFUSED) {
			return err
		}
		u.metrics.Errors.Add(1)
		u.warn.Warn("refused", "the peer refused a datagram (is anything listening?); sending goes on", "address", u.Address)
	}
	return nil
}

// connection returns the socket, opening it when needed.
func (u *UDP) connection() (*net.UDPConn, error) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.stopped {
		return nil, errStopped
	}
	if u.conn != nil {
		return u.conn, nil
	}
	addr, err := net.ResolveUDPAddr("udp", u.Address)
	if err != nil {
		return nil, fmt.Errorf("resolve %s: %w", u.Address, err)
	}
	conn, err := net.DialUDP("udp", nil, addr)
	if err != nil {
		return nil, fmt.Errorf("open a socket to %s: %w", u.Address, err)
	}
	u.conn = conn
	return conn, nil
}

// drop closes conn and forgets it, so that the next batch opens a new
// socket (resolving the address again).
func (u *UDP) drop(conn *net.UDPConn) {
	u.mu.Lock()
	if u.conn == conn {
		u.conn = nil
	}
	u.mu.Unlock()
	_ = conn.Close()
}

// Stop implements pipeline.Stopper: it closes the socket. It is
// idempotent and safe without Start.
func (u *UDP) Stop(ctx context.Context) error {
	u.mu.Lock()
	conn := u.conn
	u.conn, u.stopped = nil, true
	u.mu.Unlock()
	if conn != nil {
		return conn.Close()
	}
	return nil
}
