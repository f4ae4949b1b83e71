package client

import (
	"math"
	"runtime/metrics"
	"sync"
	"time"
)

// RuntimeMetricsPrefix starts the names of the gauges StartRuntimeMetrics
// sends when it is given no prefix.
const RuntimeMetricsPrefix = "runtime."

// StartRuntimeMetrics reports the health of the Go process, as
// metlog-psutils reported a Python process's: it sends a sample of gauges
// at once and then every interval, until stop is called. A sample is one
// ordinary "gauge" message (see Gauge) per measure, named with prefix
// ("runtime." when it is empty) followed by:
//
//	goroutines           live goroutines
//	heap.alloc_bytes     bytes in heap objects, live or not yet swept
//	heap.objects         heap objects, live or not yet swept
//	memory.total_bytes   memory mapped by the Go runtime
//	gc.cycles            GC cycles completed since the program started
//	gc.pause_p99_ms      99th percentile of the GC pauses since the previous sample
//	gc.pause_max_ms      longest GC pause since the previous sample
//	gc.heap_goal_bytes   the heap size the next GC cycle aims for
//	cpu.user_seconds     user CPU time of the process since it started
//	cpu.system_seconds   system CPU time of the process since it started
//	cpu.percent          process CPU time over wall time since the previous sample, x100
//	threads              OS threads the runtime owns
//	gomaxprocs           GOMAXPROCS
//
// The first sample's interval runs from the initialization of this
// package, early in the program's life. Pause times are the upper bounds of
// the runtime's histogram buckets, within a few percent of the real value,
// and 0 when no GC paused the program. cpu.percent counts every thread, so
// it can exceed 100 up to 100 times the number of CPUs. A gauge the runtime
// cannot measure is left out.
//
// The values are read with runtime/metrics, which does not stop the world
// as runtime.ReadMemStats does, and getrusage. StartRuntimeMetrics panics if
// interval is not positive. stop stops the sampling and returns once the
// sampling goroutine has exited; it may be called more than once.
//
// StartRuntimeMetrics exists on unix systems only, for getrusage.
func (c *Client) StartRuntimeMetrics(interval time.Duration, prefix string) (stop func()) {
	if interval <= 0 {
		panic("client: StartRuntimeMetrics needs a positive interval")
	}
	if prefix == "" {
		prefix = RuntimeMetricsPrefix
	}
	s := newRuntimeSampler(prefix)
	ticker := time.NewTicker(interval)
	s.sample(c)
	quit := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer ticker.Stop()
		for {
			select {
			case <-quit:
				return
			case <-ticker.C:
			}
			select {
			case <-quit: // stop wins over a tick that came at the same time
				return
			default:
			}
			s.sample(c)
		}
	}()
	var once sync.Once
	return func() {
		once.Do(func() { close(quit) })
		<-done
	}
}

// The time and the process CPU time when this package was initialized,
// where the first sample's CPU percentage starts.
var (
	initWall = time.Now()
	initCPU  = func() time.Duration { user, sys, _ := processCPU(); return user + sys }()
)

// The gauges of a runtime sample, in the order they are sent.
const (
	rtGoroutines = iota
	rtHeapAlloc
	rtHeapObjects
	rtMemoryTotal
	rtGCCycles
	rtPauseP99
	rtPauseMax
	rtHeapGoal
	rtCPUUser
	rtCPUSystem
	rtCPUPercent
	rtThreads
	rtGOMAXPROCS
	rtGauges
)

// runtimeGauges names the gauges, and the runtime/metrics metric each is
// read from directly, if any.
var runtimeGauges = [rtGauges]struct{ name, metric string }{
	rtGoroutines:  {"goroutines", "/sched/goroutines:goroutines"},
	rtHeapAlloc:   {"heap.alloc_bytes", "/memory/classes/heap/objects:bytes"},
	rtHeapObjects: {"heap.objects", "/gc/heap/objects:objects"},
	rtMemoryTotal: {"memory.total_bytes", "/memory/classes/total:bytes"},
	rtGCCycles:    {"gc.cycles", "/gc/cycles/total:gc-cycles"},
	rtPauseP99:    {"gc.pause_p99_ms", ""},
	rtPauseMax:    {"gc.pause_max_ms", ""},
	rtHeapGoal:    {"gc.heap_goal_bytes", "/gc/heap/goal:bytes"},
	rtCPUUser:     {"cpu.user_seconds", ""},
	rtCPUSystem:   {"cpu.system_seconds", ""},
	rtCPUPercent:  {"cpu.percent", ""},
	rtThreads:     {"threads", "/sched/threads/total:threads"},
	rtGOMAXPROCS:  {"gomaxprocs", "/sched/gomaxprocs:threads"},
}

