package pipeline_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/metlog/metlog/message"
	"github.com/metlog/metlog/pipeline"
	"github.com/metlog/metlog/pipeline/pipelinetest"
	_ "github.com/metlog/metlog/plugins/codecs"
)

func deliver(t *testing.T, p *pipeline.Pipeline, msgs ...*message.Message) {
	t.Helper()
	d := p.Deliverer("test")
	for _, m := range msgs {
		if err := d.Deliver(context.Background(), m); err != nil {
			t.Fatal(err)
		}
	}
}

// stopNow shuts p down at once, for tests whose outputs are stuck on
// purpose: what is still queued is dropped.
func stopNow(p *pipeline.Pipeline) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	_ = p.Shutdown(ctx)
}

func typed(n int, typ string) []*message.Message {
	out := make([]*message.Message, n)
	for i := range out {
		out[i] = &message.Message{Type: typ, Payload: fmt.Sprint(i)}
	}
	return out
}

func TestRouting(t *testing.T) {
	p := pipelinetest.Run(t, `
[counters]
type = "capture_output"
message_matcher = "Type == 'counter'"

[all]
type = "capture_output"
message_matcher = "TRUE"

[none]
type = "capture_output"
message_matcher = "FALSE"
`)
	deliver(t, p, &message.Message{Type: "counter"}, &message.Message{Type: "oldstyle"}, &message.Message{Type: "counter"})
	counters := pipelinetest.Output(t, p, "counters").Wait(t, 2)
	all := pipelinetest.Output(t, p, "all").Wait(t, 3)
	if len(counters) != 2 || counters[0].Type != "counter" || len(all) != 3 || all[1].Type != "oldstyle" {
		t.Fatalf("counters %d, all %d", len(counters), len(all))
	}
	// The router fills in what the sender left out, and every output shares
	// the same message.
	if all[0].UUID == ([16]byte{}) || all[0].Timestamp == 0 || all[0] != counters[0] {
		t.Fatalf("uuid/timestamp not filled, or the message was copied: %+v", all[0])
	}
	if len(pipelinetest.Output(t, p, "none").Messages()) != 0 {
		t.Fatal("FALSE matched")
	}
	st := p.Status()
	if st.Routed != 3 || st.Unrouted != 0 {
		t.Fatalf("status %+v", st)
	}
	deliver(t, p, &message.Message{Type: "x"})
	pipelinetest.Output(t, p, "all").Wait(t, 4)
	pipelinetest.Eventually(t, func() bool {
		return p.Metrics("counters").In.Load() == 2 && p.Metrics("all").Out.Load() == 4
	}, "metrics count what was delivered")
}

// One output that never finishes a delivery must not delay the others: its
// queue fills and, with when_full = "drop", further messages are dropped
// for it alone, counted.
func TestStuckOutputDoesNotStallOthers(t *testing.T) {
	p := pipelinetest.Run(t, `
[stuck]
type = "capture_output"
message_matcher = "TRUE"
queue_size = 10
batch_size = 5
when_full = "drop"
delay = "1h"

[fast]
type = "capture_output"
message_matcher = "TRUE"
when_full = "block"
`)
	defer stopNow(p)
	const n = 20000
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	d := p.Deliverer("test")
	for _, m := range typed(n, "x") {
		if err := d.Deliver(ctx, m); err != nil {
			t.Fatalf("Deliver blocked behind the stuck output: %v", err)
		}
	}
	pipelinetest.Output(t, p, "fast").Wait(t, n)
	stuck := p.Metrics("stuck")
	depth, capacity := stuck.QueueState()
	inHand := int(stuck.In.Load()) // the batch the stuck output holds
	// How many the stuck output took before it stuck depends on when its
	// goroutine first ran; every message is accounted for either way.
	if capacity != 10 || depth > 10 || inHand > 5 || int(stuck.Dropped(pipeline.DropQueueFull))+depth+inHand != n {
		t.Fatalf("stuck output: depth %d/%d, in hand %d, dropped %d; want every message accounted for",
			depth, capacity, inHand, stuck.Dropped(pipeline.DropQueueFull))
	}
}

