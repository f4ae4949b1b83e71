package netin

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/metlog/metlog/internal/tlsconf"
	"github.com/metlog/metlog/message"
	"github.com/metlog/metlog/pipeline"
)

// handshakeTimeout bounds a TLS handshake, so that clients that connect
// and say nothing cannot hold connection slots.
const handshakeTimeout = 10 * time.Second

// StreamConfig is the configuration tcp_input and unix_input share.
type StreamConfig struct {
	// Address is where to listen: host:port for tcp_input (default
	// 127.0.0.1:5565), the socket's path for unix_input (required).
	Address string `toml:"address"`
	// Format is heka (the default: Heka stream framing); metlog, json,
	// auto_json or plain, one message per line; or auto: Heka framing when
	// a connection's first byte is 0x1E, else lines, each told apart as
	// udp_input tells datagrams apart (JSON or a plain line).
	Format string `toml:"format"`
	// MaxMessageSize bounds each framed message (default [metlogd]
	// max_message_size).
	MaxMessageSize pipeline.ByteSize `toml:"max_message_size"`
	// MaxLine bounds each line of the line formats, its newline not
	// counted (default: the maximum message size). A longer line is
	// skipped up to its newline and counted; the connection goes on.
	MaxLine pipeline.ByteSize `toml:"max_line"`
	// MaxConnections bounds the connections served at once (default
	// 1024); further ones are accepted and closed at once, and counted.
	MaxConnections int `toml:"max_connections"`
	// IdleTimeout closes a connection that sends nothing for this long
	// (default 0: never).
	IdleTimeout time.Duration `toml:"idle_timeout"`
	// TLS is the [name.tls] table: cert_file and key_file turn TLS on;
	// ca_file with client_auth = "require" makes it mutual.
	TLS tlsconf.Config `toml:"tls"`
	// Signers are the HMAC keys frames are verified against.
	Signers Signers `toml:"signers"`
	// RequireSigned refuses unsigned frames (default false: accepted).
	RequireSigned bool `toml:"require_signed"`
}

func defaultStreamConfig(addr string) StreamConfig {
	return StreamConfig{Address: addr, Format: formatHeka, MaxConnections: 1024}
}

// validate checks everything but the address.
func (c *StreamConfig) validate() []error {
	var errs []error
	framed := c.Format == formatHeka || c.Format == formatAuto // may carry frames
	switch c.Format {
	case formatHeka, formatAuto, formatMetlog, formatJSON, formatAutoJSON, formatPlain:
	default:
		errs = append(errs, fmt.Errorf("format: %q is not heka, auto, metlog, json, auto_json or plain", c.Format))
		framed = true // do not add errors that follow from this one
	}
	if err := checkMaxSize("max_message_size", c.MaxMessageSize); err != nil {
		errs = append(errs, err)
	}
	switch {
	case c.MaxLine != 0 && c.Format == formatHeka:
		errs = append(errs, errors.New("max_line: only the line formats (auto, metlog, json, auto_json, plain) have lines; heka frames are bounded by max_message_size"))
	case c.MaxLine < 0 || c.MaxLine > 64<<20:
		errs = append(errs, fmt.Errorf("max_line: %d bytes is outside 1 B .. 64 MiB", c.MaxLine))
	}
	if c.MaxConnections < 1 || c.MaxConnections > 1<<20 {
		errs = append(errs, fmt.Errorf("max_connections: %d is not between 1 and 1048576", c.MaxConnections))
	}
	if c.IdleTimeout < 0 {
		errs = append(errs, errors.New("idle_timeout: must not be negative"))
	}
	if err := c.TLS.ValidateServer(); err != nil {
		errs = append(errs, err) // "tls: ..."
	}
	if _, err := c.Signers.keyRing(); err != nil {
		errs = append(errs, err)
	}
	if !framed && len(c.Signers) > 0 {
		errs = append(errs, fmt.Errorf("signers: only Heka frames are signed; format %q has no signatures to verify", c.Format))
	}
	if !framed && c.RequireSigned {
		errs = append(errs, fmt.Errorf("require_signed: only Heka frames are signed; with format %q nothing could pass", c.Format))
	}
	return errs
}

