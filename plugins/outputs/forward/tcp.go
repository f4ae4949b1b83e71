package forward

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/metlog/metlog/internal/ratelog"
	"github.com/metlog/metlog/internal/tlsconf"
	"github.com/metlog/metlog/message"
	"github.com/metlog/metlog/pipeline"
)

var (
	_ pipeline.Output    = (*TCP)(nil)
	_ pipeline.Validator = (*TCP)(nil)
	_ pipeline.Starter   = (*TCP)(nil)
	_ pipeline.Stopper   = (*TCP)(nil)
)

// maxKeptBuffer is the largest encode buffer kept between batches; a
// larger one, left by an unusually large batch, is released.
const maxKeptBuffer = 8 << 20

// errStopped is returned by Deliver after Stop.
var errStopped = errors.New("the output is stopped")

// TCP forwards messages over one TCP (or TLS) connection in Heka stream
// framing, one write per batch. It connects when it first has something to
// send, so a peer that is down does not keep metlogd from starting; after
// any failure it closes the connection and returns the error, and the
// pipeline retries the same batch after a backoff, over a new connection.
// Delivery is at least once: a batch that failed part way is sent again
// whole, so the receiver may see its first messages twice.
type TCP struct {
	// Address is the peer's host:port.
	Address string `toml:"address"`
	// TLS configures TLS, and with cert_file and key_file mutual TLS.
	TLS tlsconf.Config `toml:"tls"`
	// HMAC signs every frame.
	HMAC HMAC `toml:"hmac"`
	// ConnectTimeout bounds a connection attempt, TLS handshake included
	// (default 5s).
	ConnectTimeout time.Duration `toml:"connect_timeout"`
	// WriteTimeout bounds the write of one batch (default 30s): a peer
	// that stops reading fails the batch instead of stalling the output.
	WriteTimeout time.Duration `toml:"write_timeout"`
	// KeepAlive is the TCP keep-alive period (default 30s; 0 turns
	// keep-alives off).
	KeepAlive time.Duration `toml:"keepalive"`
	// MaxMessageSize drops (and counts) messages whose encoding is larger,
	// since the peer would discard them; 0 means [metlogd]
	// max_message_size, the receiving router's default limit too.
	MaxMessageSize pipeline.ByteSize `toml:"max_message_size"`

	log     *slog.Logger
	metrics *pipeline.Metrics
	warn    *ratelog.Limiter
	signer  *message.Signer
	tlsConf *tls.Config
	maxSize int

	// The batch encoded in buf, so that a retry of the same batch neither
	// encodes it again nor counts its drops twice. Deliver is called from
	// one goroutine at a time, so these need no lock.
	buf      []byte
	encFirst *message.Message
	encLast  *message.Message
	encLen   int

	mu      sync.Mutex // guards conn and stopped, against Stop
	conn    *tcpConn
	stopped bool
}

// NewTCP returns a tcp_output with its defaults.
func NewTCP() *TCP {
	return &TCP{
		ConnectTimeout: 5 * time.Second,
		WriteTimeout:   30 * time.Second,
		KeepAlive:      30 * time.Second,
	}
}

// Validate implements pipeline.Validator.
func (t *TCP) Validate() error {
	var errs []error
	if err := validateAddress(t.Address); err != nil {
		errs = append(errs, err)
	}
	if err := t.TLS.ValidateClient(); err != nil {
		errs = append(errs, err)
	}
	if _, err := t.HMAC.signer(); err != nil {
		errs = append(errs, err)
	}
	if t.ConnectTimeout <= 0 {
		errs = append(errs, fmt.Errorf("connect_timeout: %v is not a positive duration", t.ConnectTimeout))
	}
	if t.WriteTimeout <= 0 {
		errs = append(errs, fmt.Errorf("write_timeout: %v is not a positive duration", t.WriteTimeout))
	}
	if t.KeepAlive < 0 {
		errs = append(errs, fmt.Errorf("keepalive: %v is negative; 0 turns keep-alives off", t.KeepAlive))
	}
	if t.MaxMessageSize != 0 && t.MaxMessageSize < 256 {
		errs = append(errs, fmt.Errorf("max_message_size: %d bytes is below 256; 0 means [metlogd] max_message_size", t.MaxMessageSize))
	}
	return errors.Join(errs...)
}

