package test

import (
	"fmt"
	"net"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/metlog/metlog/client"
	"github.com/metlog/metlog/message"
)

// slowPeer is a TCP listener that accepts connections but reads nothing
// until released, then reads every frame.
type slowPeer struct {
	ln      net.Listener
	release chan struct{}
	mu      sync.Mutex
	uuids   map[[16]byte]int
	frames  int
	garbage int64
	wg      sync.WaitGroup
}

func newSlowPeer(t testing.TB) *slowPeer {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &slowPeer{ln: ln, release: make(chan struct{}), uuids: map[[16]byte]int{}}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			p.wg.Add(1)
			go p.serve(c)
		}
	}()
	t.Cleanup(func() { ln.Close() })
	return p
}

func (p *slowPeer) serve(c net.Conn) {
	defer p.wg.Done()
	defer c.Close()
	<-p.release
	s := message.NewFrameScanner(c, 0)
	var m message.Message
	for s.Next() {
		if err := m.Unmarshal(s.Message()); err != nil {
			s.Reject(err)
			continue
		}
		p.mu.Lock()
		p.frames++
		p.uuids[m.UUID]++
		p.mu.Unlock()
	}
	p.mu.Lock()
	p.garbage += s.Discarded()
	p.mu.Unlock()
}

func (p *slowPeer) counts() (frames, unique int, garbage int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.frames, len(p.uuids), p.garbage
}

// SIGTERM with a backlog queued for a slow endpoint: the inputs stop, the
// queue drains to the endpoint within shutdown_timeout, every message is
// delivered, and metlogd exits 0.
func TestShutdownDrainsQueues(t *testing.T) {
	t.Parallel()
	const n = 5000
	peer := newSlowPeer(t)
	d := startDaemon(t, globals(`shutdown_timeout = "30s"`)+fmt.Sprintf(`
[tcp]
type = "tcp_input"
address = "127.0.0.1:0"

[forward]
type = "tcp_output"
message_matcher = "TRUE"
address = %q
when_full = "block"
queue_size = 100000
batch_size = 200
`, peer.ln.Addr()))

	c, rec := newClient(t, "tcp://"+d.addr("tcp"), "protobuf", "drain")
	payload := strings.Repeat("p", 2000) // 10 MB in all: more than the sockets buffer
	for i := range n {
		c.Info(payload, client.Int("i", i))
	}
	flushClose(t, c, n)
	d.waitPlugin("tcp", "every message received", func(p pipelineStatus) bool { return p.In == n })
	p := d.waitPlugin("forward", "a backlog", func(p pipelineStatus) bool { return p.In+uint64(p.QueueDepth) == n })
	if p.QueueDepth == 0 {
		t.Fatalf("no backlog to drain: %+v", p)
	}
	t.Logf("SIGTERM with %d messages queued, %d taken by the output", p.QueueDepth, p.In)

	d.signal(syscall.SIGTERM)
	d.waitLog(1, `msg="shutting down" signal=terminated deadline=30s`)
	close(peer.release) // the endpoint reads again
	if code := d.wait(60 * time.Second); code != 0 {
		t.Fatalf("exit %d", code)
	}
	peer.ln.Close()
	peer.wg.Wait()
	frames, unique, garbage := peer.counts()
	if frames != n || unique != n || garbage != 0 {
		t.Errorf("the endpoint got %d frames, %d distinct, %d bytes of garbage; want %d", frames, unique, garbage, n)
	}
	for _, m := range rec.messages() {
		if peer.uuids[m.UUID] != 1 {
			t.Errorf("message %x arrived %d times", m.UUID, peer.uuids[m.UUID])
			break
		}
	}
	d.waitLog(1, `msg="pipeline stopped"`)
	if lines := d.logLines("level=ERROR"); len(lines) != 0 {
		t.Errorf("errors logged at shutdown: %q", lines)
	}
}

var lostLine = regexp.MustCompile(`level=ERROR msg=shutdown err="(\d+) messages were still queued at the shutdown deadline and are lost"`)

// With a dead endpoint and a short shutdown_timeout, SIGTERM and SIGINT
// end metlogd within the deadline, exit 0, and the log says how many
// messages were lost.
func TestShutdownDeadlineWithDeadEndpoint(t *testing.T) {
	t.Parallel()
	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGINT} {
		t.Run(sig.String(), func(t *testing.T) {
			t.Parallel()
			const n = 1000
			// A port where nothing listens.
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			dead := ln.Addr().String()
			ln.Close()
			d := startDaemon(t, globals(`shutdown_timeout = "300ms"`)+fmt.Sprintf(`
[tcp]
type = "tcp_input"
address = "127.0.0.1:0"

[forward]
type = "tcp_output"
message_matcher = "TRUE"
address = %q
when_full = "block"
queue_size = 100000
retry_min = "20ms"
retry_max = "100ms"
`, dead))
			c, _ := newClient(t, "tcp://"+d.addr("tcp"), "protobuf", "lost")
			for i := range n {
				c.Info("to nowhere", client.Int("i", i))
			}
			flushClose(t, c, n)
			d.waitPlugin("tcp", "every message received", func(p pipelineStatus) bool { return p.In == n })
			d.waitPlugin("forward", "failed attempts", func(p pipelineStatus) bool { return p.Errors >= 2 })

			start := time.Now()
			d.signal(sig)
			code := d.wait(30 * time.Second)
			took := time.Since(start)
			if code != 0 {
				t.Errorf("exit %d, want 0", code)
			}
			if took > 5*time.Second {
				t.Errorf("took %v to exit with a 300ms shutdown_timeout", took)
			}
			lines := d.waitLog(1, "level=ERROR", "msg=shutdown")
			m := lostLine.FindStringSubmatch(lines[0])
			if m == nil || m[1] != fmt.Sprint(n) {
				t.Errorf("the loss is not logged as %d messages: %q", n, lines)
			}
			d.waitLog(1, `msg="shutting down"`, "deadline=300ms")
		})
	}
}
