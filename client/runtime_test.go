//go:build unix

package client

import (
	"math"
	"reflect"
	"runtime"
	"runtime/debug"
	"strconv"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/metlog/metlog/message"
)

// rtNames are the gauges of one runtime sample, in the order they are sent.
var rtNames = []string{
	"goroutines", "heap.alloc_bytes", "heap.objects", "memory.total_bytes", "gc.cycles",
	"gc.pause_p99_ms", "gc.pause_max_ms", "gc.heap_goal_bytes", "cpu.user_seconds", "cpu.system_seconds",
	"cpu.percent", "threads", "gomaxprocs",
}

// rtSample is one runtime sample: gauge values by name, without the prefix.
type rtSample map[string]float64

// rtSamples splits the captured messages into samples, checking each is a
// well-formed gauge and each sample has every gauge, in order.
func rtSamples(t *testing.T, capture *Capture, prefix string) []rtSample {
	t.Helper()
	msgs := capture.Messages()
	if len(msgs)%len(rtNames) != 0 {
		t.Fatalf("%d messages is not a whole number of %d-gauge samples", len(msgs), len(rtNames))
	}
	var samples []rtSample
	for len(msgs) > 0 {
		s := rtSample{}
		var names []string
		for _, m := range msgs[:len(rtNames)] {
			name, _ := m.GetString("name")
			rate, _ := m.GetDouble("rate")
			if m.Type != "gauge" || m.Severity != message.Info || rate != 1 || len(name) <= len(prefix) || name[:len(prefix)] != prefix {
				t.Fatalf("not a %q gauge: %+v", prefix, m)
			}
			v, err := strconv.ParseFloat(m.Payload, 64)
			if err != nil {
				t.Fatalf("%s: payload %q: %v", name, m.Payload, err)
			}
			names = append(names, name[len(prefix):])
			s[name[len(prefix):]] = v
		}
		if !reflect.DeepEqual(names, rtNames) {
			t.Fatalf("sample gauges\n %q\nwant\n %q", names, rtNames)
		}
		samples = append(samples, s)
		msgs = msgs[len(rtNames):]
	}
	return samples
}

// newRTClient returns a client that captures what it sends.
func newRTClient(t *testing.T) (*Client, *Capture) {
	t.Helper()
	capture := NewCapture()
	c, err := New(Config{Logger: "rt", Output: capture})
	if err != nil {
		t.Fatal(err)
	}
	return c, capture
}

func TestRuntimeMetricsSamples(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c, capture := newRTClient(t)
		const interval = 10 * time.Second
		start := time.Now()
		stop := c.StartRuntimeMetrics(interval, "")
		// The first sample is taken at once.
		if got := len(rtSamples(t, capture, "runtime.")); got != 1 {
			t.Fatalf("%d samples at start, want 1", got)
		}
		// Look between ticks: at 0.25, 1.25 ... 5.25 intervals.
		time.Sleep(interval / 4)
		for n := 0; n <= 5; n++ {
			synctest.Wait()
			if got := len(rtSamples(t, capture, "runtime.")); got != n+1 {
				t.Fatalf("%v after the start: %d samples, want %d", time.Since(start), got, n+1)
			}
			if n < 5 {
				time.Sleep(interval)
			}
		}
		before := time.Now()
		stop()
		if d := time.Since(before); d != 0 {
			t.Errorf("stop took %v, waiting for a tick", d)
		}
		time.Sleep(10 * interval)
		synctest.Wait()
		if got := len(rtSamples(t, capture, "runtime.")); got != 6 {
			t.Fatalf("%d samples after stop, want 6", got)
		}
		stop() // idempotent
		// synctest.Test fails if the sampling goroutine is still alive.
	})
}

// rtGateSender captures messages, except that while gate is set, Send
// waits for it to close.
type rtGateSender struct {
	*Capture
	gate atomic.Pointer[chan struct{}]
}

func (g *rtGateSender) Send(b []byte) error {
	if ch := g.gate.Load(); ch != nil {
		<-*ch
	}
	return g.Capture.Send(b)
}