// TCP is tcp_input: it receives Heka frames or lines over TCP connections.
type TCP struct {
	StreamConfig
	srv server
}

// Unix is unix_input: tcp_input on a unix stream socket.
type Unix struct {
	StreamConfig
	// SocketMode is the socket file's permissions, in octal (default
	// "0660": the owner and group of metlogd may connect).
	SocketMode string `toml:"socket_mode"`
	srv        server
}

var (
	_ pipeline.Input     = (*TCP)(nil)
	_ pipeline.Validator = (*TCP)(nil)
	_ pipeline.Starter   = (*TCP)(nil)
	_ pipeline.Stopper   = (*TCP)(nil)
	_ pipeline.Input     = (*Unix)(nil)
	_ pipeline.Validator = (*Unix)(nil)
	_ pipeline.Starter   = (*Unix)(nil)
	_ pipeline.Stopper   = (*Unix)(nil)
)

// NewTCP returns a tcp_input with its defaults.
func NewTCP() *TCP {
	return &TCP{StreamConfig: defaultStreamConfig("127.0.0.1:5565")}
}

// NewUnix returns a unix_input with its defaults. It has no default path.
func NewUnix() *Unix {
	return &Unix{StreamConfig: defaultStreamConfig(""), SocketMode: "0660"}
}

// Validate implements pipeline.Validator.
func (t *TCP) Validate() error {
	errs := t.validate()
	if err := checkHostPort(t.Address); err != nil {
		errs = append([]error{err}, errs...)
	}
	return errors.Join(errs...)
}

// Start implements pipeline.Starter: it listens.
func (t *TCP) Start(ctx context.Context, s *pipeline.Settings) error {
	if err := t.Validate(); err != nil {
		return err
	}
	return t.srv.start(ctx, s, t.StreamConfig, "tcp", 0)
}

// Run implements pipeline.Input: it serves connections until ctx is done.
func (t *TCP) Run(ctx context.Context, d pipeline.Deliverer) error { return t.srv.run(ctx, d) }

// Stop implements pipeline.Stopper: it closes the listener and every
// connection, and waits for their goroutines.
func (t *TCP) Stop(ctx context.Context) error { return t.srv.stop(ctx) }

// Addr returns the address the input listens on, or nil when it does not.
func (t *TCP) Addr() net.Addr { return t.srv.addr() }

// Connections returns the number of connections being served.
func (t *TCP) Connections() int { return t.srv.connections() }

// maxUnixPath is the longest socket path (sun_path holds 108 bytes with
// the terminating NUL on Linux, 104 on the BSDs).
const maxUnixPath = 103