// With when_full = "block", a full queue holds the inputs back.
func TestBlockingQueueBackPressure(t *testing.T) {
	p := pipelinetest.Run(t, `
[slow]
type = "capture_output"
message_matcher = "TRUE"
queue_size = 5
batch_size = 1
when_full = "block"
delay = "1h"
`)
	defer stopNow(p)
	d := p.Deliverer("test")
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	var err error
	sent := 0
	for _, m := range typed(10, "x") {
		if err = d.Deliver(ctx, m); err != nil {
			break
		}
		sent++
	}
	// 1 in the output's hands, 5 queued; the 7th waits for room.
	if !errors.Is(err, context.DeadlineExceeded) || sent != 6 {
		t.Fatalf("sent %d then %v; want 6 then a deadline", sent, err)
	}
	if got := p.Metrics("slow").DroppedTotal(); got != 0 {
		t.Fatalf("a blocking queue dropped %d", got)
	}
}

func TestRetryThenDeliver(t *testing.T) {
	p := pipelinetest.Run(t, `
[out]
type = "capture_output"
message_matcher = "TRUE"
retry_min = "5ms"
retry_max = "20ms"
`)
	out := pipelinetest.Output(t, p, "out")
	failures := 0
	out.FailWith(func([]*message.Message) error {
		if failures < 3 {
			failures++
			return errors.New("endpoint unavailable")
		}
		return nil
	})
	deliver(t, p, typed(50, "x")...)
	got := out.Wait(t, 50)
	for i, m := range got {
		if m.Payload != fmt.Sprint(i) {
			t.Fatalf("message %d has payload %q: order or content changed by retries", i, m.Payload)
		}
	}
	m := p.Metrics("out")
	// The capture keeps a batch just before the runner counts it delivered.
	pipelinetest.Eventually(t, func() bool { return m.Out.Load() == 50 }, "all 50 counted as delivered")
	if m.Errors.Load() != 3 || m.Out.Load() != 50 || m.DroppedTotal() != 0 {
		t.Fatalf("errors %d, out %d, dropped %d", m.Errors.Load(), m.Out.Load(), m.DroppedTotal())
	}
}

func TestPermanentFailureIsNotRetried(t *testing.T) {
	p := pipelinetest.Run(t, `
[out]
type = "capture_output"
message_matcher = "TRUE"
batch_size = 1
`)
	out := pipelinetest.Output(t, p, "out")
	out.FailWith(func(b []*message.Message) error {
		if b[0].Type == "bad" {
			return pipeline.Permanent(errors.New("malformed for this endpoint"))
		}
		return nil
	})
	deliver(t, p, &message.Message{Type: "bad"}, &message.Message{Type: "good"})
	got := out.Wait(t, 1)
	if got[0].Type != "good" {
		t.Fatalf("delivered %q", got[0].Type)
	}
	m := p.Metrics("out")
	pipelinetest.Eventually(t, func() bool { return m.Dropped(pipeline.DropPermanent) == 1 }, "the permanent failure is counted")
	if m.Errors.Load() != 0 {
		t.Fatal("a permanent failure was retried")
	}
}

// Messages an output drops inside a delivered batch are counted as dropped,
// not as delivered too.
func TestOutputDropsInsideBatch(t *testing.T) {
	p := pipelinetest.Run(t, `
[out]
type = "picky_delivery_output"
message_matcher = "TRUE"
`)
	deliver(t, p, &message.Message{Type: "small"}, &message.Message{Type: "big"}, &message.Message{Type: "small"})
	m := p.Metrics("out")
	pipelinetest.Eventually(t, func() bool { return m.In.Load() == 3 && m.Out.Load()+m.DroppedTotal() == 3 }, "the batch is accounted for")
	if m.Out.Load() != 2 || m.Dropped(pipeline.DropTooLarge) != 1 {
		t.Fatalf("out %d, too large %d; want 2 and 1", m.Out.Load(), m.Dropped(pipeline.DropTooLarge))
	}
}