// TestRuntimeMetricsStopWaits stops the sampler while it is sending: stop
// returns only once that sample is sent and the goroutine has exited.
func TestRuntimeMetricsStopWaits(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		out := &rtGateSender{Capture: NewCapture()}
		c, err := New(Config{Output: out})
		if err != nil {
			t.Fatal(err)
		}
		const interval = time.Second
		stop := c.StartRuntimeMetrics(interval, "")
		gate := make(chan struct{})
		out.gate.Store(&gate)
		time.Sleep(interval + interval/2) // the second sample waits at the gate
		stopped := make(chan struct{})
		go func() {
			stop()
			close(stopped)
		}()
		synctest.Wait()
		select {
		case <-stopped:
			t.Fatal("stop returned while a sample was being sent")
		default:
		}
		close(gate)
		synctest.Wait()
		select {
		case <-stopped:
		default:
			t.Fatal("stop did not return after the sample was sent")
		}
		if got := len(rtSamples(t, out.Capture, "runtime.")); got != 2 {
			t.Fatalf("%d samples, want 2", got)
		}
	})
}

func TestRuntimeMetricsCPUPercent(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var user, sys time.Duration
		s := newRuntimeSampler("")
		s.processCPU = func() (time.Duration, time.Duration, bool) { return user, sys, true }
		s.wall, s.cpu = time.Now(), 0
		steps := []struct {
			wall, user, sys time.Duration // elapsed wall time; CPU times since the start
			want            float64
		}{
			{10 * time.Second, 4 * time.Second, 1 * time.Second, 50},
			{2 * time.Second, 6 * time.Second, 2 * time.Second, 150},
			{5 * time.Second, 6 * time.Second, 2 * time.Second, 0},
			{time.Second, 5 * time.Second, 2 * time.Second, 0}, // CPU time going back counts as none
			{time.Second, 5*time.Second + 250*time.Millisecond, 2 * time.Second, 25},
			{0, 6 * time.Second, 2 * time.Second, 0}, // no wall time
		}
		for i, st := range steps {
			time.Sleep(st.wall)
			user, sys = st.user, st.sys
			s.read()
			if !s.have[rtCPUPercent] || s.values[rtCPUPercent] != st.want {
				t.Errorf("step %d: cpu.percent %v (sent %v), want %v", i, s.values[rtCPUPercent], s.have[rtCPUPercent], st.want)
			}
			if s.values[rtCPUUser] != st.user.Seconds() || s.values[rtCPUSystem] != st.sys.Seconds() {
				t.Errorf("step %d: cpu.user_seconds %v cpu.system_seconds %v, want %v %v", i,
					s.values[rtCPUUser], s.values[rtCPUSystem], st.user.Seconds(), st.sys.Seconds())
			}
		}
		// Without CPU times, the CPU gauges are left out.
		s.processCPU = func() (time.Duration, time.Duration, bool) { return 0, 0, false }
		s.read()
		if s.have[rtCPUUser] || s.have[rtCPUSystem] || s.have[rtCPUPercent] || !s.have[rtGoroutines] {
			t.Errorf("without CPU times: have %v", s.have)
		}
	})
}

func TestRuntimeMetricsPrefix(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c, capture := newRTClient(t)
		stop := c.StartRuntimeMetrics(time.Second, "myapp.go.")
		stop()
		if got := len(rtSamples(t, capture, "myapp.go.")); got != 1 {
			t.Fatalf("%d samples, want 1", got)
		}
	})
}

