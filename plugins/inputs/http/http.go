// Package httpin is the http_input plugin: message ingest over HTTP.
//
// Clients POST a body of messages to a path (default /v1/messages):
// newline-delimited JSON, each line metlog JSON or canonical JSON, or a
// stream of Heka frames, optionally gzip or deflate compressed and guarded
// by bearer tokens. The input answers 202 Accepted with {"accepted": N} only
// after the router has queued every message, 4xx with a JSON reason for bad
// input (nothing of such a request is delivered), 413 for bodies or messages
// over their limits, and 503 when it could not hand everything over (the
// client went away, or the router is shutting down).
//
// By default the handler is registered on metlogd's shared HTTP listener
// ([metlogd] http_listen), next to /metrics and /status; with listen set it
// runs its own server, which may use TLS and mutual TLS.
//
//	[http_in]
//	type = "http_input"
//	tokens = ["${METLOG_INGEST_TOKEN}"]
//
// See docs/plugins/http_input.md.
package httpin

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/metlog/metlog/internal/ratelog"
	"github.com/metlog/metlog/internal/tlsconf"
	"github.com/metlog/metlog/pipeline"
	"github.com/metlog/metlog/plugins/codecs"
)

func init() {
	pipeline.Register(pipeline.Plugin{
		Type:    "http_input",
		Kind:    pipeline.KindInput,
		New:     func() any { return New() },
		Summary: "receives messages POSTed over HTTP as NDJSON (metlog or canonical JSON) or Heka frames",
	})
}

// Input is the http_input plugin. Its exported fields are its configuration.
type Input struct {
	// Path is the URL path served; one ending in "/" serves every path
	// under it (default "/v1/messages").
	Path string `toml:"path"`
	// Listen, when set, is the address of the input's own HTTP server;
	// empty (the default) registers Path on the shared listener
	// ([metlogd] http_listen).
	Listen string `toml:"listen"`
	// TLS is the [name.tls] table: TLS, and mutual TLS with client_auth,
	// for the own listener. The shared listener is plain HTTP.
	TLS tlsconf.Config `toml:"tls"`
	// Tokens are the accepted bearer tokens (Authorization: Bearer ...);
	// empty (the default) accepts every request.
	Tokens []string `toml:"tokens"`
	// Format is how bodies are read: "auto" (by Content-Type, the
	// default), "framed" (Heka stream framing), "ndjson" (each line metlog
	// or canonical JSON), or the name of a line decoder ("metlog", "json",
	// "auto_json", "plain") applied to each line.
	Format string `toml:"format"`
	// MaxBody bounds a request body, as sent and after decompression
	// (default 16 MiB).
	MaxBody pipeline.ByteSize `toml:"max_body"`
	// MaxMessageSize bounds one message: a line, or a frame's message
	// (default 0: [metlogd] max_message_size).
	MaxMessageSize pipeline.ByteSize `toml:"max_message_size"`
	// MaxRequests bounds the requests being read, decoded and delivered at
	// once, and so the memory they take; more wait (default 32).
	MaxRequests int `toml:"max_requests"`
	// ReadTimeout bounds reading one request body (default 1m).
	ReadTimeout time.Duration `toml:"read_timeout"`
	// MaxConnections bounds the own listener's open connections; more
	// wait in the kernel's backlog (default 256).
	MaxConnections int `toml:"max_connections"`
	// ReadHeaderTimeout bounds reading a request's headers on the own
	// listener (default 10s).
	ReadHeaderTimeout time.Duration `toml:"read_header_timeout"`
	// IdleTimeout closes the own listener's keep-alive connections idle
	// this long (default 2m).
	IdleTimeout time.Duration `toml:"idle_timeout"`

	mu        sync.Mutex
	h         *handler
	remove    func()        // unregisters the handler from the shared listener
	srv       *http.Server  // the own listener's server
	ln        net.Listener  // the own listener
	serveDone chan struct{} // closed when the own server's Serve returns
}

var (
	_ pipeline.Input     = (*Input)(nil)
	_ pipeline.Validator = (*Input)(nil)
	_ pipeline.Starter   = (*Input)(nil)
	_ pipeline.Stopper   = (*Input)(nil)
)

