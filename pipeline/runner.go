package pipeline

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cenkalti/backoff/v5"
	"github.com/metlog/metlog/message"
)

// runner is a started plugin instance: its section, its goroutine, and for
// filters and outputs its queue.
type runner struct {
	sec     *Section
	set     Settings
	q       *queue // filters and outputs
	log     *slog.Logger
	metrics *Metrics

	// stop asks the goroutine to finish: at once for inputs; for filters
	// and outputs, after the message or batch in hand, leaving the rest
	// of the queue to a successor (reload). drain asks filters and
	// outputs to empty their queue first (shutdown).
	stop     chan struct{}
	stopOnce sync.Once
	done     chan struct{}
	cancel   context.CancelFunc // hard stop: cancels the plugin's context
	// handover says a cancelled delivery hands its batch back to the
	// queue for a successor, instead of dropping it as at shutdown.
	handover atomic.Bool
}

func (r *runner) requestStop() { r.stopOnce.Do(func() { close(r.stop) }) }

func (r *runner) stopping() bool {
	select {
	case <-r.stop:
		return true
	default:
		return false
	}
}

// sleep waits d, and reports false if the runner is told to stop or ctx ends.
func (r *runner) sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-r.stop:
		return false
	case <-ctx.Done():
		return false
	}
}

// runInput runs an input until ctx ends or it is told to stop, running it
// again after a backoff when it fails.
func (r *runner) runInput(ctx context.Context, rt *router) {
	defer close(r.done)
	in := r.sec.Plugin.(Input)
	d := inputDeliverer{r: rt, m: r.metrics}
	bo := newBackoff(time.Second, 30*time.Second)
	for {
		start := time.Now()
		err := in.Run(ctx, d)
		if ctx.Err() != nil || r.stopping() {
			return
		}
		if err == nil {
			r.log.Warn("input returned without being stopped; running it again")
		} else {
			r.metrics.Errors.Add(1)
			r.log.Error("input failed; running it again after a pause", "err", err)
		}
		if time.Since(start) > time.Minute {
			bo.Reset()
		}
		if !r.sleep(ctx, bo.NextBackOff()) {
			return
		}
	}
}

// runOutput hands batches from the queue to the output until the queue is
// closed and empty, or the runner is told to stop.
func (r *runner) runOutput(ctx context.Context) {
	defer close(r.done)
	out := r.sec.Plugin.(Output)
	size := r.sec.common.BatchSize
	if size == 0 {
		size = r.set.Global.BatchSize
	}
	var items []item
	var batch []*message.Message
	for {
		items = r.q.pop(items[:0], size)
		if len(items) == 0 {
			if _, _, closed := r.q.state(); closed {
				return
			}
			select {
			case <-r.q.ready:
				continue
			case <-r.stop:
				return
			case <-ctx.Done():
				return
			}
		}
		r.metrics.In.Add(uint64(len(items)))
		batch = batch[:0]
		for _, it := range items {
			batch = append(batch, it.m)
		}
		if !r.deliver(ctx, out, batch, items) {
			return
		}
		clear(batch)
		r.linger(ctx, len(items), size)
	}
}

// defaultBatchWait is how long a runner lets its queue fill after a batch
// smaller than batch_size, when the section does not say.
const defaultBatchWait = time.Millisecond

// linger waits batch_wait after a batch of n smaller than size, so that
// under load batches are large and the inputs rarely have to wake the
// runner (waking a parked goroutine costs them a microsecond or more per
// message); under light load a message waits at most batch_wait.
func (r *runner) linger(ctx context.Context, n, size int) {
	wait := r.sec.common.BatchWait
	if wait == 0 {
		wait = defaultBatchWait
	}
	if n < size && wait > 0 {
		if _, _, closed := r.q.state(); !closed {
			r.sleep(ctx, wait)
		}
	}
}