// Validate implements pipeline.Validator.
func (u *Unix) Validate() error {
	var errs []error
	switch {
	case u.Address == "":
		errs = append(errs, errors.New("address: a unix_input needs the path of its socket, such as /run/metlog/metlogd.sock"))
	case len(u.Address) > maxUnixPath:
		errs = append(errs, fmt.Errorf("address: a unix socket path is at most %d bytes; this one has %d", maxUnixPath, len(u.Address)))
	default: // listening creates the socket, not its directory
		if st, err := os.Stat(filepath.Dir(u.Address)); err != nil || !st.IsDir() {
			errs = append(errs, fmt.Errorf("address: the directory of the socket, %s, does not exist", filepath.Dir(u.Address)))
		}
	}
	if _, err := u.mode(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(append(errs, u.validate()...)...)
}

func (u *Unix) mode() (os.FileMode, error) {
	if u.SocketMode == "" {
		return 0, nil
	}
	m, err := strconv.ParseUint(u.SocketMode, 8, 32)
	if err != nil || m > 0o777 {
		return 0, fmt.Errorf("socket_mode: %q is not octal permissions such as \"0660\"", u.SocketMode)
	}
	return os.FileMode(m), nil
}

// Start implements pipeline.Starter: it replaces a stale socket file and
// listens.
func (u *Unix) Start(ctx context.Context, s *pipeline.Settings) error {
	if err := u.Validate(); err != nil {
		return err
	}
	mode, _ := u.mode()
	return u.srv.start(ctx, s, u.StreamConfig, "unix", mode)
}

// Run implements pipeline.Input: it serves connections until ctx is done.
func (u *Unix) Run(ctx context.Context, d pipeline.Deliverer) error { return u.srv.run(ctx, d) }

// Stop implements pipeline.Stopper: it closes the listener and every
// connection, waits for their goroutines, and removes the socket file.
func (u *Unix) Stop(ctx context.Context) error { return u.srv.stop(ctx) }

// Addr returns the address the input listens on, or nil when it does not.
func (u *Unix) Addr() net.Addr { return u.srv.addr() }

// Connections returns the number of connections being served.
func (u *Unix) Connections() int { return u.srv.connections() }

// server is what tcp_input and unix_input share at run time.
type server struct {
	network string
	cfg     StreamConfig
	log     *slog.Logger
	rep     reporter
	auth    auth
	tls     *tls.Config
	maxMsg  int
	maxLine int

	mu      sync.Mutex
	ln      net.Listener // *net.TCPListener or *net.UnixListener
	conns   map[net.Conn]struct{}
	closing bool // refuse new connections: Run is ending or Stop was called
	wg      sync.WaitGroup
}

// deadliner is what both listener types have.
type deadliner interface{ SetDeadline(time.Time) error }

func (s *server) start(ctx context.Context, set *pipeline.Settings, cfg StreamConfig, network string, mode os.FileMode) error {
	keys, err := cfg.Signers.keyRing()
	if err != nil {
		return err
	}
	if cfg.TLS.On() {
		if s.tls, err = cfg.TLS.Server(); err != nil {
			return err
		}
	}
	s.network, s.cfg, s.log = network, cfg, set.Logger
	s.rep = newReporter(set.Metrics, set.Logger)
	s.auth = auth{keys: keys, require: cfg.RequireSigned}
	s.maxMsg = int(cfg.MaxMessageSize)
	if s.maxMsg == 0 {
		s.maxMsg = int(set.Global.MaxMessageSize)
	}
	s.maxLine = int(cfg.MaxLine)
	if s.maxLine == 0 {
		s.maxLine = s.maxMsg
	}
	if network == "unix" {
		if err := removeStaleSocket(cfg.Address); err != nil {
			return err
		}
	}
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, network, cfg.Address)
	if err != nil {
		return fmt.Errorf("listen on %s %s: %w", network, cfg.Address, err)
	}
	if network == "unix" && mode != 0 {
		if err := os.Chmod(cfg.Address, mode); err != nil {
			ln.Close()
			return fmt.Errorf("unix socket %s: %w", cfg.Address, err)
		}
	}
	s.mu.Lock()
	s.ln, s.conns, s.closing = ln, make(map[net.Conn]struct{}), false
	s.mu.Unlock()
	set.Logger.Info("listening", "network", network, "address", ln.Addr().String(), "format", cfg.Format, "tls", s.tls != nil)
	return nil
}

// removeStaleSocket removes the socket file a previous run left behind,
// unless it is not a socket or a process still listens on it.
func removeStaleSocket(path string) error {
	fi, err := os.Lstat(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("unix socket %s: %w", path, err)
	}
	if fi.Mode()&os.ModeSocket == 0 {
		return fmt.Errorf("unix socket %s: the file exists and is not a socket; remove it or choose another path", path)
	}
	if c, err := net.DialTimeout("unix", path, time.Second); err == nil {
		c.Close()
		return fmt.Errorf("unix socket %s: another process is listening on it", path)
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("remove the stale unix socket %s: %w", path, err)
	}
	return nil
}

func (s *server) addr() net.Addr {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ln == nil {
		return nil
	}
	return s.ln.Addr()
}

func (s *server) connections() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.conns)
}

