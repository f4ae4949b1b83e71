package client

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cenkalti/backoff/v5"
	"github.com/metlog/metlog/message"
)

// A Sender delivers encoded messages. Senders that support it also
// implement Flush(ctx) error (see Client.Flush) and Datagram() bool, which
// reports that each Send is one datagram rather than bytes on a stream.
type Sender interface {
	// Send delivers b or queues a copy of it; it must not keep b after it
	// returns.
	Send(b []byte) error
	// Close delivers what is queued, within the sender's close timeout,
	// and releases its resources.
	Close() error
}

// Errors a sender returns from Send.
var (
	ErrQueueFull = errors.New("send queue is full; message dropped")
	ErrClosed    = errors.New("sender is closed")
)

// Flush waits until every message sent so far has been written to the
// transport, or ctx is done. Senders that do not queue return at once.
func (c *Client) Flush(ctx context.Context) error {
	if f, ok := c.sender.(interface{ Flush(context.Context) error }); ok {
		return f.Flush(ctx)
	}
	return nil
}

// senderURL is a parsed SenderConfig.URL.
type senderURL struct {
	scheme string   // udp, tcp, unix, unixgram, stdout, file
	addrs  []string // host:port pairs, or one path
}

func parseSenderURL(raw string) (senderURL, error) {
	if raw == "" {
		raw = DefaultSenderURL
	}
	if raw == "stdout" || raw == "stdout:" {
		return senderURL{scheme: "stdout"}, nil
	}
	bad := func(why string) (senderURL, error) {
		return senderURL{}, fmt.Errorf("sender url %q: %s", raw, why)
	}
	// udp and tcp are read by hand: url.Parse rejects a list of bracketed
	// IPv6 addresses ("udp://[::1]:5565,[::1]:5566").
	for _, scheme := range [...]string{"udp", "tcp"} {
		hosts, ok := strings.CutPrefix(raw, scheme+"://")
		if !ok {
			continue
		}
		if hosts == "" {
			return bad("want " + scheme + "://host:port")
		}
		if strings.ContainsAny(hosts, "/?#@") {
			return bad("a " + scheme + " url takes only host:port pairs")
		}
		addrs := strings.Split(hosts, ",")
		if scheme == "tcp" && len(addrs) > 1 {
			return bad("tcp takes one destination; use several clients or udp for fan-out")
		}
		for _, a := range addrs {
			_, port, err := net.SplitHostPort(a)
			if err != nil {
				return bad(fmt.Sprintf("%q is not host:port", a))
			}
			if p, err := strconv.ParseUint(port, 10, 16); err != nil || p == 0 {
				return bad(fmt.Sprintf("%q: port %q is not a number 1..65535", a, port))
			}
		}
		return senderURL{scheme: scheme, addrs: addrs}, nil
	}
	const schemes = "scheme must be udp, tcp, unix, unixgram, file or stdout"
	u, err := url.Parse(raw)
	if err != nil {
		if !strings.Contains(raw, "://") {
			return bad(schemes) // most likely none: "127.0.0.1:5565"
		}
		return senderURL{}, fmt.Errorf("sender url %q: %w", raw, err)
	}
	switch u.Scheme {
	case "unix", "unixgram", "file":
		path := u.Path
		if u.Opaque != "" { // file:relative/path
			path = u.Opaque
		}
		if u.Host != "" && u.Host != "localhost" {
			return bad("want " + u.Scheme + ":///absolute/path or " + u.Scheme + ":relative/path")
		}
		if path == "" {
			return bad("no path")
		}
		return senderURL{scheme: u.Scheme, addrs: []string{path}}, nil
	case "stdout":
		return senderURL{scheme: "stdout"}, nil
	}
	return bad(schemes)
}

// newSender builds the sender a SenderConfig describes. Its network
// connection is made in the background, so New does not fail or wait when
// the router is down.
func newSender(sc SenderConfig, onError func(error)) (Sender, error) {
	u, err := parseSenderURL(sc.URL)
	if err != nil {
		return nil, err
	}
	var t transport
	switch u.scheme {
	case "udp", "unixgram":
		t = newDatagramTransport(u.scheme, u.addrs, sc.WriteTimeout)
	case "tcp", "unix":
		t = newStreamTransport(u.scheme, u.addrs[0], sc.WriteTimeout)
	case "file":
		t = &fileTransport{path: u.addrs[0]}
	case "stdout":
		t = &fileTransport{file: os.Stdout}
	}
	return newAsyncSender(t, sc, onError), nil
}

