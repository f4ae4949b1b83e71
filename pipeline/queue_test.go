package pipeline

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/metlog/metlog/matcher"
	"github.com/metlog/metlog/message"
)

func payloads(items []item) string {
	s := ""
	for _, it := range items {
		s += it.m.Payload
	}
	return s
}

func msg(p string) item { return item{m: &message.Message{Payload: p}} }

func mustPush(t *testing.T, q *queue, p string) {
	t.Helper()
	if ok, err := q.push(context.Background(), msg(p)); !ok || err != nil {
		t.Fatalf("push %q: %v, %v", p, ok, err)
	}
}

func TestQueueOrderAndWrap(t *testing.T) {
	q := newQueue(3, false)
	for round := 0; round < 5; round++ { // wraps the ring several times
		mustPush(t, q, "a")
		mustPush(t, q, "b")
		if got := payloads(q.pop(nil, 1)); got != "a" {
			t.Fatalf("round %d: pop %q", round, got)
		}
		mustPush(t, q, "c")
		mustPush(t, q, "d")
		if ok, err := q.push(context.Background(), msg("x")); ok || err != nil { // full: drop
			t.Fatalf("a full dropping queue took a message: %v %v", ok, err)
		}
		if got := payloads(q.pop(nil, 10)); got != "bcd" {
			t.Fatalf("round %d: pop %q", round, got)
		}
	}
	if n, c, closed := q.state(); n != 0 || c != 3 || closed {
		t.Fatalf("state %d %d %v", n, c, closed)
	}
}

func TestQueueUnpopAndResize(t *testing.T) {
	q := newQueue(4, false)
	for _, p := range []string{"a", "b", "c", "d"} {
		mustPush(t, q, p)
	}
	batch := q.pop(nil, 3)
	mustPush(t, q, "e")
	mustPush(t, q, "f")
	mustPush(t, q, "g")
	q.unpop(batch) // over capacity: 7 items in a queue of 4
	if n, _, _ := q.state(); n != 7 {
		t.Fatalf("%d items after unpop", n)
	}
	if got := payloads(q.pop(nil, 2)); got != "ab" {
		t.Fatalf("pop after unpop %q", got)
	}
	q.resize(2, false) // smaller than what is queued: nothing is lost
	if got := payloads(q.pop(nil, 10)); got != "cdefg" {
		t.Fatalf("after resize %q", got)
	}
	mustPush(t, q, "h")
	mustPush(t, q, "i")
	if ok, _ := q.push(context.Background(), msg("j")); ok {
		t.Fatal("the new capacity is not applied")
	}
}

func TestQueueBlockAndClose(t *testing.T) {
	q := newQueue(1, true)
	mustPush(t, q, "a")
	done := make(chan error, 1)
	go func() {
		_, err := q.push(context.Background(), msg("b"))
		done <- err
	}()
	select {
	case err := <-done:
		t.Fatalf("push into a full blocking queue returned %v", err)
	case <-time.After(20 * time.Millisecond):
	}
	if got := payloads(q.pop(nil, 1)); got != "a" {
		t.Fatal(got)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	// A producer waiting when the queue closes gives up.
	go func() {
		_, err := q.push(context.Background(), msg("c"))
		done <- err
	}()
	time.Sleep(10 * time.Millisecond)
	q.close()
	if err := <-done; !errors.Is(err, errQueueClosed) {
		t.Fatalf("waiting producer after close: %v", err)
	}
	if got := payloads(q.pop(nil, 5)); got != "b" {
		t.Fatalf("what was queued before close can still be popped: %q", got)
	}
	// And a waiting producer whose context ends gives up too.
	q2 := newQueue(1, true)
	mustPush(t, q2, "x")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	if _, err := q2.push(ctx, msg("y")); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("push past its context: %v", err)
	}
}

func BenchmarkRouterDeliver(b *testing.B) {
	ms := newMetricsSet()
	r := newRouter(ms)
	r.maxLoops.Store(4)
	t := &table{}
	for _, expr := range []string{"Type == 'counter'", "Severity <= 3", "TRUE", "Logger =~ /^app/"} {
		q := newQueue(1<<20, false)
		m := ms.get(expr, "bench", KindOutput)
		t.routes = append(t.routes, route{name: expr, kind: KindOutput, match: mustMatch(expr), q: q, metrics: m})
		go func() { // a consumer that lingers as runners do, so the queues never fill
			var buf []item
			for {
				buf = q.pop(buf[:0], 4096)
				if len(buf) == 0 {
					<-q.ready
				} else if len(buf) < 4096 {
					time.Sleep(defaultBatchWait)
				}
			}
		}()
	}
	r.table.Store(t)
	m := &message.Message{Type: "counter", Logger: "app", Severity: 6, Timestamp: 1, UUID: message.NewUUID()}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if err := r.deliver(ctx, m, 0, nil); err != nil {
			b.Fatal(err)
		}
	}
}

func mustMatch(expr string) *matcher.Matcher { return matcher.MustCompile(expr) }