// A filter that matches its own injections loops; max_loops ends it.
func TestFilterInjectionLoopIsLimited(t *testing.T) {
	p := pipelinetest.Run(t, `
[metlogd]
data_dir = "`+t.TempDir()+`"
http_listen = ""
max_loops = 3

[echo]
type = "echo_filter"
message_matcher = "TRUE"

[out]
type = "capture_output"
message_matcher = "TRUE"
`)
	deliver(t, p, &message.Message{Type: "x", Payload: "p"})
	pipelinetest.Output(t, p, "out").Wait(t, 4)
	echo := p.Metrics("echo")
	pipelinetest.Eventually(t, func() bool { return echo.Dropped(pipeline.DropLoop) == 1 }, "the looping message is dropped")
	time.Sleep(20 * time.Millisecond) // nothing more may come
	got := pipelinetest.Output(t, p, "out").Messages()
	// The filter may inject its first echo before the router has queued the
	// original for the output: count, do not assume an order.
	types := map[string]int{}
	for _, m := range got {
		if m.Payload == "p" {
			types[m.Type]++
		}
	}
	if len(got) != 4 || types["x"] != 1 || types["echo"] != 3 {
		t.Fatalf("got %d messages %v; want the original and 3 echoes", len(got), types)
	}
	if echo.Out.Load() != 4 { // 4 injections attempted, the 4th dropped at the router
		t.Fatalf("injected %d", echo.Out.Load())
	}
}

func TestTickerFilterTicksAndFlushesAtShutdown(t *testing.T) {
	p, err := pipelinetest.Start(t, `
[count]
type = "tick_filter"
message_matcher = "Type == 'x'"
ticker_interval = "10ms"

[ticks]
type = "capture_output"
message_matcher = "Type == 'tick'"
`)
	if err != nil {
		t.Fatal(err)
	}
	deliver(t, p, typed(3, "x")...)
	out := pipelinetest.Output(t, p, "ticks")
	pipelinetest.Eventually(t, func() bool {
		msgs := out.Messages()
		return len(msgs) >= 2 && msgs[len(msgs)-1].Payload == "3"
	}, "ticks report the 3 messages")
	before := len(out.Messages())
	if err := p.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	if after := len(out.Messages()); after <= before {
		t.Fatalf("no final tick at shutdown (%d then %d ticks)", before, after)
	}
}

// A ticker filter's own default interval applies when its section sets none.
func TestDefaultTickerInterval(t *testing.T) {
	cfg, err := pipelinetest.Parse(t, "[count]\ntype = \"tick_filter\"\nmessage_matcher = \"TRUE\"\n")
	if err != nil {
		t.Fatal(err)
	}
	if got := cfg.Sections[0].TickerInterval(); got != time.Hour {
		t.Fatalf("ticker interval %v, want the filter's default of 1h", got)
	}
}

func TestShutdownDrainsQueues(t *testing.T) {
	p, err := pipelinetest.Start(t, `
[slow]
type = "capture_output"
message_matcher = "TRUE"
batch_size = 10
delay = "2ms"
`)
	if err != nil {
		t.Fatal(err)
	}
	deliver(t, p, typed(500, "x")...)
	if err := p.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := len(pipelinetest.Output(t, p, "slow").Messages()); got != 500 {
		t.Fatalf("%d of 500 delivered before shutdown returned", got)
	}
}

func TestShutdownDeadlineCountsLosses(t *testing.T) {
	base := runtime.NumGoroutine()
	p, err := pipelinetest.Start(t, `
[stuck]
type = "capture_output"
message_matcher = "TRUE"
batch_size = 1
delay = "1h"
`)
	if err != nil {
		t.Fatal(err)
	}
	deliver(t, p, typed(5, "x")...)
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	err = p.Shutdown(ctx)
	if err == nil || !strings.Contains(err.Error(), "5 messages") {
		t.Fatalf("Shutdown = %v; want it to report the 5 lost messages", err)
	}
	if got := p.Metrics("stuck").Dropped(pipeline.DropShutdown); got != 5 {
		t.Fatalf("dropped at shutdown: %d", got)
	}
	pipelinetest.Eventually(t, func() bool { return runtime.NumGoroutine() <= base }, "goroutines end after shutdown")
}