func TestRuntimeMetricsValues(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c, capture := newRTClient(t)
		const interval = 10 * time.Second
		stop := c.StartRuntimeMetrics(interval, "")
		time.Sleep(3*interval + interval/2)
		stop()
		maxPercent := 100 * float64(max(runtime.GOMAXPROCS(0), runtime.NumCPU()))
		var prevCPU float64
		for i, s := range rtSamples(t, capture, "runtime.") {
			positive := []string{"goroutines", "heap.alloc_bytes", "heap.objects", "memory.total_bytes",
				"gc.heap_goal_bytes", "threads", "cpu.user_seconds"}
			for _, name := range positive {
				if s[name] <= 0 {
					t.Errorf("sample %d: %s = %v, want > 0", i, name, s[name])
				}
			}
			if s["memory.total_bytes"] < s["heap.alloc_bytes"] {
				t.Errorf("sample %d: memory.total_bytes %v < heap.alloc_bytes %v", i, s["memory.total_bytes"], s["heap.alloc_bytes"])
			}
			if got, want := s["gomaxprocs"], float64(runtime.GOMAXPROCS(0)); got != want {
				t.Errorf("sample %d: gomaxprocs = %v, want %v", i, got, want)
			}
			if p := s["cpu.percent"]; p < 0 || p > maxPercent {
				t.Errorf("sample %d: cpu.percent = %v, want 0..%v", i, p, maxPercent)
			}
			if s["cpu.system_seconds"] < 0 {
				t.Errorf("sample %d: cpu.system_seconds = %v", i, s["cpu.system_seconds"])
			}
			cpu := s["cpu.user_seconds"] + s["cpu.system_seconds"]
			if cpu < prevCPU {
				t.Errorf("sample %d: CPU time went back from %v to %v", i, prevCPU, cpu)
			}
			prevCPU = cpu
			if p99, pmax := s["gc.pause_p99_ms"], s["gc.pause_max_ms"]; p99 < 0 || p99 > pmax {
				t.Errorf("sample %d: gc.pause_p99_ms %v not in 0..gc.pause_max_ms %v", i, p99, pmax)
			}
		}
	})
}

func TestRuntimeMetricsGoroutines(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c, capture := newRTClient(t)
		const interval = time.Second
		stop := c.StartRuntimeMetrics(interval, "")
		defer stop()
		const n = 25
		release := make(chan struct{})
		for range n {
			go func() { <-release }()
		}
		time.Sleep(interval + interval/2) // the second sample, at 1 interval
		synctest.Wait()
		close(release)
		synctest.Wait()      // they have exited
		time.Sleep(interval) // the third sample, at 2 intervals
		synctest.Wait()
		s := rtSamples(t, capture, "runtime.")
		if len(s) != 3 {
			t.Fatalf("%d samples, want 3", len(s))
		}
		before, during, after := s[0]["goroutines"], s[1]["goroutines"], s[2]["goroutines"]
		if during < before+n {
			t.Errorf("goroutines went from %v to %v after starting %d", before, during, n)
		}
		if after > during-n {
			t.Errorf("goroutines went from %v to %v after %d exited", during, after, n)
		}
	})
}

func TestRuntimeMetricsGC(t *testing.T) {
	defer debug.SetGCPercent(debug.SetGCPercent(-1)) // only forced cycles
	runtime.GC()                                     // finish any cycle under way
	synctest.Test(t, func(t *testing.T) {
		c, capture := newRTClient(t)
		const interval = time.Second
		stop := c.StartRuntimeMetrics(interval, "")
		defer stop()
		time.Sleep(interval + interval/2) // a sample without GC, at 1 interval
		synctest.Wait()
		runtime.GC()
		time.Sleep(interval) // a sample after it, at 2 intervals
		synctest.Wait()
		s := rtSamples(t, capture, "runtime.")
		if len(s) != 3 {
			t.Fatalf("%d samples, want 3", len(s))
		}
		if s[1]["gc.cycles"] != s[0]["gc.cycles"] {
			t.Errorf("gc.cycles went from %v to %v without a GC", s[0]["gc.cycles"], s[1]["gc.cycles"])
		}
		if s[1]["gc.pause_p99_ms"] != 0 || s[1]["gc.pause_max_ms"] != 0 {
			t.Errorf("without a GC: pauses p99 %v max %v ms, want 0", s[1]["gc.pause_p99_ms"], s[1]["gc.pause_max_ms"])
		}
		if s[2]["gc.cycles"] != s[1]["gc.cycles"]+1 {
			t.Errorf("gc.cycles went from %v to %v with one GC", s[1]["gc.cycles"], s[2]["gc.cycles"])
		}
		p99, pmax := s[2]["gc.pause_p99_ms"], s[2]["gc.pause_max_ms"]
		if p99 <= 0 || pmax < p99 || pmax > 10_000 {
			t.Errorf("after a GC: pauses p99 %v max %v ms", p99, pmax)
		}
	})
}

