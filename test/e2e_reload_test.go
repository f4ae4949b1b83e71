package test

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/metlog/metlog/client"
	"github.com/metlog/metlog/message"
)

// reload rewrites the configuration, sends SIGHUP, and waits until the
// log says the reload number n (1, 2...) was done (or refused, with fail).
func (d *daemon) reload(cfg string, n int, fail bool) {
	d.t.Helper()
	d.writeConfig(cfg)
	d.signal(syscall.SIGHUP)
	if fail {
		d.waitLog(n, "level=ERROR", "reload: the new configuration is not valid; the old one keeps running")
	} else {
		d.waitLog(n, "level=INFO", `msg="configuration reloaded"`)
	}
}

// rawConn is a TCP connection writing frames by hand, so that the test
// knows it is the very same connection before and after a reload.
type rawConn struct {
	t testing.TB
	c net.Conn
}

func dialRaw(t testing.TB, addr string) *rawConn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &rawConn{t, c}
}

func (r *rawConn) send(m *message.Message) {
	r.t.Helper()
	if _, err := r.c.Write(message.AppendFrame(nil, m, nil)); err != nil {
		r.t.Fatalf("write on the connection opened before the reload: %v", err)
	}
}

func msgOf(typ, payload string) *message.Message {
	return &message.Message{UUID: message.NewUUID(), Timestamp: time.Now().UnixNano(), Type: typ,
		Logger: "reload", Severity: message.Info, Payload: payload}
}

const reloadBase = `
[tcp]
type = "tcp_input"
address = "127.0.0.1:0"

[a]
type = "file_output"
message_matcher = "TRUE"
path = "@DIR@/data/a.jsonl"
when_full = "block"
`

// A configuration that does not load (an unknown key, a bad matcher) is
// refused on SIGHUP: the errors are logged with file and line, and the
// running pipeline is untouched: the same input, on the same connection,
// delivering to the same file.
func TestReloadRefusesABrokenConfiguration(t *testing.T) {
	t.Parallel()
	good := globals() + reloadBase
	d := startDaemon(t, good)
	conn := dialRaw(t, d.addr("tcp"))
	out := d.path("data", "a.jsonl")
	m1 := msgOf("x", "before the broken reload")
	conn.send(m1)
	waitPayload(t, out, m1.Payload)

	broken := good + `
[b]
type = "file_output"
message_matcher = "Type == "
pathh = "@DIR@/data/b.jsonl"
`
	d.reload(broken, 1, true)
	line := d.waitLog(1, "reload: the new configuration is not valid")[0]
	for _, want := range []string{
		fmt.Sprintf(`%s:%d: [b] message_matcher: matcher: column 9: expected a value after '==', found end of input`, d.cfgPath, lineOf(broken, `message_matcher = "Type == "`)),
		fmt.Sprintf(`%s:%d: [b] path: is required`, d.cfgPath, lineOf(broken, "[b]")),
		fmt.Sprintf(`%s:%d: [b] pathh: unknown key (did you mean \"path\"?)`, d.cfgPath, lineOf(broken, "pathh")),
	} {
		if !strings.Contains(line, want) {
			t.Errorf("the reload error does not say %q:\n%s", want, line)
		}
	}
	m2 := msgOf("x", "after the broken reload")
	conn.send(m2)
	got := waitMessages(t, 2, out)
	compareMessages(t, "a.jsonl", []*message.Message{m1, m2}, got)
	if n := d.listenings("tcp"); n != 1 {
		t.Errorf("the input started %d times; a refused reload must not touch it", n)
	}
	if _, err := os.Stat(d.path("data", "b.jsonl")); !os.IsNotExist(err) {
		t.Errorf("the refused configuration's output created its file: %v", err)
	}
	if st := d.status(); st.Reloads != 0 || len(st.Plugins) != 2 {
		t.Errorf("/status after a refused reload: reloads %d, plugins %+v", st.Reloads, st.Plugins)
	}

	// Fixed, it loads.
	d.reload(good+`
[b]
type = "file_output"
message_matcher = "Type == 'b'"
path = "@DIR@/data/b.jsonl"
`, 1, false)
	m3 := msgOf("b", "after the good reload")
	conn.send(m3)
	waitPayload(t, d.path("data", "b.jsonl"), m3.Payload)
	waitPayload(t, out, m3.Payload)
	if st := d.status(); st.Reloads != 1 {
		t.Errorf("/status reloads %d, want 1", st.Reloads)
	}
}