// Start implements pipeline.Starter. It prepares TLS and signing; it does
// not connect.
func (t *TCP) Start(ctx context.Context, s *pipeline.Settings) error {
	t.log, t.metrics = s.Logger, s.Metrics
	if t.log == nil {
		t.log = slog.Default()
	}
	if t.metrics == nil {
		t.metrics = &pipeline.Metrics{}
	}
	t.warn = ratelog.New(t.log, time.Minute)
	var err error
	if t.signer, err = t.HMAC.signer(); err != nil {
		return err
	}
	if t.TLS.On() {
		if t.tlsConf, err = t.TLS.Client(); err != nil {
			return err
		}
	}
	t.maxSize = int(t.MaxMessageSize)
	if t.maxSize == 0 {
		t.maxSize = int(s.Global.MaxMessageSize)
	}
	t.mu.Lock()
	t.stopped = false
	t.mu.Unlock()
	return nil
}

// Deliver implements pipeline.Output: it frames the batch into one buffer
// and writes it with one write. Messages over max_message_size are
// dropped and counted; the others are sent.
func (t *TCP) Deliver(ctx context.Context, batch []*message.Message) error {
	if len(batch) == 0 {
		return nil
	}
	if !t.encoded(batch) {
		t.encode(batch)
	}
	if len(t.buf) == 0 {
		t.forget()
		return nil // every message was too large
	}
	c, err := t.connection(ctx)
	if err != nil {
		return err
	}
	if err := c.SetWriteDeadline(time.Now().Add(t.WriteTimeout)); err != nil {
		t.drop(c)
		return fmt.Errorf("write to %s: %w", t.Address, err)
	}
	// Shutdown (ctx) interrupts a write to a peer that stopped reading.
	stop := context.AfterFunc(ctx, func() { _ = c.SetWriteDeadline(time.Unix(1, 0)) })
	n, err := c.Write(t.buf)
	stop()
	if err != nil {
		t.drop(c)
		return fmt.Errorf("write to %s (%d of %d bytes written; the batch will be sent again whole): %w", t.Address, n, len(t.buf), err)
	}
	t.forget()
	return nil
}

// encoded reports whether buf holds batch already: it is being retried.
func (t *TCP) encoded(batch []*message.Message) bool {
	return t.encLen == len(batch) && t.encFirst == batch[0] && t.encLast == batch[len(batch)-1]
}

// encode frames batch into buf, leaving out messages over the maximum
// size.
func (t *TCP) encode(batch []*message.Message) {
	buf := t.buf[:0]
	for _, m := range batch {
		start := len(buf)
		buf = message.AppendFrame(buf, m, t.signer)
		if size := len(buf) - start - 3 - int(buf[start+1]); size > t.maxSize {
			buf = buf[:start]
			t.metrics.Drop(pipeline.DropTooLarge, 1)
			t.warn.Warn("too_large", "a message larger than max_message_size is dropped", "size", size, "max_message_size", t.maxSize)
		}
	}
	t.buf = buf
	t.encFirst, t.encLast, t.encLen = batch[0], batch[len(batch)-1], len(batch)
}

// forget marks buf as free for the next batch, releasing it when an
// unusually large batch left it big.
func (t *TCP) forget() {
	t.encFirst, t.encLast, t.encLen = nil, nil, 0
	if cap(t.buf) > maxKeptBuffer {
		t.buf = nil
	}
}

