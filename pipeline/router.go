package pipeline

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/metlog/metlog/matcher"
	"github.com/metlog/metlog/message"
)

// route is one filter or output as the router sees it.
type route struct {
	name    string
	kind    Kind
	match   *matcher.Matcher
	q       *queue
	metrics *Metrics
}

// table is the router's view of the pipeline; a reload swaps it whole.
type table struct {
	routes []route
}

// router puts each message on the queue of every filter and output whose
// matcher accepts it. It runs on the goroutine of whoever delivers.
type router struct {
	table    atomic.Pointer[table]
	maxLoops atomic.Int32
	metrics  *metricsSet
	taps     taps
}

func newRouter(ms *metricsSet) *router {
	r := &router{metrics: ms}
	r.table.Store(&table{})
	return r
}

// deliver routes m, which has passed through hops filters already.
func (r *router) deliver(ctx context.Context, m *message.Message, hops int, from *Metrics) error {
	if hops > int(r.maxLoops.Load()) {
		if from != nil {
			from.Drop(DropLoop, 1)
		}
		return nil
	}
	if m.UUID == ([16]byte{}) {
		m.UUID = message.NewUUID()
	}
	now := time.Now().UnixNano()
	if m.Timestamp == 0 {
		m.Timestamp = now
	}
	r.metrics.routed.Add(1)
	t := r.table.Load()
	matched := false
	for i := range t.routes {
		rt := &t.routes[i]
		if !rt.match.Match(m) {
			continue
		}
		matched = true
		ok, err := rt.q.push(ctx, item{m: m, at: now, hops: uint8(hops)})
		switch {
		case ok:
		case err == nil: // full, and the policy is drop
			rt.metrics.Drop(DropQueueFull, 1)
		case err == errQueueClosed: // shutting down
			rt.metrics.Drop(DropShutdown, 1)
		default:
			return err // ctx done while blocked
		}
	}
	if !matched {
		r.metrics.unmatched.Add(1)
	}
	r.taps.offer(m, &r.metrics.tapDropped)
	return nil
}

// inputDeliverer is the Deliverer an input is given: it counts what the
// input delivers.
type inputDeliverer struct {
	r *router
	m *Metrics
}

func (d inputDeliverer) Deliver(ctx context.Context, m *message.Message) error {
	d.m.In.Add(1)
	return d.r.deliver(ctx, m, 0, d.m)
}

// filterInjector is the Injector a filter is given while it handles a
// message that has passed through hops filters.
type filterInjector struct {
	r    *router
	m    *Metrics
	hops int
}

func (f *filterInjector) Inject(ctx context.Context, m *message.Message) error {
	f.m.Out.Add(1)
	return f.r.deliver(ctx, m, f.hops+1, f.m)
}

// A Tap receives copies of the messages the router handles that match its
// matcher, for `metlog tail`. A slow reader misses messages (they are
// counted) rather than slow the router down.
type Tap struct {
	match *matcher.Matcher
	C     <-chan *message.Message
	c     chan *message.Message
	lost  atomic.Uint64
}

// Lost returns how many messages the tap missed because its reader was slow.
func (t *Tap) Lost() uint64 { return t.lost.Load() }

type taps struct {
	mu   sync.Mutex
	list atomic.Pointer[[]*Tap]
}

func (ts *taps) add(t *Tap) {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	var list []*Tap
	if p := ts.list.Load(); p != nil {
		list = append(list, *p...)
	}
	list = append(list, t)
	ts.list.Store(&list)
}

func (ts *taps) remove(t *Tap) {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	p := ts.list.Load()
	if p == nil {
		return
	}
	var list []*Tap
	for _, x := range *p {
		if x != t {
			list = append(list, x)
		}
	}
	ts.list.Store(&list)
}

func (ts *taps) snapshot() []*Tap {
	if p := ts.list.Load(); p != nil {
		return *p
	}
	return nil
}

func (ts *taps) offer(m *message.Message, dropped *atomic.Uint64) {
	p := ts.list.Load()
	if p == nil {
		return
	}
	for _, t := range *p {
		if !t.match.Match(m) {
			continue
		}
		select {
		case t.c <- m:
		default:
			t.lost.Add(1)
			dropped.Add(1)
		}
	}
}