// deliver hands one batch to the output, retrying with backoff until it is
// delivered or fails permanently. It returns false when the runner must
// end: told to stop (the batch goes back to the queue for a successor) or
// ctx ended (the batch is dropped and counted).
func (r *runner) deliver(ctx context.Context, out Output, batch []*message.Message, items []item) bool {
	bo := newBackoff(r.sec.common.RetryMin, r.sec.common.RetryMax)
	for {
		// An output may drop single messages of a batch it delivers (too
		// large for its endpoint, refused by its encoder) and count them;
		// they are not counted as delivered too.
		before := r.metrics.Dropped(DropTooLarge) + r.metrics.Dropped(DropPermanent)
		err := out.Deliver(ctx, batch)
		if err == nil {
			inside := r.metrics.Dropped(DropTooLarge) + r.metrics.Dropped(DropPermanent) - before
			r.metrics.Out.Add(uint64(len(batch)) - min(inside, uint64(len(batch))))
			if r.metrics.latency != nil {
				now := time.Now().UnixNano()
				for _, it := range items {
					r.metrics.latency.Observe(float64(now-it.at) / 1e9)
				}
			}
			return true
		}
		if ctx.Err() != nil {
			if r.handover.Load() { // replaced on reload: the successor delivers them
				r.q.unpop(items)
				return false
			}
			r.metrics.Drop(DropShutdown, len(batch))
			r.log.Error("messages not delivered before shutdown", "count", len(batch), "err", err)
			return false
		}
		if IsPermanent(err) {
			r.metrics.Drop(DropPermanent, len(batch))
			r.log.Error("the endpoint rejected messages for good; they are dropped", "count", len(batch), "err", err)
			return true
		}
		r.metrics.Errors.Add(1)
		wait := bo.NextBackOff()
		r.log.Warn("delivery failed; retrying", "count", len(batch), "err", err, "retry_in", wait.Round(time.Millisecond))
		if !r.sleep(ctx, wait) {
			if r.stopping() && (ctx.Err() == nil || r.handover.Load()) {
				r.q.unpop(items) // the successor delivers them
				return false
			}
			r.metrics.Drop(DropShutdown, len(batch))
			r.log.Error("messages not delivered before shutdown", "count", len(batch), "err", err)
			return false
		}
	}
}

// runFilter hands messages from the queue to the filter, and ticks it.
func (r *runner) runFilter(ctx context.Context, rt *router) {
	defer close(r.done)
	f := r.sec.Plugin.(Filter)
	var tick <-chan time.Time
	if tk, ok := f.(Ticker); ok && r.sec.common.TickerInterval > 0 {
		t := time.NewTicker(r.sec.common.TickerInterval)
		defer t.Stop()
		tick = t.C
		defer func() { // a last tick, so that a flush is not lost on shutdown or reload
			if ctx.Err() == nil {
				r.tick(ctx, tk, rt, time.Now())
			}
		}()
	}
	size := r.sec.common.BatchSize
	if size == 0 {
		size = r.set.Global.BatchSize
	}
	inj := &filterInjector{r: rt, m: r.metrics}
	var items []item
	for {
		items = r.q.pop(items[:0], size)
		if len(items) == 0 {
			if _, _, closed := r.q.state(); closed {
				return
			}
			select {
			case <-r.q.ready:
			case now := <-tick:
				r.tick(ctx, f.(Ticker), rt, now)
			case <-r.stop:
				return
			case <-ctx.Done():
				return
			}
			continue
		}
		r.metrics.In.Add(uint64(len(items)))
		for i, it := range items {
			if r.stopping() {
				r.q.unpop(items[i:])
				return
			}
			inj.hops = int(it.hops)
			if err := f.Process(ctx, it.m, inj); err != nil {
				r.metrics.Errors.Add(1)
				r.log.Warn("filter failed on a message", "err", err)
			}
		}
		clear(items)
		r.linger(ctx, len(items), size)
		select { // tick even when the queue never empties
		case now := <-tick:
			r.tick(ctx, f.(Ticker), rt, now)
		default:
		}
	}
}

func (r *runner) tick(ctx context.Context, t Ticker, rt *router, now time.Time) {
	inj := &filterInjector{r: rt, m: r.metrics}
	if err := t.Tick(ctx, now, inj); err != nil {
		r.metrics.Errors.Add(1)
		r.log.Warn("filter tick failed", "err", err)
	}
}

// newBackoff returns exponential backoff with jitter between min and max
// (defaults 100ms and 30s) that never gives up.
func newBackoff(min, max time.Duration) *backoff.ExponentialBackOff {
	bo := backoff.NewExponentialBackOff()
	bo.InitialInterval, bo.MaxInterval = 100*time.Millisecond, 30*time.Second
	if min > 0 {
		bo.InitialInterval = min
	}
	if max > 0 {
		bo.MaxInterval = max
	}
	bo.Reset()
	return bo
}