// A reload that changes outputs: new messages go where the new
// configuration says; an unchanged input keeps running and keeps its
// connections (a connection opened before the reload delivers after it);
// a changed input is restarted.
func TestReloadSwapsChangedPluginsOnly(t *testing.T) {
	t.Parallel()
	v1 := globals() + reloadBase + `
[udp]
type = "udp_input"
address = "127.0.0.1:0"
readers = 1
`
	d := startDaemon(t, v1)
	conn := dialRaw(t, d.addr("tcp"))
	c, rec := newClient(t, "tcp://"+d.addr("tcp"), "protobuf", "reload-client")
	defer c.Close()
	m1 := msgOf("a", "before the reload")
	conn.send(m1)
	c.Info("client before the reload")
	a := d.path("data", "a.jsonl")
	waitMessages(t, 2, a)
	udpBefore := d.addr("udp")

	v2 := globals() + strings.ReplaceAll(reloadBase, "a.jsonl", "a2.jsonl") + `
[b]
type = "file_output"
message_matcher = "Type == 'b'"
path = "@DIR@/data/b.jsonl"

[udp]
type = "udp_input"
address = "127.0.0.1:0"
readers = 2
`
	d.reload(v2, 1, false)
	m2, m3 := msgOf("a", "after the reload"), msgOf("b", "to the new output")
	conn.send(m2)
	conn.send(m3)
	c.Info("client after the reload")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := c.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	a2, b := d.path("data", "a2.jsonl"), d.path("data", "b.jsonl")
	clientMsgs := rec.messages()
	compareMessages(t, "a2.jsonl", []*message.Message{m2, m3, clientMsgs[1]}, byConn(waitMessages(t, 3, a2), m2, m3, clientMsgs[1]))
	compareMessages(t, "b.jsonl", []*message.Message{m3}, waitMessages(t, 1, b))
	compareMessages(t, "a.jsonl", []*message.Message{m1, clientMsgs[0]}, byConn(readMessages(t, a), m1, clientMsgs[0]))
	if st := c.Stats(); st.Errors != 0 {
		t.Errorf("the client's connection broke across the reload: %+v", st)
	}
	if n := d.listenings("tcp"); n != 1 {
		t.Errorf("the unchanged tcp input was started %d times", n)
	}
	if n := d.listenings("udp"); n != 2 {
		t.Errorf("the changed udp input was started %d times, want 2 (restarted)", n)
	}
	// The restarted UDP input serves on its new socket.
	if udpAfter := d.addr("udp"); udpAfter == udpBefore {
		t.Logf("the udp input got the same port again: %s", udpAfter)
	}
	mustMetlog(t, "send", "-to", "udp://"+d.addr("udp"), "-type", "b", "log", "udp after the reload")
	waitPayload(t, b, "udp after the reload")
}

// byConn orders the messages of two connections (a raw one and a client's)
// as want lists them: each connection's order is kept, but which came
// first between them is not defined. Messages not in want stay in place
// at the end.
func byConn(got []*message.Message, want ...*message.Message) []*message.Message {
	var out []*message.Message
	used := make([]bool, len(got))
	for _, w := range want {
		for i, g := range got {
			if !used[i] && g.UUID == w.UUID {
				out = append(out, g)
				used[i] = true
				break
			}
		}
	}
	for i, g := range got {
		if !used[i] {
			out = append(out, g)
		}
	}
	return out
}