// A transport writes batches of encoded messages. Only the async sender's
// writer goroutine calls it, except for interrupt.
type transport interface {
	// connect (re)establishes the transport; it is called before the first
	// write and after a failed one.
	connect() error
	// write writes the records data[start:ends[0]], data[ends[0]:ends[1]],
	// ... and returns how many of them it wrote whole. A datagram transport
	// that returns an error with n < len(ends) could not send record n to
	// any destination.
	write(data []byte, start int, ends []int) (int, error)
	// broken returns a channel that is closed when the peer ends the
	// connection, or nil when the transport cannot tell.
	broken() <-chan struct{}
	// interrupt makes a connect or write in progress, and every later one,
	// fail at once. It may be called from any goroutine.
	interrupt()
	// close releases the transport.
	close() error
	// datagram reports whether each record is sent as one datagram.
	datagram() bool
}

// errPeerClosed reports that the router ended a stream connection.
var errPeerClosed = errors.New("connection closed by the peer")

// senderStats are the counters a queueing sender keeps.
type senderStats struct {
	sent, dropped, errors uint64
	queued                int
}

// asyncSender queues encoded messages in a bounded buffer that one
// goroutine writes out in batches. The bound covers the batch being
// written as well as the queue behind it. A full buffer rejects (and the
// client counts the message as failed) or blocks, by configuration; it
// never grows.
//
// Every message accepted by Send is eventually counted once, as sent (the
// transport took it) or dropped (a datagram no destination took, or still
// pending when Close gave up).
type asyncSender struct {
	t       transport
	limit   int
	block   bool
	blockTO time.Duration
	closeTO time.Duration
	minWait time.Duration
	maxWait time.Duration
	linger  time.Duration
	onError func(error)

	mu        sync.Mutex
	buf       []byte // queued records, back to back
	ends      []int  // end offset of each record in buf
	pending   int    // bytes of the writer's batch not yet written
	inflight  bool   // the writer holds a batch
	closing   bool
	abandoned int           // records the writer gave up on when closed
	space     chan struct{} // closed when the writer frees room, then replaced
	idle      chan struct{} // closed when the queue and the writer are empty, then replaced

	wake chan struct{} // tells the writer there is work
	quit chan struct{} // closed by Close when it stops waiting for the writer
	done chan struct{} // closed when the writer has exited

	sent    atomic.Uint64
	dropped atomic.Uint64
	errs    atomic.Uint64
}

func newAsyncSender(t transport, sc SenderConfig, onError func(error)) *asyncSender {
	s := &asyncSender{
		t: t, limit: sc.QueueBytes, block: sc.Block, blockTO: sc.BlockTimeout,
		closeTO: sc.CloseTimeout, minWait: sc.ReconnectMin, maxWait: sc.ReconnectMax, linger: sc.Linger,
		onError: onError,
		space:   make(chan struct{}), idle: make(chan struct{}),
		wake: make(chan struct{}, 1), quit: make(chan struct{}), done: make(chan struct{}),
	}
	go s.run()
	return s
}

func (s *asyncSender) Datagram() bool { return s.t.datagram() }

// Send copies b into the queue. When the queue is full it returns
// ErrQueueFull at once, or, in block mode, after waiting up to the block
// timeout for room.
func (s *asyncSender) Send(b []byte) error {
	s.mu.Lock()
	var deadline time.Time
	for !s.closing && len(s.buf)+s.pending+len(b) > s.limit {
		if !s.block || len(b) > s.limit {
			s.mu.Unlock()
			return ErrQueueFull
		}
		if s.blockTO > 0 && deadline.IsZero() {
			deadline = time.Now().Add(s.blockTO)
		}
		if !s.waitForSpace(deadline) {
			s.mu.Unlock()
			return ErrQueueFull
		}
	}
	if s.closing {
		s.mu.Unlock()
		return ErrClosed
	}
	first := len(s.ends) == 0
	s.buf = append(s.buf, b...)
	s.ends = append(s.ends, len(s.buf))
	s.mu.Unlock()
	if first {
		s.signalWriter()
	}
	return nil
}

