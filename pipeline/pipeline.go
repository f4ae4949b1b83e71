package pipeline

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// Options are what the program running a pipeline tells it.
type Options struct {
	Logger  *slog.Logger // nil: slog.Default()
	Version string       // reported by /status
}

// Pipeline is a running router: its plugins, their queues, the routing
// table and the HTTP listener. Start, Reload and Shutdown may be called
// from any goroutine; they run one at a time.
type Pipeline struct {
	opts    Options
	log     *slog.Logger
	metrics *metricsSet
	router  *router
	mux     *HTTPMux
	svc     *Services
	prom    *prometheus.Registry
	server  *httpServer

	mu      sync.Mutex
	cfg     *Config
	current atomic.Pointer[Config] // cfg, for readers that must not wait for a reload
	runners map[string]*runner
	order   []string // section names in configuration order
	ctx     context.Context
	cancel  context.CancelFunc
	started time.Time
	stopped bool
}

// New returns a pipeline that is not running yet.
func New(opts Options) *Pipeline {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	ms := newMetricsSet()
	p := &Pipeline{
		opts:    opts,
		log:     opts.Logger,
		metrics: ms,
		router:  newRouter(ms),
		mux:     newHTTPMux(),
		svc:     newServices(),
		prom:    prometheus.NewRegistry(),
		runners: make(map[string]*runner),
	}
	p.prom.MustRegister(ms, collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	p.registerBuiltinHandlers()
	return p
}

// Deliverer returns the router as an input sees it, for programs and tests
// that feed the pipeline directly.
func (p *Pipeline) Deliverer(name string) Deliverer {
	return inputDeliverer{r: p.router, m: p.metrics.get(name, "external", KindInput)}
}

// Start runs the plugins of cfg: outputs first, then filters, then inputs,
// so that nothing is routed to a plugin that is not ready. If any fails to
// start, those started are stopped and the error returned.
func (p *Pipeline) Start(cfg *Config) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cfg != nil {
		return errors.New("pipeline already started")
	}
	p.ctx, p.cancel = context.WithCancel(context.Background())
	p.started = time.Now()
	p.cfg = cfg
	p.current.Store(cfg)
	p.router.maxLoops.Store(int32(cfg.Global.MaxLoops))
	if cfg.Global.HTTPListen != "" {
		s, err := startHTTP(cfg.Global.HTTPListen, p.mux, p.log)
		if err != nil {
			return err
		}
		p.server = s
	}
	for _, kind := range []Kind{KindOutput, KindFilter, KindInput} {
		for _, s := range cfg.Sections {
			if s.Kind != kind {
				continue
			}
			r, err := p.startRunner(s, nil)
			if err != nil {
				p.stopAll(context.Background())
				return err
			}
			p.runners[s.Name] = r
			if kind != KindInput {
				p.publishTable(cfg)
			}
		}
	}
	p.order = sectionNames(cfg)
	p.metrics.keep(nameSet(cfg))
	p.log.Info("pipeline started", "inputs", countKind(cfg, KindInput), "filters", countKind(cfg, KindFilter), "outputs", countKind(cfg, KindOutput))
	return nil
}

// startRunner starts the plugin of s. For a filter or output replacing
// another of the same name, q is the queue it takes over.
func (p *Pipeline) startRunner(s *Section, q *queue) (*runner, error) {
	g := p.cfg.Global
	r := &runner{
		sec:     s,
		log:     p.log.With("plugin", s.Name, "type", s.Type),
		metrics: p.metrics.get(s.Name, s.Type, s.Kind),
		stop:    make(chan struct{}),
		done:    make(chan struct{}),
	}
	r.set = Settings{Name: s.Name, Type: s.Type, Logger: r.log, Metrics: r.metrics, Global: g, Services: p.svc}
	if p.server != nil {
		r.set.HTTP = p.mux
	}
	if name := s.encoderName(); name != "" {
		r.set.Encoder, _ = NewEncoder(name)
	}
	if s.Kind != KindInput {
		size := s.common.QueueSize
		if size == 0 {
			size = g.QueueSize
		}
		block := s.common.WhenFull == "block"
		if q == nil {
			q = newQueue(size, block)
		} else {
			q.resize(size, block)
			q.reopen()
		}
		r.q = q
		r.metrics.queue.Store(q)
	}
	ctx, cancel := context.WithCancel(p.ctx)
	r.cancel = cancel
	if st, ok := s.Plugin.(Starter); ok {
		sctx, scancel := context.WithTimeout(ctx, 30*time.Second)
		err := st.Start(sctx, &r.set)
		scancel()
		if err != nil {
			cancel()
			stopPlugin(s.Plugin, r.log)
			return nil, fmt.Errorf("start [%s] (%s): %w", s.Name, s.Type, err)
		}
	}
	switch s.Kind {
	case KindInput:
		go r.runInput(ctx, p.router)
	case KindFilter:
		go r.runFilter(ctx, p.router)
	case KindOutput:
		go r.runOutput(ctx)
	}
	return r, nil
}

