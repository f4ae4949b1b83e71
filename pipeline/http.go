package pipeline

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/metlog/metlog/matcher"
	"github.com/metlog/metlog/message"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// HTTPMux routes requests of metlogd's shared HTTP listener to built-in
// endpoints and to handlers that plugins register. Unlike http.ServeMux a
// handler can be removed, as plugins come and go on reload.
type HTTPMux struct {
	mu       sync.RWMutex
	handlers map[string]http.Handler // a path, or a prefix ending in '/'
}

func newHTTPMux() *HTTPMux { return &HTTPMux{handlers: make(map[string]http.Handler)} }

// Handle serves path with h: exactly, or, when path ends in '/', every path
// under it. It returns a function that removes the handler, and an error
// when the path is taken.
func (m *HTTPMux) Handle(path string, h http.Handler) (remove func(), err error) {
	if !strings.HasPrefix(path, "/") {
		return nil, fmt.Errorf("HTTP path %q must start with /", path)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, taken := m.handlers[path]; taken {
		return nil, fmt.Errorf("HTTP path %s is already served by another plugin", path)
	}
	m.handlers[path] = h
	return func() {
		m.mu.Lock()
		defer m.mu.Unlock()
		if m.handlers[path] == h {
			delete(m.handlers, path)
		}
	}, nil
}

// ServeHTTP dispatches to the exact path, else the longest prefix.
func (m *HTTPMux) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	m.mu.RLock()
	h, ok := m.handlers[r.URL.Path]
	if !ok {
		best := ""
		for p, ph := range m.handlers {
			if strings.HasSuffix(p, "/") && strings.HasPrefix(r.URL.Path, p) && len(p) > len(best) {
				best, h = p, ph
			}
		}
		ok = best != ""
	}
	m.mu.RUnlock()
	if !ok {
		http.NotFound(w, r)
		return
	}
	h.ServeHTTP(w, r)
}

func (m *HTTPMux) paths() []string {
	m.mu.RLock()
	defer m.mu.RUnlock()
	out := make([]string, 0, len(m.handlers))
	for p := range m.handlers {
		out = append(out, p)
	}
	sort.Strings(out)
	return out
}

// httpServer is the shared listener.
type httpServer struct {
	ln  net.Listener
	srv *http.Server
}

func startHTTP(addr string, h http.Handler, log *slog.Logger) (*httpServer, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("HTTP listener ([metlogd] http_listen): %w", err)
	}
	s := &httpServer{ln: ln, srv: &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}}
	go func() {
		if err := s.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("HTTP listener failed", "err", err)
		}
	}()
	return s, nil
}

func (s *httpServer) addr() string { return s.ln.Addr().String() }

func (s *httpServer) close() {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if s.srv.Shutdown(ctx) != nil {
		_ = s.srv.Close() // taps hold streams open
	}
}

// maxTaps bounds concurrent /tap clients.
const maxTaps = 32

func (p *Pipeline) registerBuiltinHandlers() {
	_, _ = p.mux.Handle("/metrics", promhttp.HandlerFor(p.prom, promhttp.HandlerOpts{}))
	_, _ = p.mux.Handle("/status", http.HandlerFunc(p.serveStatus))
	_, _ = p.mux.Handle("/tap", http.HandlerFunc(p.serveTap))
	_, _ = p.mux.Handle("/", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprintf(w, "metlogd %s\n\n", p.opts.Version)
		for _, path := range p.mux.paths() {
			fmt.Fprintln(w, path)
		}
	}))
}

// Status is what /status reports.
type Status struct {
	Version  string         `json:"version"`
	Started  time.Time      `json:"started"`
	Uptime   float64        `json:"uptime_seconds"`
	Files    []string       `json:"config_files"`
	Reloads  uint64         `json:"reloads"`
	Failed   uint64         `json:"failed_reloads"`
	Routed   uint64         `json:"routed"`
	Unrouted uint64         `json:"unmatched"`
	Plugins  []PluginStatus `json:"plugins"`
}

