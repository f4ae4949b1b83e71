package pipeline

import (
	"context"
	"errors"
	"sync"

	"github.com/metlog/metlog/message"
)

// item is one queued message with what the router knew of it.
type item struct {
	m    *message.Message
	at   int64 // when the router queued it, in nanoseconds since the epoch
	hops uint8 // how many filters it has passed through
}

// errQueueClosed is returned by push once a queue is closed for shutdown.
var errQueueClosed = errors.New("queue is closed")

// queue is the bounded queue in front of one filter or output: many
// producers (the inputs' goroutines, via the router), one consumer (the
// plugin's runner), popped in batches. It never grows past its capacity,
// except by the batch a swapped runner hands back.
type queue struct {
	mu      sync.Mutex
	buf     []item // ring; at least limit long, longer after unpop or a resize down
	head    int
	n       int
	limit   int  // capacity: producers find the queue full at limit items
	block   bool // when full: wait (true) or drop (false)
	closed  bool
	waiting int           // producers waiting for room
	space   chan struct{} // closed when the consumer frees room for waiting producers
	ready   chan struct{} // one token: there are items to pop
}

func newQueue(capacity int, block bool) *queue {
	capacity = max(capacity, 1)
	return &queue{
		buf:   make([]item, capacity),
		limit: capacity,
		block: block,
		space: make(chan struct{}),
		ready: make(chan struct{}, 1),
	}
}

// push adds it. It returns false, nil when the queue is full and drops; it
// waits for room when the queue blocks, until ctx is done. A closed queue
// returns errQueueClosed.
func (q *queue) push(ctx context.Context, it item) (bool, error) {
	q.mu.Lock()
	for q.n >= q.limit {
		if q.closed {
			q.mu.Unlock()
			return false, errQueueClosed
		}
		if !q.block {
			q.mu.Unlock()
			return false, nil
		}
		ch := q.space
		q.waiting++
		q.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			q.mu.Lock()
			q.waiting--
			q.mu.Unlock()
			return false, ctx.Err()
		}
		q.mu.Lock()
		q.waiting--
	}
	if q.closed {
		q.mu.Unlock()
		return false, errQueueClosed
	}
	q.buf[(q.head+q.n)%len(q.buf)] = it
	q.n++
	first := q.n == 1
	q.mu.Unlock()
	if first {
		q.signal()
	}
	return true, nil
}

func (q *queue) signal() {
	select {
	case q.ready <- struct{}{}:
	default:
	}
}

// pop appends up to max items to dst without waiting and returns it.
func (q *queue) pop(dst []item, max int) []item {
	q.mu.Lock()
	k := min(q.n, max)
	for i := 0; i < k; i++ {
		j := (q.head + i) % len(q.buf)
		dst = append(dst, q.buf[j])
		q.buf[j] = item{} // let the message be collected once delivered
	}
	q.head = (q.head + k) % len(q.buf)
	q.n -= k
	if len(q.buf) > 2*q.limit && q.n <= q.limit { // give back what unpop or a resize down grew
		q.resizeLocked(q.limit)
	}
	if k > 0 && q.waiting > 0 {
		close(q.space)
		q.space = make(chan struct{})
	}
	more := q.n > 0
	q.mu.Unlock()
	if more {
		q.signal() // keep the token while items remain
	}
	return dst
}

// unpop puts items back at the front, in order: a runner that is replaced
// hands its undelivered batch to its successor this way. The queue may go
// over its capacity by that much.
func (q *queue) unpop(items []item) {
	if len(items) == 0 {
		return
	}
	q.mu.Lock()
	if q.n+len(items) > len(q.buf) {
		q.resizeLocked(q.n + len(items))
	}
	q.head = (q.head - len(items) + len(q.buf)) % len(q.buf)
	for i, it := range items {
		q.buf[(q.head+i)%len(q.buf)] = it
	}
	q.n += len(items)
	q.mu.Unlock()
	q.signal()
}

// resize changes the capacity, keeping every queued item: the queue may
// hold more than its capacity until the consumer takes them.
func (q *queue) resize(capacity int, block bool) {
	q.mu.Lock()
	q.block = block
	q.limit = max(capacity, 1)
	q.resizeLocked(max(q.limit, q.n))
	if q.waiting > 0 { // more room, or now dropping: let producers look again
		close(q.space)
		q.space = make(chan struct{})
	}
	q.mu.Unlock()
}

func (q *queue) resizeLocked(capacity int) {
	buf := make([]item, capacity)
	for i := 0; i < q.n; i++ {
		buf[i] = q.buf[(q.head+i)%len(q.buf)]
	}
	q.buf, q.head = buf, 0
}

// close stops accepting items; those queued can still be popped. Producers
// waiting for room give up with errQueueClosed.
func (q *queue) close() {
	q.mu.Lock()
	if !q.closed {
		q.closed = true
		close(q.space)
		q.space = make(chan struct{})
	}
	q.mu.Unlock()
	q.signal()
}

// reopen undoes close, for a queue handed to a new runner on reload.
func (q *queue) reopen() {
	q.mu.Lock()
	q.closed = false
	q.mu.Unlock()
}

// state returns the number of queued items, the capacity, and whether the
// queue is closed.
func (q *queue) state() (n, capacity int, closed bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.n, q.limit, q.closed
}