// publishTable points the router at the filters and outputs that run.
func (p *Pipeline) publishTable(cfg *Config) {
	t := &table{}
	for _, s := range cfg.Sections {
		r := p.runners[s.Name]
		if s.Kind == KindInput || r == nil {
			continue
		}
		t.routes = append(t.routes, route{name: s.Name, kind: s.Kind, match: r.sec.Match, q: r.q, metrics: r.metrics})
	}
	p.router.table.Store(t)
}

func stopPlugin(plugin any, log *slog.Logger) {
	if st, ok := plugin.(Stopper); ok {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := st.Stop(ctx); err != nil {
			log.Warn("stop failed", "err", err)
		}
	}
}

// stopInput stops an input at once and waits for it.
func (r *runner) stopInput() {
	r.requestStop()
	r.cancel()
	<-r.done
	stopPlugin(r.sec.Plugin, r.log)
}

// drain closes a filter's or output's queue and waits until it is empty
// or ctx ends, when the plugin's own context is cancelled and what is left
// is dropped and counted.
func (r *runner) drain(ctx context.Context) {
	r.q.close()
	select {
	case <-r.done:
	case <-ctx.Done():
		r.cancel()
		<-r.done
		if n, _, _ := r.q.state(); n > 0 {
			r.metrics.Drop(DropShutdown, n)
			r.log.Error("messages still queued at the shutdown deadline are dropped", "count", n)
		}
	}
	stopPlugin(r.sec.Plugin, r.log)
}

// Reload replaces the running configuration with cfg. Plugins whose
// configuration did not change keep running untouched; changed filters and
// outputs are replaced and their successors take over their queues, so
// nothing queued is lost; changed inputs are restarted; removed plugins are
// stopped, outputs after draining their queues. When a changed plugin
// fails to start, the old one keeps running (inputs: is started again) and
// the error is returned.
func (p *Pipeline) Reload(cfg *Config) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cfg == nil || p.stopped {
		return errors.New("pipeline is not running")
	}
	old := p.cfg
	var errs []error
	p.router.maxLoops.Store(int32(cfg.Global.MaxLoops))
	if cfg.Global.HTTPListen != old.Global.HTTPListen {
		if err := p.moveHTTP(cfg.Global.HTTPListen); err != nil {
			errs = append(errs, err)
			cfg.Global.HTTPListen = old.Global.HTTPListen
		}
	}
	p.cfg = cfg
	p.current.Store(cfg)
	newNames := nameSet(cfg)
	// Outputs and filters first, so that new inputs find them routed.
	for _, kind := range []Kind{KindOutput, KindFilter, KindInput} {
		for i, s := range cfg.Sections {
			if s.Kind != kind {
				continue
			}
			prev := p.runners[s.Name]
			if prev != nil && prev.sec.print == s.print && prev.sec.Kind == s.Kind && sameGlobals(old.Global, cfg.Global) {
				cfg.Sections[i] = prev.sec // unchanged: keeps running, with its instance
				continue
			}
			if err := p.replace(s, prev); err != nil {
				errs = append(errs, err)
			}
		}
		if kind != KindInput {
			p.publishTable(cfg)
		}
	}
	var removed []*runner
	for name, r := range p.runners {
		if !newNames[name] {
			removed = append(removed, r)
			delete(p.runners, name)
		}
	}
	p.publishTable(cfg)
	ctx, cancel := context.WithTimeout(context.Background(), cfg.Global.ShutdownTimeout)
	defer cancel()
	for _, r := range removed { // inputs first, then the rest drain
		if r.sec.Kind == KindInput {
			r.stopInput()
		}
	}
	for _, r := range removed {
		if r.sec.Kind != KindInput {
			r.drain(ctx)
		}
	}
	p.order = sectionNames(cfg)
	p.metrics.keep(nameSet(cfg))
	if len(errs) > 0 {
		p.metrics.reloadFails.Add(1)
		return errors.Join(errs...)
	}
	p.metrics.reloads.Add(1)
	p.log.Info("configuration reloaded")
	return nil
}