// run accepts connections and serves each on its own goroutine until ctx
// is done; then it closes them and waits for their goroutines.
func (s *server) run(ctx context.Context, d pipeline.Deliverer) error {
	s.mu.Lock()
	ln := s.ln
	s.closing = false
	s.mu.Unlock()
	if ln == nil {
		return errors.New("the input is not started")
	}
	dl := ln.(deadliner)
	if err := dl.SetDeadline(time.Time{}); err != nil {
		return fmt.Errorf("%s %s: %w", s.network, s.cfg.Address, err)
	}
	// A deadline in the past wakes Accept without closing the listener,
	// which Stop does; Run may be called again.
	stop := context.AfterFunc(ctx, func() {
		_ = dl.SetDeadline(time.Now())
		s.closeConns()
	})
	defer func() {
		stop()
		s.closeConns()
		s.wg.Wait()
	}()
	var pause time.Duration
	for {
		c, err := ln.Accept()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			if errors.Is(err, net.ErrClosed) {
				if s.addr() == nil {
					return nil // stopped
				}
				return fmt.Errorf("%s %s: the listener was closed", s.network, s.cfg.Address)
			}
			// Out of file descriptors, say: count, and pause as net/http
			// does, rather than spin.
			s.rep.m.Errors.Add(1)
			pause = min(max(2*pause, 5*time.Millisecond), time.Second)
			s.rep.rl.Warn("accept", "accepting a connection failed; pausing", "err", err, "pause", pause)
			select {
			case <-time.After(pause):
			case <-ctx.Done():
				return nil
			}
			continue
		}
		pause = 0
		if s.admit(c) {
			go s.serve(ctx, d, c)
		}
	}
}

// admit registers c, or closes it when the input is closing or at
// max_connections.
func (s *server) admit(c net.Conn) bool {
	s.mu.Lock()
	if s.closing {
		s.mu.Unlock()
		c.Close()
		return false
	}
	if len(s.conns) >= s.cfg.MaxConnections {
		s.mu.Unlock()
		remote := s.remoteName(c)
		c.Close()
		s.rep.m.Errors.Add(1)
		s.rep.rl.Warn("max_connections", "a connection over max_connections was closed at once",
			"remote", remote, "max_connections", s.cfg.MaxConnections)
		return false
	}
	s.conns[c] = struct{}{}
	s.wg.Add(1)
	s.mu.Unlock()
	return true
}

// closeConns closes every connection and refuses new ones.
func (s *server) closeConns() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closing = true
	for c := range s.conns {
		c.Close()
	}
}

func (s *server) stop(ctx context.Context) error {
	s.mu.Lock()
	ln := s.ln
	s.ln = nil
	s.mu.Unlock()
	s.closeConns()
	if ln == nil {
		return nil
	}
	err := ln.Close() // a unix listener removes its socket file
	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		err = errors.Join(err, fmt.Errorf("%s %s: connections still open: %w", s.network, s.cfg.Address, ctx.Err()))
	}
	if s.network == "unix" {
		if fi, serr := os.Lstat(s.cfg.Address); serr == nil && fi.Mode()&os.ModeSocket != 0 {
			if rerr := os.Remove(s.cfg.Address); rerr != nil && !errors.Is(rerr, os.ErrNotExist) {
				err = errors.Join(err, rerr)
			}
		}
	}
	return err
}

func (s *server) remoteName(c net.Conn) string {
	if s.network == "unix" {
		return "unix:" + s.cfg.Address
	}
	if a := c.RemoteAddr(); a != nil {
		return a.String()
	}
	return "unknown"
}

// serve reads messages from one connection until it ends, ctx is done, or
// the input closes it.
func (s *server) serve(ctx context.Context, d pipeline.Deliverer, c net.Conn) {
	defer s.wg.Done()
	defer func() {
		s.mu.Lock()
		delete(s.conns, c)
		s.mu.Unlock()
		c.Close()
	}()
	remote := s.remoteName(c)
	var r io.Reader = c
	if s.tls != nil {
		tc := tls.Server(c, s.tls)
		_ = c.SetDeadline(time.Now().Add(handshakeTimeout))
		if err := tc.HandshakeContext(ctx); err != nil {
			if ctx.Err() == nil && !errors.Is(err, net.ErrClosed) {
				s.rep.m.Errors.Add(1)
				s.rep.rl.Warn("tls", "TLS handshake failed; connection closed", "remote", remote, "err", err)
			}
			return
		}
		_ = c.SetDeadline(time.Time{})
		r = tc
	}
	var err error
	r = &connReader{r: r, conn: c, idle: s.cfg.IdleTimeout, bytes: &s.rep.m.Bytes}
	format := s.cfg.Format
	if format == formatAuto { // the first byte tells frames from lines
		var first [1]byte
		if _, err = io.ReadFull(r, first[:]); err == nil {
			r = io.MultiReader(bytes.NewReader(first[:]), r)
			if first[0] == message.RecordSeparator {
				format = formatHeka
			}
		}
	}
	switch {
	case err != nil:
		if err == io.EOF {
			err = nil
		}
	case format == formatHeka:
		err = s.serveFrames(ctx, d, r, remote)
	default:
		err = s.serveLines(ctx, d, r, remote)
	}
	switch {
	case err == nil || ctx.Err() != nil || errors.Is(err, net.ErrClosed):
	case errors.Is(err, os.ErrDeadlineExceeded):
		s.log.Debug("closing an idle connection", "remote", remote, "idle_timeout", s.cfg.IdleTimeout)
	default:
		s.log.Debug("connection ended with an error", "remote", remote, "err", err)
	}
}