// trySendFrame frames m straight into the queue, saving the copy Send
// makes, when the queue's lock is free at once. When another goroutine
// holds it, it returns handled=false without waiting, and the caller
// encodes outside the lock and uses Send: under contention, encoding while
// holding the lock would serialize the callers. It reports the message's
// size when that is over maxSize (and queues nothing).
func (s *asyncSender) trySendFrame(enc *message.FrameEncoder, m *message.Message, maxSize int) (handled bool, size int, err error) {
	if s.block || !s.mu.TryLock() {
		return false, 0, nil
	}
	if s.closing {
		s.mu.Unlock()
		return true, 0, ErrClosed
	}
	start := len(s.buf)
	s.buf = enc.Append(s.buf, m)
	n := len(s.buf) - start
	if size := n - 3 - int(s.buf[start+1]); size > maxSize {
		s.buf = s.buf[:start]
		s.mu.Unlock()
		return true, size, nil
	}
	if len(s.buf)+s.pending > s.limit {
		s.buf = s.buf[:start]
		s.mu.Unlock()
		return true, 0, ErrQueueFull
	}
	first := len(s.ends) == 0
	s.ends = append(s.ends, len(s.buf))
	s.mu.Unlock()
	if first {
		s.signalWriter()
	}
	return true, 0, nil
}

func (s *asyncSender) signalWriter() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// waitForSpace waits, with s.mu held on entry and exit, until the writer
// frees room, the sender closes, or the deadline (if not zero) passes.
func (s *asyncSender) waitForSpace(deadline time.Time) bool {
	ch := s.space
	s.mu.Unlock()
	defer s.mu.Lock()
	if deadline.IsZero() {
		<-ch
		return true
	}
	t := time.NewTimer(time.Until(deadline))
	defer t.Stop()
	select {
	case <-ch:
		return true
	case <-t.C:
		return false
	}
}

// freed wakes the callers waiting for room; s.mu must be held.
func (s *asyncSender) freed() {
	if !s.closing { // Close closed space for good
		close(s.space)
		s.space = make(chan struct{})
	}
}

// Flush waits until the queue is empty and the writer idle.
func (s *asyncSender) Flush(ctx context.Context) error {
	for {
		s.mu.Lock()
		if len(s.ends) == 0 && !s.inflight {
			s.mu.Unlock()
			return nil
		}
		ch := s.idle
		s.mu.Unlock()
		select {
		case <-ch:
		case <-s.done:
			return ErrClosed
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// Close stops accepting messages, waits up to the close timeout for the
// queue to drain, stops the writer, and closes the transport. Messages not
// written by then are dropped, counted and reported in the returned error.
// Calls after the first return nil.
func (s *asyncSender) Close() error {
	s.mu.Lock()
	if s.closing {
		s.mu.Unlock()
		<-s.done
		return nil
	}
	s.closing = true
	close(s.space) // release blocked senders; they see closing
	s.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), s.closeTO)
	_ = s.Flush(ctx)
	cancel()
	close(s.quit)
	s.t.interrupt() // a write blocked on a router that does not read
	<-s.done
	err := s.t.close()
	s.mu.Lock()
	queued := len(s.ends)
	lost := queued + s.abandoned
	s.buf, s.ends = nil, nil
	s.mu.Unlock()
	s.dropped.Add(uint64(queued))
	if lost > 0 {
		return errors.Join(fmt.Errorf("closing sender: %d messages not delivered within %v", lost, s.closeTO), err)
	}
	return err
}

func (s *asyncSender) stats() senderStats {
	s.mu.Lock()
	q := len(s.buf) + s.pending
	s.mu.Unlock()
	return senderStats{sent: s.sent.Load(), dropped: s.dropped.Load(), errors: s.errs.Load(), queued: q}
}

// run is the writer goroutine: it swaps the queue for an empty buffer and
// writes the batch out, reconnecting with backoff after failures, until the
// sender is closed.
func (s *asyncSender) run() {
	defer close(s.done)
	var batch []byte
	var ends []int
	bo := backoff.NewExponentialBackOff()
	bo.InitialInterval, bo.MaxInterval = s.minWait, s.maxWait
	connected := false
	disconnect := func() {
		connected = false
		_ = s.t.close()
	}
	lingerTimer := time.NewTimer(time.Hour)
	lingerTimer.Stop()
	lastBatch := 0
	for {
		var broken <-chan struct{}
		if connected {
			broken = s.t.broken()
		}
		select {
		case <-s.wake:
			// After a small batch, let the queue fill for a moment: callers
			// then append to a queue this goroutine is not parked on, so
			// none of them pays for waking it, and writes are larger.
			if s.linger > 0 && lastBatch < lingerBelow {
				lingerTimer.Reset(s.linger)
				select {
				case <-lingerTimer.C:
				case <-s.quit:
					lingerTimer.Stop()
				}
			}
		case <-broken:
			// Reconnect on the next batch rather than write it into a
			// connection the router has already closed.
			s.fail(errPeerClosed)
			disconnect()
			continue
		case <-s.quit:
			return
		}
		s.mu.Lock()
		batch, s.buf = s.buf, batch[:0]
		ends, s.ends = s.ends, ends[:0]
		s.pending = len(batch)
		s.inflight = len(ends) > 0
		s.mu.Unlock()
		lastBatch = len(batch)

		start, rec := 0, 0
		for rec < len(ends) && !s.quitting() {
			if !connected {
				if err := s.t.connect(); err != nil {
					if s.quitting() {
						break // interrupted by Close
					}
					s.fail(err)
					s.pause(bo.NextBackOff())
					continue
				}
				connected = true
			}
			n, err := s.t.write(batch, start, ends[rec:])
			left := len(ends) - rec
			if n > 0 {
				rec += n
				start = ends[rec-1]
				s.sent.Add(uint64(n))
				bo.Reset()
			}
			if err != nil && s.quitting() {
				break // interrupted by Close: the rest is abandoned
			}
			if err != nil {
				s.fail(err)
				switch {
				case s.t.datagram() && n < left:
					// No destination took record rec; datagrams are never
					// retried. Dial again: a unix datagram socket stays
					// dead once its peer has gone.
					rec++
					start = ends[rec-1]
					s.dropped.Add(1)
					disconnect()
				case !s.t.datagram():
					// Write the rest of the batch again on a new
					// connection, after a pause, so that a router that
					// accepts and then fails is not hammered.
					disconnect()
					s.pause(bo.NextBackOff())
				}
			}
			if n > 0 || err != nil {
				s.mu.Lock()
				s.pending = len(batch) - start
				s.freed()
				s.mu.Unlock()
			}
		}

		s.mu.Lock()
		if lost := len(ends) - rec; lost > 0 { // closed before the batch was written
			s.abandoned += lost
			s.dropped.Add(uint64(lost))
		}
		s.inflight, s.pending = false, 0
		s.freed()
		more := len(s.ends) > 0
		if !more {
			close(s.idle)
			s.idle = make(chan struct{})
		}
		s.mu.Unlock()
		if more {
			s.signalWriter()
		}
	}
}

// lingerBelow is the batch size under which the writer lingers before
// taking the next batch; larger batches mean it is behind, and it goes on.
const lingerBelow = 256 << 10

// quitting reports whether Close has stopped waiting for the writer.
func (s *asyncSender) quitting() bool {
	select {
	case <-s.quit:
		return true
	default:
		return false
	}
}

// wholeRecords counts the records of ends that n bytes written from start
// completed.
func wholeRecords(start int, ends []int, n int) int {
	whole := 0
	for whole < len(ends) && ends[whole]-start <= n {
		whole++
	}
	return whole
}

func (s *asyncSender) fail(err error) {
	s.errs.Add(1)
	if s.onError != nil {
		s.onError(err)
	}
}

// pause waits d, or until the sender is closed.
func (s *asyncSender) pause(d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-s.quit:
	}
}