// replace starts the plugin of s in place of prev (which may be nil).
func (p *Pipeline) replace(s *Section, prev *runner) error {
	if prev == nil {
		r, err := p.startRunner(s, nil)
		if err != nil {
			return err
		}
		p.runners[s.Name] = r
		return nil
	}
	if prev.sec.Kind != s.Kind { // e.g. an input became an output
		if prev.sec.Kind == KindInput {
			prev.stopInput()
		} else {
			ctx, cancel := context.WithTimeout(context.Background(), p.cfg.Global.ShutdownTimeout)
			prev.drain(ctx)
			cancel()
		}
		delete(p.runners, s.Name)
		return p.replace(s, nil)
	}
	if s.Kind == KindInput {
		prev.stopInput() // free its port first
		r, err := p.startRunner(s, nil)
		if err == nil {
			p.runners[s.Name] = r
			return nil
		}
		// Run the old configuration again, from a fresh instance.
		if again, ferr := prev.sec.fresh(); ferr == nil {
			if r, rerr := p.startRunner(again, nil); rerr == nil {
				p.runners[s.Name] = r
				s.print = "" // it is not running the new configuration
				return err
			}
		}
		delete(p.runners, s.Name)
		return fmt.Errorf("%w; the input is stopped", err)
	}
	// A filter or output: hand the queue over once the successor started.
	// One stuck on an endpoint that stopped reading is cancelled after a
	// grace period, handing its batch back, rather than hold up the reload.
	prev.requestStop()
	grace := time.NewTimer(handoverGrace)
	select {
	case <-prev.done:
	case <-grace.C:
		prev.handover.Store(true)
		prev.cancel()
		<-prev.done
	}
	grace.Stop()
	r, err := p.startRunner(s, prev.q)
	if err != nil {
		// Keep the old one: start its goroutine again on the same queue.
		p.runners[s.Name] = p.restart(prev)
		return err
	}
	stopPlugin(prev.sec.Plugin, prev.log)
	p.runners[s.Name] = r
	return nil
}

// handoverGrace is how long a reload lets a replaced output finish the
// batch in hand before cancelling it.
const handoverGrace = time.Second

// restart runs a stopped filter or output runner's plugin again, on its
// queue, without stopping and starting the plugin itself.
func (p *Pipeline) restart(prev *runner) *runner {
	r := &runner{sec: prev.sec, set: prev.set, q: prev.q, log: prev.log, metrics: prev.metrics,
		stop: make(chan struct{}), done: make(chan struct{})}
	ctx, cancel := context.WithCancel(p.ctx)
	r.cancel = cancel
	if r.sec.Kind == KindFilter {
		go r.runFilter(ctx, p.router)
	} else {
		go r.runOutput(ctx)
	}
	return r
}

// fresh returns a new instance of the section's plugin with the same
// configuration, for restarting an input whose new configuration failed.
func (s *Section) fresh() (*Section, error) {
	p, ok := Lookup(s.Type)
	if !ok {
		return nil, fmt.Errorf("plugin type %s is gone", s.Type)
	}
	inst := p.New()
	b, err := json.Marshal(s.Plugin)
	if err != nil {
		return nil, err
	}
	if err := json.Unmarshal(b, inst); err != nil {
		return nil, err
	}
	c := *s
	c.Plugin = inst
	return &c, nil
}

