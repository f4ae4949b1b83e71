package pipeline

import (
	"sort"
	"sync"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
)

// DropReason says why messages were dropped.
type DropReason int

// Reasons for dropping messages, as they appear in the reason label of
// metlog_dropped_total.
const (
	DropQueueFull    DropReason = iota // an output's or filter's queue was full and its policy is drop
	DropPermanent                      // the endpoint rejected them for good
	DropShutdown                       // still queued when the shutdown deadline passed
	DropUnauthorized                   // unsigned, badly signed, or without a valid token
	DropLoop                           // passed through more filters than max_loops allows
	DropTooLarge                       // over the maximum message size
	numDropReasons
)

var dropReasonNames = [numDropReasons]string{"queue_full", "permanent", "shutdown", "unauthorized", "loop", "too_large"}

func (r DropReason) String() string { return dropReasonNames[r] }

// Metrics counts what one plugin does. The pipeline keeps one per section
// name across reloads, so counters continue when a plugin is reconfigured.
// All methods are safe for concurrent use and cost one atomic add.
type Metrics struct {
	Name string
	Type string
	Kind Kind

	// In counts messages received: by an input from its source, by a
	// filter or output from its queue.
	In atomic.Uint64
	// Out counts messages an output delivered, or a filter injected.
	Out atomic.Uint64
	// Errors counts failures: delivery attempts to retry, processing
	// errors, connection problems.
	Errors atomic.Uint64
	// DecodeErrors counts input that could not be made into a message:
	// malformed frames or JSON, garbage, oversized messages.
	DecodeErrors atomic.Uint64
	// Bytes counts bytes an input read.
	Bytes atomic.Uint64

	dropped [numDropReasons]atomic.Uint64
	queue   atomic.Pointer[queue]
	latency prometheus.Observer // outputs: seconds from queueing to delivery
}

// Drop counts n messages dropped for reason.
func (m *Metrics) Drop(reason DropReason, n int) {
	m.dropped[reason].Add(uint64(n))
}

// Dropped returns the number of messages dropped for reason.
func (m *Metrics) Dropped(reason DropReason) uint64 { return m.dropped[reason].Load() }

// DroppedTotal returns the number of messages dropped for any reason.
func (m *Metrics) DroppedTotal() uint64 {
	var n uint64
	for i := range m.dropped {
		n += m.dropped[i].Load()
	}
	return n
}

// QueueState returns the depth and capacity of the plugin's queue (0, 0
// for inputs).
func (m *Metrics) QueueState() (depth, capacity int) {
	if q := m.queue.Load(); q != nil {
		n, c, _ := q.state()
		return n, c
	}
	return 0, 0
}

// metricsSet holds the Metrics of every plugin and the router's own
// counters, and exports them to Prometheus.
type metricsSet struct {
	mu      sync.Mutex
	plugins map[string]*Metrics
	latency *prometheus.HistogramVec

	routed      atomic.Uint64 // messages the router handled
	unmatched   atomic.Uint64 // messages no filter or output wanted
	tapDropped  atomic.Uint64 // messages a slow tap client missed
	reloads     atomic.Uint64
	reloadFails atomic.Uint64
}

func newMetricsSet() *metricsSet {
	return &metricsSet{
		plugins: make(map[string]*Metrics),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "metlog_delivery_latency_seconds",
			Help:    "Time from a message entering an output's queue to its delivery.",
			Buckets: prometheus.ExponentialBuckets(0.0001, 4, 10), // 100µs .. 26s
		}, []string{"plugin"}),
	}
}

// get returns the Metrics of the plugin named name, keeping existing
// counters when its type is unchanged.
func (s *metricsSet) get(name, typ string, kind Kind) *Metrics {
	s.mu.Lock()
	defer s.mu.Unlock()
	if m, ok := s.plugins[name]; ok && m.Type == typ && m.Kind == kind {
		return m
	}
	m := &Metrics{Name: name, Type: typ, Kind: kind}
	if kind == KindOutput {
		m.latency = s.latency.WithLabelValues(name)
	}
	s.plugins[name] = m
	return m
}