// stopper lets interrupt stop a transport's dials and writes from another
// goroutine.
type stopper struct {
	ctx    context.Context // cancelled by interrupt
	cancel context.CancelFunc
	mu     sync.Mutex // guards conns against interrupt
	conns  []net.Conn
}

func newStopper() stopper {
	ctx, cancel := context.WithCancel(context.Background())
	return stopper{ctx: ctx, cancel: cancel}
}

// dial connects as net.Dialer does, bounded by timeout and interrupt, and
// adds the connection to those interrupt stops.
func (s *stopper) dial(network, addr string, timeout time.Duration) (net.Conn, error) {
	d := net.Dialer{Timeout: timeout}
	c, err := d.DialContext(s.ctx, network, addr)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	s.conns = append(s.conns, c)
	s.mu.Unlock()
	return c, nil
}

// setDeadline bounds the next write on c by timeout, and fails when the
// transport is interrupted. A write that starts after interrupt fails at
// once: either this sees the cancelled context, or interrupt's deadline in
// the past comes after this one.
func (s *stopper) setDeadline(c net.Conn, timeout time.Duration) error {
	if timeout > 0 {
		_ = c.SetWriteDeadline(time.Now().Add(timeout))
	}
	return s.ctx.Err()
}

// forget removes the closed connections from those interrupt stops.
func (s *stopper) forget() {
	s.mu.Lock()
	s.conns = s.conns[:0]
	s.mu.Unlock()
}

func (s *stopper) interrupt() {
	s.cancel()
	s.mu.Lock()
	for _, c := range s.conns {
		_ = c.SetWriteDeadline(time.Unix(1, 0))
	}
	s.mu.Unlock()
}