func TestReload(t *testing.T) {
	const head = `
[keep]
type = "capture_output"
message_matcher = "TRUE"

[change]
type = "capture_output"
message_matcher = "TRUE"
retry_min = "5ms"
retry_max = "10ms"
`
	p := pipelinetest.Run(t, head+`
[gone]
type = "capture_output"
message_matcher = "TRUE"
`)
	keep := pipelinetest.Output(t, p, "keep")
	oldChange := pipelinetest.Output(t, p, "change")
	gone := pipelinetest.Output(t, p, "gone")
	// The output being replaced cannot deliver: its messages stay queued,
	// and must reach its successor.
	oldChange.FailWith(func([]*message.Message) error { return errors.New("down") })
	deliver(t, p, typed(5, "before")...)
	keep.Wait(t, 5)
	gone.Wait(t, 5)

	cfg, err := pipelinetest.Parse(t, strings.Replace(head, `retry_max = "10ms"`, `retry_max = "20ms"`, 1)+`
[new]
type = "capture_output"
message_matcher = "TRUE"
`)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Reload(cfg); err != nil {
		t.Fatal(err)
	}
	if pipelinetest.Output(t, p, "keep") != keep {
		t.Fatal("an unchanged output was replaced")
	}
	newChange := pipelinetest.Output(t, p, "change")
	if newChange == oldChange {
		t.Fatal("a changed output was not replaced")
	}
	deliver(t, p, typed(3, "after")...)
	got := newChange.Wait(t, 8)
	if got[0].Type != "before" || got[7].Type != "after" {
		t.Fatalf("the successor delivered %d messages, first %q last %q", len(got), got[0].Type, got[7].Type)
	}
	keep.Wait(t, 8)
	pipelinetest.Output(t, p, "new").Wait(t, 3)
	if len(gone.Messages()) != 5 {
		t.Fatal("a removed output still receives")
	}
	if p.Metrics("gone") != nil {
		t.Fatal("metrics of a removed output are kept")
	}
	if p.Metrics("keep").Out.Load() != 8 {
		t.Fatal("counters of an unchanged output restarted")
	}
}

// An output stuck in a delivery (its endpoint stopped reading) does not hold
// up a reload: after a grace period it is cancelled and its batch goes back
// to the queue, which its successor delivers, in order.
func TestReloadCancelsAStuckOutput(t *testing.T) {
	p := pipelinetest.Run(t, `
[out]
type = "capture_output"
message_matcher = "TRUE"
batch_size = 5
delay = "1h"
`)
	deliver(t, p, typed(10, "x")...)
	m := p.Metrics("out")
	// How much it took before sticking depends on when its goroutine ran.
	pipelinetest.Eventually(t, func() bool { return m.In.Load() > 0 }, "the stuck output holds a batch")
	cfg, err := pipelinetest.Parse(t, `
[out]
type = "capture_output"
message_matcher = "TRUE"
batch_size = 5
`)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	done := make(chan error, 1)
	go func() { done <- p.Reload(cfg) }()
	// /status answers while the reload waits.
	st := p.Status()
	if len(st.Plugins) == 0 {
		t.Fatal("no status during the reload")
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Fatalf("the reload took %v", took)
	}
	got := pipelinetest.Output(t, p, "out").Wait(t, 10)
	for i, msg := range got {
		if msg.Payload != fmt.Sprint(i) {
			t.Fatalf("message %d has payload %q: the handed-back batch is out of order", i, msg.Payload)
		}
	}
	if d := m.DroppedTotal(); d != 0 {
		t.Fatalf("%d dropped", d)
	}
}