// While a load generator sends numbered messages over TCP without pause,
// three reloads each swap the file output for one with another path: the
// queue is handed over, and every message is in one of the files exactly
// once.
func TestReloadLosesNothingUnderLoad(t *testing.T) {
	t.Parallel()
	const n = 40000
	config := func(i int) string {
		return globals() + fmt.Sprintf(`
[tcp]
type = "tcp_input"
address = "127.0.0.1:0"

[out]
type = "file_output"
message_matcher = "TRUE"
path = "@DIR@/data/out-%d.jsonl"
when_full = "block"
queue_size = 1000
batch_size = 100
fsync = "batch"
`, i)
	}
	d := startDaemon(t, config(1))
	bench := startMetlog(t, t.TempDir(), "bench", "-addr", d.addr("tcp"), "-n", strconv.Itoa(n), "-rate", "20000", "-conns", "2", "-unique")
	for i := 2; i <= 4; i++ {
		// Reload while messages flow: after a quarter, a half, three quarters.
		d.waitPlugin("tcp", "messages flowing", func(p pipelineStatus) bool { return p.In >= uint64((i-1)*n/4) })
		depth := d.plugin("out").QueueDepth
		d.reload(config(i), i-1, false)
		select {
		case <-bench.done:
			t.Fatalf("the load generator ended before reload %d: the test must reload under load", i-1)
		default:
		}
		t.Logf("reload %d with %d messages queued", i-1, depth)
	}
	if err := bench.wait(t, 60*time.Second); err != nil {
		t.Fatalf("metlog bench: %v\n%s%s", err, bench.stdout, bench.stderr)
	}
	if sent := kv(bench.stdout.String())["sent"]; sent != strconv.Itoa(n) {
		t.Fatalf("bench sent %s, want %d: %s", sent, n, bench.stdout)
	}
	if p := d.plugin("tcp"); p.In > n {
		t.Fatalf("[tcp] in %d > %d sent", p.In, n)
	}
	d.waitPlugin("out", "every message written", func(p pipelineStatus) bool { return p.Out >= n && p.QueueDepth == 0 })
	files, _ := filepath.Glob(d.path("data", "out-*.jsonl"))
	if len(files) != 4 {
		t.Errorf("files %v, want out-1..4", files)
	}
	for _, f := range files {
		if len(jsonLines(t, f)) == 0 && !strings.HasSuffix(f, "out-1.jsonl") {
			t.Logf("%s is empty: no message was routed between two reloads", f)
		}
	}
	res := mustMetlog(t, append([]string{"bench", "-count-file"}, append(files, "-expect", strconv.Itoa(n))...)...)
	got := kv(res)
	if got["received"] != strconv.Itoa(n) || got["unique"] != strconv.Itoa(n) || got["lost"] != "0" || got["duplicates"] != "0" {
		t.Errorf("count of the files: %s", res)
	}
	p := d.plugin("out")
	if p.Out != n || len(p.Dropped) != 0 {
		t.Errorf("[out] %+v, want out %d and no drops", p, n)
	}
	if st := d.status(); st.Reloads != 3 {
		t.Errorf("reloads %d, want 3", st.Reloads)
	}
}

// lineOf returns the number of the first line of text holding s.
func lineOf(text, s string) int {
	for i, line := range strings.Split(text, "\n") {
		if strings.Contains(line, s) {
			return i + 1
		}
	}
	return 0
}

var kvPair = regexp.MustCompile(`(\w+)=(\S+)`)

// kv parses the key=value line metlog bench prints.
func kv(s string) map[string]string {
	out := map[string]string{}
	for _, m := range kvPair.FindAllStringSubmatch(s, -1) {
		out[m[1]] = m[2]
	}
	return out
}

// SIGHUP with the configuration unchanged reopens output files, for an
// external logrotate: messages before it are in the renamed file, those
// after it in a new file at the path, none lost or written twice; and
// nothing is restarted.
func TestSIGHUPReopensFiles(t *testing.T) {
	t.Parallel()
	cfg := globals() + reloadBase
	d := startDaemon(t, cfg)
	conn := dialRaw(t, d.addr("tcp"))
	a := d.path("data", "a.jsonl")
	var before []*message.Message
	for i := range 3 {
		m := msgOf("x", fmt.Sprintf("before rotation %d", i))
		before = append(before, m)
		conn.send(m)
	}
	waitMessages(t, 3, a)
	if err := os.Rename(a, a+".1"); err != nil { // what logrotate does
		t.Fatal(err)
	}
	d.reload(cfg, 1, false)
	after := msgOf("x", "after rotation")
	conn.send(after)
	compareMessages(t, "the new file", []*message.Message{after}, waitMessages(t, 1, a))
	compareMessages(t, "the rotated file", before, readMessages(t, a+".1"))
	if n := d.listenings("tcp"); n != 1 {
		t.Errorf("the input was started %d times", n)
	}
}