// keep forgets the metrics of plugins not named in names.
func (s *metricsSet) keep(names map[string]bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for name := range s.plugins {
		if !names[name] {
			delete(s.plugins, name)
			s.latency.DeleteLabelValues(name)
		}
	}
}

// all returns every plugin's Metrics, sorted by name.
func (s *metricsSet) all() []*Metrics {
	s.mu.Lock()
	out := make([]*Metrics, 0, len(s.plugins))
	for _, m := range s.plugins {
		out = append(out, m)
	}
	s.mu.Unlock()
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

var (
	pluginLabels = []string{"plugin", "type", "kind"}
	descIn       = prometheus.NewDesc("metlog_messages_in_total", "Messages received: by an input from its source, by a filter or output from its queue.", pluginLabels, nil)
	descOut      = prometheus.NewDesc("metlog_messages_out_total", "Messages delivered by an output, or injected by a filter.", pluginLabels, nil)
	descErrors   = prometheus.NewDesc("metlog_errors_total", "Failed delivery attempts (retried), processing errors and connection problems.", pluginLabels, nil)
	descDecode   = prometheus.NewDesc("metlog_decode_errors_total", "Input that could not be made into a message.", pluginLabels, nil)
	descBytes    = prometheus.NewDesc("metlog_input_bytes_total", "Bytes read by an input.", pluginLabels, nil)
	descDropped  = prometheus.NewDesc("metlog_dropped_total", "Messages dropped, by reason.", append(pluginLabels, "reason"), nil)
	descDepth    = prometheus.NewDesc("metlog_queue_depth", "Messages waiting in a filter's or output's queue.", pluginLabels, nil)
	descCapacity = prometheus.NewDesc("metlog_queue_capacity", "Capacity of a filter's or output's queue.", pluginLabels, nil)
	descRouted   = prometheus.NewDesc("metlog_router_messages_total", "Messages the router handled.", nil, nil)
	descUnmatch  = prometheus.NewDesc("metlog_router_unmatched_total", "Messages no filter or output matched.", nil, nil)
	descTapDrop  = prometheus.NewDesc("metlog_tap_dropped_total", "Messages a slow tap client missed.", nil, nil)
	descReloads  = prometheus.NewDesc("metlog_config_reloads_total", "Configuration reloads, by result.", []string{"result"}, nil)
)

// Describe implements prometheus.Collector.
func (s *metricsSet) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descIn, descOut, descErrors, descDecode, descBytes, descDropped,
		descDepth, descCapacity, descRouted, descUnmatch, descTapDrop, descReloads} {
		ch <- d
	}
	s.latency.Describe(ch)
}

// Collect implements prometheus.Collector.
func (s *metricsSet) Collect(ch chan<- prometheus.Metric) {
	counter := func(d *prometheus.Desc, v uint64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
	}
	for _, m := range s.all() {
		l := []string{m.Name, m.Type, m.Kind.String()}
		counter(descIn, m.In.Load(), l...)
		if m.Kind != KindInput {
			counter(descOut, m.Out.Load(), l...)
		}
		counter(descErrors, m.Errors.Load(), l...)
		if m.Kind == KindInput {
			counter(descDecode, m.DecodeErrors.Load(), l...)
			counter(descBytes, m.Bytes.Load(), l...)
		}
		for r := DropReason(0); r < numDropReasons; r++ {
			counter(descDropped, m.dropped[r].Load(), append(l, r.String())...)
		}
		if m.Kind != KindInput {
			depth, capacity := m.QueueState()
			ch <- prometheus.MustNewConstMetric(descDepth, prometheus.GaugeValue, float64(depth), l...)
			ch <- prometheus.MustNewConstMetric(descCapacity, prometheus.GaugeValue, float64(capacity), l...)
		}
	}
	counter(descRouted, s.routed.Load())
	counter(descUnmatch, s.unmatched.Load())
	counter(descTapDrop, s.tapDropped.Load())
	counter(descReloads, s.reloads.Load(), "ok")
	counter(descReloads, s.reloadFails.Load(), "failed")
	s.latency.Collect(ch)
}