// A changed output whose successor cannot start keeps running.
func TestReloadKeepsOldOutputWhenNewFailsToStart(t *testing.T) {
	p := pipelinetest.Run(t, `
[out]
type = "failing_output"
message_matcher = "TRUE"

[seen]
type = "capture_output"
message_matcher = "TRUE"
`)
	cfg, err := pipelinetest.Parse(t, `
[out]
type = "failing_output"
message_matcher = "TRUE"
fail_start = true

[seen]
type = "capture_output"
message_matcher = "TRUE"
`)
	if err != nil {
		t.Fatal(err)
	}
	err = p.Reload(cfg)
	if err == nil || !strings.Contains(err.Error(), "cannot start, as configured") {
		t.Fatalf("Reload = %v", err)
	}
	deliver(t, p, typed(3, "x")...)
	pipelinetest.Output(t, p, "seen").Wait(t, 3)
	pipelinetest.Eventually(t, func() bool { return p.Metrics("out").Out.Load() == 3 }, "the old output still delivers")
}

func TestInputsRunAndRestartOnReload(t *testing.T) {
	p := pipelinetest.Run(t, `
[in]
type = "test_input"
count = 3
message_type = "a"

[out]
type = "capture_output"
message_matcher = "TRUE"
`)
	out := pipelinetest.Output(t, p, "out")
	out.Wait(t, 3)
	if p.Metrics("in").In.Load() != 3 {
		t.Fatal("the input's deliveries are not counted")
	}
	cfg, err := pipelinetest.Parse(t, `
[in]
type = "test_input"
count = 2
message_type = "b"

[out]
type = "capture_output"
message_matcher = "TRUE"
`)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Reload(cfg); err != nil {
		t.Fatal(err)
	}
	got := out.Wait(t, 5)
	if got[3].Type != "b" || got[4].Type != "b" {
		t.Fatal("the reconfigured input did not run")
	}
}

func TestHTTPEndpoints(t *testing.T) {
	addr := pipelinetest.FreePort(t, "tcp")
	p := pipelinetest.Run(t, fmt.Sprintf(`
[metlogd]
data_dir = %q
http_listen = %q

[out]
type = "capture_output"
message_matcher = "TRUE"
`, t.TempDir(), addr))
	base := "http://" + p.HTTPAddr()

	// The tap streams matching messages as canonical JSON lines.
	resp, err := http.Get(base + "/tap?limit=2&match=" + "Type%20==%20'wanted'")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close() // the handler subscribed before it sent the headers Get waited for
	deliver(t, p, &message.Message{Type: "other"}, &message.Message{Type: "wanted", Payload: "1"},
		&message.Message{Type: "wanted", Payload: "2"}, &message.Message{Type: "wanted", Payload: "3"})
	var lines []string
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		lines = append(lines, sc.Text())
	}
	if len(lines) != 2 {
		t.Fatalf("tap gave %d lines: %q", len(lines), lines)
	}
	var m message.Message
	if err := message.DecodeJSON([]byte(lines[1]), &m); err != nil || m.Payload != "2" {
		t.Fatalf("second tap line %q: %v", lines[1], err)
	}

	bad, err := http.Get(base + "/tap?match=Type%20==")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(bad.Body)
	bad.Body.Close()
	if bad.StatusCode != 400 || !strings.Contains(string(body), "column") {
		t.Fatalf("bad matcher: %d %s", bad.StatusCode, body)
	}

	pipelinetest.Eventually(t, func() bool { return p.Metrics("out").Out.Load() == 4 }, "the output counted 4 delivered")
	var st pipeline.Status
	getJSON(t, base+"/status", &st)
	if st.Routed != 4 || len(st.Plugins) == 0 || st.Version != "test" {
		t.Fatalf("status %+v", st)
	}

	resp2, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	metrics, _ := io.ReadAll(resp2.Body)
	resp2.Body.Close()
	for _, want := range []string{
		`metlog_messages_out_total{kind="output",plugin="out",type="capture_output"} 4`,
		`metlog_queue_capacity{kind="output",plugin="out",type="capture_output"} 10000`,
		`metlog_router_messages_total 4`,
		`metlog_delivery_latency_seconds_count{plugin="out"} 4`,
		`go_goroutines`,
	} {
		if !strings.Contains(string(metrics), want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
}

func getJSON(t *testing.T, url string, v any) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatal(err)
	}
}