// connection returns the current connection when the peer has not closed
// it, or a new one.
func (t *TCP) connection(ctx context.Context) (*tcpConn, error) {
	t.mu.Lock()
	c, stopped := t.conn, t.stopped
	t.mu.Unlock()
	if stopped {
		return nil, errStopped
	}
	if c != nil {
		if !c.gone() {
			return c, nil
		}
		// Never write a batch into a connection the peer has closed: the
		// write would succeed and the batch be lost.
		c.report(t)
		t.drop(c)
	}
	c, err := t.dial(ctx)
	if err != nil {
		return nil, err
	}
	t.mu.Lock()
	stopped = t.stopped
	if !stopped {
		t.conn = c
	}
	t.mu.Unlock()
	if stopped {
		c.close(true)
		return nil, errStopped
	}
	return c, nil
}

// dial connects to the peer, and starts the goroutine that notices when it
// closes the connection.
func (t *TCP) dial(ctx context.Context) (*tcpConn, error) {
	keepAlive := t.KeepAlive
	if keepAlive == 0 {
		keepAlive = -1 // net.Dialer: negative turns keep-alives off
	}
	d := &net.Dialer{Timeout: t.ConnectTimeout, KeepAlive: keepAlive}
	var conn net.Conn
	var err error
	if t.tlsConf != nil {
		conn, err = t.dialTLS(ctx, d)
	} else {
		conn, err = d.DialContext(ctx, "tcp", t.Address)
	}
	if err != nil {
		return nil, fmt.Errorf("connect to %s: %w", t.Address, err)
	}
	raw := conn
	if tc, ok := conn.(*tls.Conn); ok {
		raw = tc.NetConn()
	}
	c := &tcpConn{Conn: conn, sock: raw, eof: make(chan struct{})}
	if tcp, ok := raw.(*net.TCPConn); ok {
		c.raw, _ = tcp.SyscallConn()
	}
	go c.read(t)
	t.log.Info("connected", "address", t.Address, "local", conn.LocalAddr().String(), "tls", t.tlsConf != nil)
	return c, nil
}

// dialTLS connects with TLS. In TLS 1.3 the client's handshake ends
// before the server has checked the client's certificate, so a server
// that rejects it does so after Dial has succeeded, and the first batch
// would be written into a connection about to be closed, and lost. When
// the server asked for a certificate, dialTLS therefore waits for its
// verdict: the first session ticket (a Go or OpenSSL server sends it once
// the client is accepted) or an alert; a server that sends no ticket is
// waited for a few handshake times, then trusted.
func (t *TCP) dialTLS(ctx context.Context, d *net.Dialer) (net.Conn, error) {
	conf := t.tlsConf.Clone()
	var asked bool // the server asked for a client certificate
	certs := conf.Certificates
	conf.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
		asked = true
		if len(certs) > 0 {
			return &certs[0], nil
		}
		return &tls.Certificate{}, nil // none: the server decides
	}
	w := &ticketWatch{}
	conf.ClientSessionCache = w
	start := time.Now()
	conn, err := (&tls.Dialer{NetDialer: d, Config: conf}).DialContext(ctx, "tcp", t.Address)
	if err != nil {
		return nil, err
	}
	tc := conn.(*tls.Conn)
	if !asked || tc.ConnectionState().Version < tls.VersionTLS13 {
		return tc, nil
	}
	wait := min(max(4*time.Since(start), 100*time.Millisecond), t.ConnectTimeout)
	if err := w.confirm(ctx, tc, wait); err != nil {
		_ = tc.Close()
		return nil, fmt.Errorf("the server did not accept the client certificate: %w", err)
	}
	return tc, nil
}

// ticketWatch is a session cache that caches nothing: its Put tells that
// the server sent a session ticket, so it accepted the client.
type ticketWatch struct {
	got  atomic.Bool
	conn *tls.Conn // being read by confirm
}

// Get implements tls.ClientSessionCache; it never resumes a session.
func (w *ticketWatch) Get(string) (*tls.ClientSessionState, bool) { return nil, false }