// Shutdown stops the pipeline: inputs at once, then filters and outputs
// after draining their queues, within ctx's deadline. Messages still queued
// at the deadline are dropped and counted. It returns an error when
// messages were dropped.
func (p *Pipeline) Shutdown(ctx context.Context) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cfg == nil || p.stopped {
		return nil
	}
	p.stopped = true
	before := p.droppedAtShutdown()
	p.stopAll(ctx)
	if lost := p.droppedAtShutdown() - before; lost > 0 {
		return fmt.Errorf("%d messages were still queued at the shutdown deadline and are lost", lost)
	}
	p.log.Info("pipeline stopped")
	return nil
}

func (p *Pipeline) droppedAtShutdown() uint64 {
	var n uint64
	for _, r := range p.runners {
		n += r.metrics.Dropped(DropShutdown)
	}
	return n
}

// stopAll stops inputs, then drains filters (whose last injections reach
// the outputs), then outputs.
func (p *Pipeline) stopAll(ctx context.Context) {
	for _, r := range p.runners {
		if r.sec.Kind == KindInput {
			r.stopInput()
		}
	}
	for _, kind := range []Kind{KindFilter, KindOutput} {
		var wg sync.WaitGroup
		for _, r := range p.runners {
			if r.sec.Kind == kind {
				wg.Add(1)
				go func() { defer wg.Done(); r.drain(ctx) }()
			}
		}
		wg.Wait()
	}
	if p.server != nil {
		p.server.close()
	}
	if p.cancel != nil {
		p.cancel()
	}
}

// ReloadRejected counts a reload whose new configuration did not load, so
// that /status and /metrics show it with the reloads that failed later.
func (p *Pipeline) ReloadRejected() { p.metrics.reloadFails.Add(1) }

// Reopen asks every plugin that writes files to reopen them (SIGHUP, after
// an external logrotate), and returns their errors.
func (p *Pipeline) Reopen() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	var errs []error
	for _, name := range p.order {
		if r := p.runners[name]; r != nil {
			if ro, ok := r.sec.Plugin.(Reopener); ok {
				if err := ro.Reopen(); err != nil {
					errs = append(errs, fmt.Errorf("reopen [%s]: %w", name, err))
				}
			}
		}
	}
	return errors.Join(errs...)
}

// Tap subscribes to the messages the router handles that match m, up to
// buffer of them waiting; cancel ends the subscription and closes C.
func (p *Pipeline) Tap(match string, buffer int) (t *Tap, cancel func(), err error) {
	return p.router.tap(match, buffer)
}

// Metrics returns the counters of the plugin named name, or nil.
func (p *Pipeline) Metrics(name string) *Metrics {
	p.metrics.mu.Lock()
	defer p.metrics.mu.Unlock()
	return p.metrics.plugins[name]
}

// Config returns the configuration running now.
func (p *Pipeline) Config() *Config {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.cfg
}

// HTTPAddr returns the address the HTTP listener is bound to, or "".
func (p *Pipeline) HTTPAddr() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.server == nil {
		return ""
	}
	return p.server.addr()
}

func (p *Pipeline) moveHTTP(addr string) error {
	if p.server != nil {
		p.server.close()
		p.server = nil
	}
	if addr == "" {
		return nil
	}
	s, err := startHTTP(addr, p.mux, p.log)
	if err != nil {
		return err
	}
	p.server = s
	return nil
}

// sameGlobals reports whether the [metlogd] values plugins see are equal,
// so that unchanged sections need no restart.
func sameGlobals(a, b Global) bool {
	return a.MaxMessageSize == b.MaxMessageSize && a.QueueSize == b.QueueSize && a.BatchSize == b.BatchSize &&
		a.DataDir == b.DataDir && a.Hostname == b.Hostname && (a.HTTPListen == "") == (b.HTTPListen == "")
}

func nameSet(cfg *Config) map[string]bool {
	m := make(map[string]bool, len(cfg.Sections))
	for _, s := range cfg.Sections {
		m[s.Name] = true
	}
	return m
}

func sectionNames(cfg *Config) []string {
	var out []string
	for _, s := range cfg.Sections {
		out = append(out, s.Name)
	}
	return out
}

func countKind(cfg *Config, k Kind) int {
	n := 0
	for _, s := range cfg.Sections {
		if s.Kind == k {
			n++
		}
	}
	return n
}