// streamTransport writes to a TCP or unix stream socket. A goroutine per
// connection reads from it, so that a connection the router closes is
// noticed before messages are written into it and lost: the router sends
// nothing, so a read returns only when the connection ends.
type streamTransport struct {
	network, addr string
	timeout       time.Duration
	stop          stopper
	conn          net.Conn
	eof           chan struct{} // closed when conn's reader stops
}

func newStreamTransport(network, addr string, timeout time.Duration) *streamTransport {
	return &streamTransport{network: network, addr: addr, timeout: timeout, stop: newStopper()}
}

func (t *streamTransport) connect() error {
	conn, err := t.stop.dial(t.network, t.addr, t.timeout)
	if err != nil {
		return err
	}
	t.conn, t.eof = conn, make(chan struct{})
	go drain(conn, t.eof)
	return nil
}

// drain reads conn until it ends, then closes eof.
func drain(conn net.Conn, eof chan struct{}) {
	defer close(eof)
	var b [256]byte
	for {
		if _, err := conn.Read(b[:]); err != nil {
			return
		}
	}
}

func (t *streamTransport) write(data []byte, start int, ends []int) (int, error) {
	select {
	case <-t.eof:
		return 0, errPeerClosed
	default:
	}
	if err := t.stop.setDeadline(t.conn, t.timeout); err != nil {
		return 0, err
	}
	n, err := t.conn.Write(data[start:ends[len(ends)-1]])
	return wholeRecords(start, ends, n), err
}

func (t *streamTransport) broken() <-chan struct{} { return t.eof }

func (t *streamTransport) interrupt() { t.stop.interrupt() }

func (t *streamTransport) close() error {
	if t.conn == nil {
		return nil
	}
	t.stop.forget()
	err := t.conn.Close()
	<-t.eof // the reader has exited
	t.conn, t.eof = nil, nil
	return err
}

func (t *streamTransport) datagram() bool { return false }

// datagramTransport sends each record as one datagram to every address.
type datagramTransport struct {
	network string
	addrs   []string
	timeout time.Duration
	stop    stopper
	conns   []net.Conn
}

func newDatagramTransport(network string, addrs []string, timeout time.Duration) *datagramTransport {
	return &datagramTransport{network: network, addrs: addrs, timeout: timeout, stop: newStopper()}
}

func (t *datagramTransport) connect() error {
	_ = t.close()
	for _, a := range t.addrs {
		c, err := t.stop.dial(t.network, a, t.timeout)
		if err != nil {
			_ = t.close()
			return err
		}
		if uc, ok := c.(*net.UDPConn); ok {
			_ = uc.SetWriteBuffer(4 << 20)
		}
		t.conns = append(t.conns, c)
	}
	return nil
}

// write sends every record to every destination. A destination that
// refuses (nothing listening) loses that record; the others still get it.
// It stops at a record that no destination took.
func (t *datagramTransport) write(data []byte, start int, ends []int) (int, error) {
	var firstErr error
	for i, end := range ends {
		failed := 0
		for _, c := range t.conns {
			err := t.stop.setDeadline(c, t.timeout)
			if err == nil {
				_, err = c.Write(data[start:end])
			}
			if err != nil {
				failed++
				if firstErr == nil {
					firstErr = err
				}
			}
		}
		if failed > 0 && failed == len(t.conns) {
			return i, firstErr
		}
		start = end
	}
	return len(ends), firstErr
}

func (t *datagramTransport) broken() <-chan struct{} { return nil }

func (t *datagramTransport) interrupt() { t.stop.interrupt() }

func (t *datagramTransport) close() error {
	t.stop.forget()
	var err error
	for _, c := range t.conns {
		err = errors.Join(err, c.Close())
	}
	t.conns = t.conns[:0]
	return err
}

func (t *datagramTransport) datagram() bool { return true }

// fileTransport appends to a file, or writes to standard output. Writes to
// a file do not block for long, so it cannot be interrupted.
type fileTransport struct {
	path string
	file *os.File
}

func (t *fileTransport) connect() error {
	if t.path == "" {
		return nil // stdout
	}
	f, err := os.OpenFile(t.path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return err
	}
	t.file = f
	return nil
}

func (t *fileTransport) write(data []byte, start int, ends []int) (int, error) {
	n, err := t.file.Write(data[start:ends[len(ends)-1]])
	return wholeRecords(start, ends, n), err
}

func (t *fileTransport) broken() <-chan struct{} { return nil }

func (t *fileTransport) interrupt() {}

func (t *fileTransport) close() error {
	if t.path == "" || t.file == nil {
		return nil
	}
	err := t.file.Close()
	t.file = nil
	return err
}

func (t *fileTransport) datagram() bool { return false }