// Put implements tls.ClientSessionCache: it ends confirm's read.
func (w *ticketWatch) Put(_ string, cs *tls.ClientSessionState) {
	if cs != nil && w.got.CompareAndSwap(false, true) && w.conn != nil {
		_ = w.conn.SetReadDeadline(time.Unix(1, 0))
	}
}

// confirm reads from c until a session ticket arrives, the server sends an
// alert or closes (the error returned), or wait passes.
func (w *ticketWatch) confirm(ctx context.Context, c *tls.Conn, wait time.Duration) error {
	w.conn = c // Put runs within the Read below, on this goroutine
	defer func() { w.conn = nil }()
	if err := c.SetReadDeadline(time.Now().Add(wait)); err != nil {
		return err
	}
	stop := context.AfterFunc(ctx, func() { _ = c.SetReadDeadline(time.Unix(1, 0)) })
	var b [1]byte
	_, err := c.Read(b[:]) // data would be unexpected, but means accepted
	stop()
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if err != nil && !errors.Is(err, os.ErrDeadlineExceeded) {
		return err
	}
	return c.SetReadDeadline(time.Time{})
}

// drop closes c, which failed, and forgets it.
func (t *TCP) drop(c *tcpConn) {
	t.mu.Lock()
	if t.conn == c {
		t.conn = nil
	}
	t.mu.Unlock()
	c.close(false)
}

// Stop implements pipeline.Stopper: it closes the connection. It is
// idempotent and safe without Start.
func (t *TCP) Stop(ctx context.Context) error {
	t.mu.Lock()
	c := t.conn
	t.conn, t.stopped = nil, true
	t.mu.Unlock()
	if c != nil {
		c.close(true)
	}
	return nil
}

// tcpConn is one connection to the peer, with a goroutine reading from it:
// the peer sends nothing, so the read returns only when the connection
// ends, which tells Deliver not to write into it.
type tcpConn struct {
	net.Conn                 // the TCP or TLS connection written to
	sock     net.Conn        // the TCP socket: Conn, or what TLS runs over
	raw      syscall.RawConn // sock's descriptor, for the state check; nil when unknown
	eof      chan struct{}   // closed when the reader has returned
	closing  atomic.Bool     // set when this side closes: the reader's error is no news
	reported atomic.Bool     // the peer's close was counted
	once     sync.Once
}

// read discards what the peer sends until the connection ends; when the
// peer ended it, it counts the error and closes the socket.
func (c *tcpConn) read(t *TCP) {
	defer close(c.eof)
	_, err := io.Copy(io.Discard, c.Conn)
	if c.closing.Load() {
		return
	}
	c.report(t)
	if err == nil {
		err = io.EOF
	}
	t.log.Debug("the peer closed the connection", "address", t.Address, "err", err)
	_ = c.sock.Close() // release it now; Deliver will not use it again
}

// report counts, once, that the peer closed the connection.
func (c *tcpConn) report(t *TCP) {
	if c.reported.CompareAndSwap(false, true) {
		t.metrics.Errors.Add(1)
		t.warn.Warn("peer_closed", "the peer closed the connection; reconnecting for the next batch", "address", t.Address)
	}
}

// gone reports whether the peer is known to have closed the connection:
// the reader has returned, or (on Linux) the socket has left the
// ESTABLISHED state, which the kernel knows as soon as the peer's FIN or
// RST arrives, before the reader goroutine has run.
func (c *tcpConn) gone() bool {
	select {
	case <-c.eof:
		return true
	default:
	}
	return c.raw != nil && peerClosed(c.raw)
}

// close closes the connection and waits for the reader to return.
// Graceful, a TLS connection ends with a close_notify alert; otherwise (it
// failed) the socket is just closed.
func (c *tcpConn) close(graceful bool) {
	c.once.Do(func() {
		c.closing.Store(true)
		if graceful {
			_ = c.Conn.Close()
		} else {
			_ = c.sock.Close()
		}
	})
	<-c.eof
}