// Defaults of the settings.
const (
	DefaultPath              = "/v1/messages"
	DefaultMaxBody           = 16 << 20
	DefaultMaxRequests       = 32
	DefaultReadTimeout       = time.Minute
	DefaultMaxConnections    = 256
	DefaultReadHeaderTimeout = 10 * time.Second
	DefaultIdleTimeout       = 2 * time.Minute
)

// New returns an http_input holding the defaults.
func New() *Input {
	return &Input{
		Path:              DefaultPath,
		Format:            "auto",
		MaxBody:           DefaultMaxBody,
		MaxRequests:       DefaultMaxRequests,
		ReadTimeout:       DefaultReadTimeout,
		MaxConnections:    DefaultMaxConnections,
		ReadHeaderTimeout: DefaultReadHeaderTimeout,
		IdleTimeout:       DefaultIdleTimeout,
	}
}

// Validate checks the settings; it reads the TLS files but does not listen.
func (in *Input) Validate() error {
	var errs []error
	bad := func(key, format string, args ...any) {
		errs = append(errs, fmt.Errorf(key+": "+format, args...))
	}
	if !strings.HasPrefix(in.Path, "/") {
		bad("path", "%q must start with /", in.Path)
	} else if strings.ContainsAny(in.Path, " \t\r\n?#") {
		bad("path", "%q must be a plain URL path, without spaces, ? or #", in.Path)
	}
	if in.Listen != "" {
		if _, _, err := net.SplitHostPort(in.Listen); err != nil {
			bad("listen", "%q is not host:port (%v)", in.Listen, err)
		}
	}
	if in.TLS.On() {
		if in.Listen == "" {
			bad("tls", "TLS needs the input's own listener: set listen (the shared listener, [metlogd] http_listen, is plain HTTP)")
		} else if err := in.TLS.ValidateServer(); err != nil {
			errs = append(errs, err) // already "tls: ..."
		}
	}
	for i, t := range in.Tokens {
		switch {
		case t == "":
			bad("tokens", "token %d is empty", i+1)
		case len(t) > 4096:
			bad("tokens", "token %d is longer than 4096 bytes", i+1)
		case strings.IndexFunc(t, func(r rune) bool { return r <= ' ' || r == 0x7f }) >= 0:
			bad("tokens", "token %d contains a space or a control character, which an Authorization header cannot carry", i+1)
		}
	}
	if _, _, err := lineDecoder(in.Format); err != nil {
		bad("format", "%v", err)
	}
	if in.MaxBody < 1<<10 || in.MaxBody > 1<<30 {
		bad("max_body", "%d bytes is outside 1 KiB .. 1 GiB", in.MaxBody)
	}
	if in.MaxMessageSize != 0 && (in.MaxMessageSize < 256 || in.MaxMessageSize > 64<<20) {
		bad("max_message_size", "%d bytes is outside 256 B .. 64 MiB (0 means [metlogd] max_message_size)", in.MaxMessageSize)
	}
	if in.MaxRequests < 1 {
		bad("max_requests", "must be at least 1")
	}
	if in.MaxConnections < 1 {
		bad("max_connections", "must be at least 1")
	}
	if in.ReadTimeout <= 0 {
		bad("read_timeout", "must be positive")
	}
	if in.ReadHeaderTimeout <= 0 {
		bad("read_header_timeout", "must be positive")
	}
	if in.IdleTimeout < 0 {
		bad("idle_timeout", "must not be negative (0: the read_header_timeout)")
	}
	return errors.Join(errs...)
}

// lineDecoder returns whether format reads framed bodies and, for NDJSON,
// the decoder of each line (nil in auto mode: AutoJSONDecoder, unless the
// body is framed).
func lineDecoder(format string) (framed bool, dec pipeline.Decoder, err error) {
	switch format {
	case "auto":
		return false, nil, nil
	case "framed", "protobuf":
		return true, nil, nil
	case "ndjson":
		return false, codecs.AutoJSONDecoder{}, nil
	}
	if d, ok := pipeline.NewDecoder(format); ok {
		return false, d, nil
	}
	var names []string
	for _, n := range pipeline.DecoderNames() {
		if n != "protobuf" {
			names = append(names, n)
		}
	}
	return false, nil, fmt.Errorf("%q is not auto, framed, ndjson or a line decoder (%s)", format, strings.Join(names, ", "))
}