// The GC pause histograms: the first, since Go 1.22, and the one it
// replaced.
const (
	gcPausesMetric    = "/sched/pauses/total/gc:seconds"
	oldGCPausesMetric = "/gc/pauses:seconds"
)

// runtimeSampler reads and sends runtime samples. Only one goroutine uses
// it at a time.
type runtimeSampler struct {
	names   [rtGauges]string
	samples []metrics.Sample // the direct metrics, then the pause histogram
	gauge   []int            // the gauge of each direct metric
	pauses  []uint64         // the pause histogram's counts at the previous sample
	cpu     time.Duration    // process CPU time at the previous sample
	wall    time.Time        // when the previous sample was taken
	values  [rtGauges]float64
	have    [rtGauges]bool

	processCPU func() (user, sys time.Duration, ok bool) // replaced by tests
}

func newRuntimeSampler(prefix string) *runtimeSampler {
	s := &runtimeSampler{wall: initWall, cpu: initCPU, processCPU: processCPU}
	for i, g := range runtimeGauges {
		s.names[i] = prefix + g.name
		if g.metric != "" {
			s.samples = append(s.samples, metrics.Sample{Name: g.metric})
			s.gauge = append(s.gauge, i)
		}
	}
	pauses := ""
	for _, d := range metrics.All() {
		switch d.Name {
		case gcPausesMetric:
			pauses = d.Name
		case oldGCPausesMetric:
			if pauses == "" {
				pauses = d.Name
			}
		}
	}
	if pauses != "" {
		s.samples = append(s.samples, metrics.Sample{Name: pauses})
	}
	return s
}

// sample reads every gauge and sends those the runtime measured.
func (s *runtimeSampler) sample(c *Client) {
	s.read()
	for i := range s.values {
		if s.have[i] {
			c.Gauge(s.names[i], s.values[i])
		}
	}
}

// read fills s.values and s.have.
func (s *runtimeSampler) read() {
	s.have = [rtGauges]bool{}
	metrics.Read(s.samples)
	now := time.Now()
	for i, g := range s.gauge {
		switch v := s.samples[i].Value; v.Kind() {
		case metrics.KindUint64:
			s.values[g], s.have[g] = float64(v.Uint64()), true
		case metrics.KindFloat64:
			s.values[g], s.have[g] = v.Float64(), true
		}
	}
	if len(s.samples) > len(s.gauge) {
		if v := s.samples[len(s.gauge)].Value; v.Kind() == metrics.KindFloat64Histogram {
			h := v.Float64Histogram()
			if len(s.pauses) != len(h.Counts) {
				s.pauses = make([]uint64, len(h.Counts))
			}
			p99, pmax := pauseQuantiles(h.Buckets, h.Counts, s.pauses)
			copy(s.pauses, h.Counts)
			s.values[rtPauseP99], s.have[rtPauseP99] = p99*1000, true
			s.values[rtPauseMax], s.have[rtPauseMax] = pmax*1000, true
		}
	}
	if user, sys, ok := s.processCPU(); ok {
		s.values[rtCPUUser], s.have[rtCPUUser] = user.Seconds(), true
		s.values[rtCPUSystem], s.have[rtCPUSystem] = sys.Seconds(), true
		percent := 0.0
		if wall := now.Sub(s.wall); wall > 0 && user+sys >= s.cpu {
			percent = float64(user+sys-s.cpu) / float64(wall) * 100
		}
		s.values[rtCPUPercent], s.have[rtCPUPercent] = percent, true
		s.cpu = user + sys
	}
	s.wall = now
}

// pauseQuantiles returns the 99th percentile and the maximum of the values
// a histogram counted since it held prev, as the upper bounds of the
// buckets they fell in (the lower bound for an unbounded last bucket), or
// zeros when it counted none.
func pauseQuantiles(buckets []float64, counts, prev []uint64) (p99, longest float64) {
	var total uint64
	for i := range counts {
		total += counts[i] - prev[i]
	}
	if total == 0 {
		return 0, 0
	}
	rank := (total*99 + 99) / 100 // the ceiling of 0.99*total
	var seen uint64
	for i := range counts {
		n := counts[i] - prev[i]
		if n == 0 {
			continue
		}
		bound := buckets[i+1]
		if math.IsInf(bound, 1) {
			bound = max(buckets[i], 0)
		}
		if seen < rank && seen+n >= rank {
			p99 = bound
		}
		seen += n
		longest = bound
	}
	return p99, longest
}