// TestRuntimeMetricsRealTime runs the sampler on the real clock: the first
// sample's CPU percentage covers the time since the package was
// initialized, and stop leaves no goroutine behind.
func TestRuntimeMetricsRealTime(t *testing.T) {
	before := runtime.NumGoroutine()
	c, capture := newRTClient(t)
	stop := c.StartRuntimeMetrics(time.Millisecond, "")
	deadline := time.Now().Add(10 * time.Second)
	for len(capture.Messages()) < 3*len(rtNames) && time.Now().Before(deadline) {
		runtime.Gosched()
	}
	stop()
	stop()
	sent := len(capture.Messages())
	for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
		runtime.Gosched()
	}
	if n := runtime.NumGoroutine(); n > before {
		t.Errorf("%d goroutines after stop, %d before start", n, before)
	}
	s := rtSamples(t, capture, "runtime.")
	if len(s) < 3 || len(capture.Messages()) != sent {
		t.Fatalf("%d samples, %d messages sent after stop", len(s), len(capture.Messages())-sent)
	}
	maxPercent := 100 * float64(max(runtime.GOMAXPROCS(0), runtime.NumCPU()))
	if p := s[0]["cpu.percent"]; p <= 0 || p > maxPercent {
		t.Errorf("first cpu.percent = %v, want more than 0, at most %v", p, maxPercent)
	}
}

func TestRuntimeMetricsBadInterval(t *testing.T) {
	c, _ := newRTClient(t)
	for _, d := range []time.Duration{0, -time.Second} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("StartRuntimeMetrics(%v) did not panic", d)
				}
			}()
			c.StartRuntimeMetrics(d, "")
		}()
	}
}

func TestPauseQuantiles(t *testing.T) {
	inf := math.Inf(1)
	buckets := []float64{math.Inf(-1), 0.001, 0.002, 0.004, 0.008, inf}
	tests := []struct {
		name           string
		counts, prev   []uint64
		wantP99, wantM float64
	}{
		{"none", []uint64{0, 0, 0, 0, 0}, []uint64{0, 0, 0, 0, 0}, 0, 0},
		{"none new", []uint64{0, 3, 2, 0, 0}, []uint64{0, 3, 2, 0, 0}, 0, 0},
		{"one", []uint64{0, 0, 1, 0, 0}, []uint64{0, 0, 0, 0, 0}, 0.004, 0.004},
		{"first bucket", []uint64{2, 0, 0, 0, 0}, []uint64{0, 0, 0, 0, 0}, 0.001, 0.001},
		{"last bucket, unbounded", []uint64{0, 0, 0, 0, 1}, []uint64{0, 0, 0, 0, 0}, 0.008, 0.008},
		{"rank in the bulk", []uint64{0, 99, 0, 0, 1}, []uint64{0, 0, 0, 0, 0}, 0.002, 0.008},
		{"rank in the tail", []uint64{0, 98, 0, 2, 0}, []uint64{0, 0, 0, 0, 0}, 0.008, 0.008},
		{"rank rounds up", []uint64{0, 100, 0, 1, 0}, []uint64{0, 0, 0, 0, 0}, 0.002, 0.008},
		{"delta only", []uint64{0, 60, 5, 3, 0}, []uint64{0, 50, 4, 3, 0}, 0.004, 0.004},
		{"old maximum ignored", []uint64{0, 10, 0, 0, 7}, []uint64{0, 0, 0, 0, 7}, 0.002, 0.002},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p99, pmax := pauseQuantiles(buckets, tt.counts, tt.prev)
			if p99 != tt.wantP99 || pmax != tt.wantM {
				t.Errorf("got p99 %v max %v, want %v %v", p99, pmax, tt.wantP99, tt.wantM)
			}
		})
	}
}

func BenchmarkRuntimeSample(b *testing.B) {
	c, err := New(Config{Output: discardSender{}})
	if err != nil {
		b.Fatal(err)
	}
	s := newRuntimeSampler(RuntimeMetricsPrefix)
	b.ReportAllocs()
	for b.Loop() {
		s.sample(c)
	}
}