// A reload that changes an output while thousands of messages are queued
// for it (its endpoint stopped reading): the new instance takes over the
// queue, and every message reaches an endpoint: the old one (what was
// written to it before) or the new one.
func TestReloadHandsTheQueueOver(t *testing.T) {
	t.Parallel()
	const n = 3000
	old, next := newSlowPeer(t), newSlowPeer(t)
	close(next.release)
	config := func(peer *slowPeer) string {
		return globals() + fmt.Sprintf(`
[tcp]
type = "tcp_input"
address = "127.0.0.1:0"

[forward]
type = "tcp_output"
message_matcher = "TRUE"
address = %q
when_full = "block"
queue_size = 100000
batch_size = 100
write_timeout = "1s"
retry_min = "50ms"
retry_max = "200ms"
`, peer.ln.Addr())
	}
	d := startDaemon(t, config(old))
	c, rec := newClient(t, "tcp://"+d.addr("tcp"), "protobuf", "handover")
	payload := strings.Repeat("q", 4000) // 12 MB: far more than socket buffers hold
	for i := range n {
		c.Info(payload, client.Int("i", i))
	}
	flushClose(t, c, n)
	d.waitPlugin("tcp", "every message received", func(p pipelineStatus) bool { return p.In == n })
	p := d.waitPlugin("forward", "the endpoint to stall", func(p pipelineStatus) bool {
		return p.In+uint64(p.QueueDepth) == n && p.QueueDepth > 0
	})
	t.Logf("reload with %d messages queued, %d taken by the output", p.QueueDepth, p.In)

	start := time.Now()
	d.reload(config(next), 1, false)
	t.Logf("the reload took %v (the batch in hand waits for write_timeout)", time.Since(start).Round(time.Millisecond))
	d.waitPlugin("forward", "the queue drained to the new endpoint", func(p pipelineStatus) bool { return p.QueueDepth == 0 })
	close(old.release) // now read what the old endpoint was sent
	if code := d.stop(); code != 0 {
		t.Errorf("exit %d", code)
	}
	old.ln.Close()
	next.ln.Close()
	old.wg.Wait()
	next.wg.Wait()
	oldFrames, _, _ := old.counts()
	nextFrames, _, nextGarbage := next.counts()
	missing, twice := 0, 0
	for _, m := range rec.messages() {
		switch k := old.uuids[m.UUID] + next.uuids[m.UUID]; {
		case k == 0:
			missing++
		case k > 1:
			twice++
		}
	}
	t.Logf("old endpoint %d frames, new endpoint %d, sent twice %d", oldFrames, nextFrames, twice)
	if missing != 0 || nextGarbage != 0 || nextFrames == 0 {
		t.Errorf("%d of %d messages reached no endpoint; the new endpoint got %d frames, %d bytes of garbage", missing, n, nextFrames, nextGarbage)
	}
	// At least once: only batches cut by the write timeout (each logged)
	// may be sent again.
	failed := len(d.logLines("plugin=forward", "delivery failed; retrying"))
	if twice > 100*failed {
		t.Errorf("%d messages sent twice; at most the %d failed batches of 100 may be", twice, failed)
	}
}

// A reload whose configuration is valid but cannot start (the input's new
// port is taken): the error is logged and counted in /status, the old
// input runs again, and the outputs keep their messages.
func TestReloadThatCannotStart(t *testing.T) {
	t.Parallel()
	d := startDaemon(t, globals()+reloadBase)
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	m1 := msgOf("x", "before")
	dialRaw(t, d.addr("tcp")).send(m1)
	a := d.path("data", "a.jsonl")
	waitPayload(t, a, m1.Payload)

	d.writeConfig(globals() + strings.Replace(reloadBase, `address = "127.0.0.1:0"`, fmt.Sprintf("address = %q", taken.Addr()), 1))
	d.signal(syscall.SIGHUP)
	line := d.waitLog(1, "level=ERROR", "msg=reload")[0]
	if !strings.Contains(line, "start [tcp] (tcp_input)") || !strings.Contains(line, "address already in use") {
		t.Errorf("the failed reload is logged as %q", line)
	}
	waitFor(t, "failed_reloads 1", func() bool { return d.status().Failed == 1 }, nil)
	if n := d.listenings("tcp"); n != 2 {
		t.Errorf("the old tcp input was started %d times, want 2 (started again)", n)
	}
	// The input the old configuration describes serves again.
	m2 := msgOf("x", "after the failed reload")
	dialRaw(t, d.addr("tcp")).send(m2)
	compareMessages(t, "a.jsonl", []*message.Message{m1, m2}, waitMessages(t, 2, a))
}

// Settings of [metlogd] that plugins do not depend on (log_level,
// shutdown_timeout) change on SIGHUP without restarting anything.
func TestReloadGlobals(t *testing.T) {
	t.Parallel()
	d := startDaemon(t, globals()+reloadBase)
	conn := dialRaw(t, d.addr("tcp"))
	d.reload(globals(`log_level = "debug"`, `shutdown_timeout = "7s"`)+reloadBase, 1, false)
	m := msgOf("x", "after changing the globals")
	conn.send(m)
	waitPayload(t, d.path("data", "a.jsonl"), m.Payload)
	if n := d.listenings("tcp"); n != 1 {
		t.Errorf("the tcp input was started %d times", n)
	}
	if code := d.stop(); code != 0 {
		t.Errorf("exit %d", code)
	}
	d.waitLog(1, `msg="shutting down"`, "deadline=7s")
}