// Start registers the handler on the shared listener, or starts the own
// server.
func (in *Input) Start(_ context.Context, s *pipeline.Settings) error {
	in.mu.Lock()
	defer in.mu.Unlock()
	if in.h != nil {
		return errors.New("http_input is already started")
	}
	framed, dec, err := lineDecoder(in.Format)
	if err != nil {
		return err
	}
	maxMsg := int(in.MaxMessageSize)
	if maxMsg == 0 {
		maxMsg = int(s.Global.MaxMessageSize)
	}
	if maxMsg <= 0 {
		maxMsg = 64 << 10
	}
	h := newHandler(handlerConfig{
		auto:        in.Format == "auto",
		framed:      framed,
		lineDec:     dec,
		maxBody:     int64(in.MaxBody),
		maxMsg:      maxMsg,
		maxRequests: in.MaxRequests,
		readTimeout: in.ReadTimeout,
		tokens:      in.Tokens,
		metrics:     s.Metrics,
		warn:        ratelog.New(s.Logger, 10*time.Second),
	})
	if in.Listen == "" {
		if s.HTTP == nil {
			return errors.New(`the shared HTTP listener is off ([metlogd] http_listen = ""): set listen to give http_input its own`)
		}
		remove, err := s.HTTP.Handle(in.Path, h)
		if err != nil {
			return fmt.Errorf("register on the shared HTTP listener: %w", err)
		}
		in.h, in.remove = h, remove
		return nil
	}

	srv := &http.Server{
		Handler:           pathOnly(in.Path, h),
		ReadHeaderTimeout: in.ReadHeaderTimeout,
		IdleTimeout:       in.IdleTimeout,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          newServerLog(h.warn),
	}
	if in.TLS.On() {
		tc, err := in.TLS.Server()
		if err != nil {
			return err
		}
		srv.TLSConfig = tc
	}
	ln, err := net.Listen("tcp", in.Listen)
	if err != nil {
		return fmt.Errorf("listen %s: %w", in.Listen, err)
	}
	ln = newLimitListener(ln, in.MaxConnections)
	done := make(chan struct{})
	go func() {
		defer close(done)
		var err error
		if srv.TLSConfig != nil {
			err = srv.ServeTLS(ln, "", "")
		} else {
			err = srv.Serve(ln)
		}
		if err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.Metrics.Errors.Add(1)
			s.Logger.Error("HTTP server failed", "listen", in.Listen, "err", err)
		}
	}()
	in.h, in.srv, in.ln, in.serveDone = h, srv, ln, done
	return nil
}

// pathOnly serves path (or, ending in "/", everything under it) with h, and
// answers 404 elsewhere, as the shared listener does.
func pathOnly(path string, h http.Handler) http.Handler {
	prefix := strings.HasSuffix(path, "/")
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == path || prefix && strings.HasPrefix(r.URL.Path, path) {
			h.ServeHTTP(w, r)
			return
		}
		http.NotFound(w, r)
	})
}

// Addr returns the address the own listener is bound to, or "" when the
// input uses the shared listener or is not started.
func (in *Input) Addr() string {
	in.mu.Lock()
	defer in.mu.Unlock()
	if in.ln == nil {
		return ""
	}
	return in.ln.Addr().String()
}

// Run hands the messages of requests to d until ctx ends. Requests that
// arrive before Run wait for it; when ctx ends, deliveries in progress are
// abandoned and answered 503.
func (in *Input) Run(ctx context.Context, d pipeline.Deliverer) error {
	in.mu.Lock()
	h := in.h
	in.mu.Unlock()
	if h == nil {
		return errors.New("http_input is not started")
	}
	h.setRun(ctx, d)
	<-ctx.Done()
	return nil
}

// Stop unregisters the handler or shuts the own server down, and waits
// for requests in progress to end (or ctx). It is idempotent.
func (in *Input) Stop(ctx context.Context) error {
	in.mu.Lock()
	defer in.mu.Unlock()
	h := in.h
	if h == nil {
		return nil
	}
	in.h = nil
	if in.remove != nil {
		in.remove()
		in.remove = nil
	}
	h.close()
	var err error
	if in.srv != nil {
		if err = in.srv.Shutdown(ctx); err != nil {
			_ = in.srv.Close()
			err = fmt.Errorf("shut down the HTTP server on %s: %w", in.Listen, err)
		}
		<-in.serveDone
		in.srv, in.ln, in.serveDone = nil, nil, nil
	}
	if werr := h.wait(ctx); werr != nil && err == nil {
		err = werr
	}
	return err
}