// serveFrames reads Heka frames. Back-pressure: while Deliver blocks (a
// blocking output's queue is full), nothing is read, the socket's buffers
// fill and TCP flow control slows the sender down.
func (s *server) serveFrames(ctx context.Context, d pipeline.Deliverer, r io.Reader, remote string) error {
	sc := message.NewFrameScanner(r, s.maxMsg)
	fd := &frameDiscards{rep: s.rep, remote: remote}
	sc.OnDiscard = fd.discard
	for sc.Next() {
		fd.inRun = false
		h, b := sc.Header(), sc.Message()
		if err := s.auth.check(h, b); err != nil {
			s.rep.unauthorized(remote, err)
			continue
		}
		m := new(message.Message)
		if err := m.Unmarshal(b); err != nil {
			sc.Reject(err) // counted by fd.discard
			continue
		}
		if err := d.Deliver(ctx, m); err != nil {
			return nil // ctx is done
		}
	}
	return sc.Err()
}

// frameDiscards counts what a FrameScanner skips. Each run of skipped
// bytes between two frames counts once as a decode error, however many
// reads it spans; each frame header announcing a message over the limit
// counts as dropped too_large, and the bytes after it, its body, are not
// counted again.
type frameDiscards struct {
	rep    reporter
	remote string
	inRun  bool
}

func (f *frameDiscards) discard(n int, reason error) {
	if errors.Is(reason, message.ErrTooLarge) {
		f.inRun = true
		f.rep.m.Drop(pipeline.DropTooLarge, 1)
		f.rep.rl.Warn("too_large:frame", "a frame over the size limit was dropped", "remote", f.remote, "err", reason)
		return
	}
	if !f.inRun {
		f.inRun = true
		f.rep.decodeError(f.remote, reason)
	}
}

// serveLines reads one message per line.
func (s *server) serveLines(ctx context.Context, d pipeline.Deliverer, r io.Reader, remote string) error {
	ls := newLineScanner(r, s.maxLine)
	ls.onTooLong = func(seen int) { s.rep.tooLarge(remote, "line", seen, s.maxLine) }
	ls.onCut = func(int) { s.rep.decodeError(remote, errCutLine) }
	for {
		line, ok := ls.next()
		if !ok {
			return ls.err
		}
		if isBlank(line) {
			continue
		}
		if s.auth.require { // format auto: only frames are signed
			s.rep.unauthorized(remote, message.ErrUnsigned)
			continue
		}
		m, err := decodeUnframed(s.cfg.Format, line)
		if err != nil {
			s.rep.decodeError(remote, err)
			continue
		}
		if err := d.Deliver(ctx, m); err != nil {
			return nil
		}
	}
}

var errCutLine = errors.New("the connection failed in the middle of a line")

// connReader counts the bytes read from a connection and applies the idle
// timeout to each read.
type connReader struct {
	r     io.Reader
	conn  net.Conn
	idle  time.Duration
	bytes *atomic.Uint64
}

func (c *connReader) Read(p []byte) (int, error) {
	if c.idle > 0 {
		if err := c.conn.SetReadDeadline(time.Now().Add(c.idle)); err != nil {
			return 0, err
		}
	}
	n, err := c.r.Read(p)
	c.bytes.Add(uint64(n))
	return n, err
}