// PluginStatus is one plugin's line of /status.
type PluginStatus struct {
	Name          string            `json:"name"`
	Type          string            `json:"type"`
	Kind          string            `json:"kind"`
	In            uint64            `json:"in"`
	Out           uint64            `json:"out,omitempty"`
	Errors        uint64            `json:"errors"`
	DecodeErrors  uint64            `json:"decode_errors,omitempty"`
	Dropped       map[string]uint64 `json:"dropped,omitempty"`
	QueueDepth    int               `json:"queue_depth"`
	QueueCapacity int               `json:"queue_capacity"`
}

// Status returns the pipeline's state.
func (p *Pipeline) Status() Status {
	// Not under p.mu: /status must answer while a reload runs.
	st := Status{Version: p.opts.Version, Started: p.started, Uptime: time.Since(p.started).Seconds()}
	if cfg := p.current.Load(); cfg != nil {
		st.Files = cfg.Files
	}
	st.Reloads, st.Failed = p.metrics.reloads.Load(), p.metrics.reloadFails.Load()
	st.Routed, st.Unrouted = p.metrics.routed.Load(), p.metrics.unmatched.Load()
	for _, m := range p.metrics.all() {
		ps := PluginStatus{Name: m.Name, Type: m.Type, Kind: m.Kind.String(), In: m.In.Load(), Out: m.Out.Load(),
			Errors: m.Errors.Load(), DecodeErrors: m.DecodeErrors.Load()}
		ps.QueueDepth, ps.QueueCapacity = m.QueueState()
		for r := DropReason(0); r < numDropReasons; r++ {
			if n := m.Dropped(r); n > 0 {
				if ps.Dropped == nil {
					ps.Dropped = map[string]uint64{}
				}
				ps.Dropped[r.String()] = n
			}
		}
		st.Plugins = append(st.Plugins, ps)
	}
	return st
}

func (p *Pipeline) serveStatus(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(p.Status())
}

// tap subscribes a Tap to the router.
func (r *router) tap(expr string, buffer int) (*Tap, func(), error) {
	if expr == "" {
		expr = "TRUE"
	}
	m, err := matcher.Compile(expr)
	if err != nil {
		return nil, nil, err
	}
	c := make(chan *message.Message, max(buffer, 1))
	t := &Tap{match: m, C: c, c: c}
	r.taps.add(t)
	var once sync.Once
	return t, func() { once.Do(func() { r.taps.remove(t) }) }, nil
}

// serveTap streams the messages matching ?match= as canonical JSON lines
// until the client goes away. ?limit=N ends the stream after N messages.
func (p *Pipeline) serveTap(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet {
		http.Error(w, "use GET", http.StatusMethodNotAllowed)
		return
	}
	limit := -1
	if s := r.URL.Query().Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 0 {
			http.Error(w, "limit must be a number of messages", http.StatusBadRequest)
			return
		}
		limit = n
	}
	if len(p.router.taps.snapshot()) >= maxTaps {
		http.Error(w, fmt.Sprintf("too many taps (at most %d)", maxTaps), http.StatusServiceUnavailable)
		return
	}
	t, cancel, err := p.router.tap(r.URL.Query().Get("match"), 4096)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	defer cancel()
	flusher, _ := w.(http.Flusher)
	w.Header().Set("Content-Type", "application/x-ndjson")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	if flusher != nil {
		flusher.Flush()
	}
	buf := make([]byte, 0, 4096)
	for sent := 0; limit < 0 || sent < limit; {
		select {
		case <-r.Context().Done():
			return
		case m := <-t.C:
			buf = append(message.AppendJSON(buf[:0], m), '\n')
			sent++
			// Take what else is waiting before flushing, up to the limit.
			for more := true; more && (limit < 0 || sent < limit); {
				select {
				case m := <-t.C:
					buf = append(message.AppendJSON(buf, m), '\n')
					sent++
				default:
					more = false
				}
			}
			if _, err := w.Write(buf); err != nil {
				return
			}
			if flusher != nil {
				flusher.Flush()
			}
		}
	}
}
