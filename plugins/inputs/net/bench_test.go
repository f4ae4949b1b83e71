package netin

import (
	"bytes"
	"context"
	"net"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/metlog/metlog/message"
	"github.com/metlog/metlog/pipeline"
	"github.com/metlog/metlog/pipeline/pipelinetest"
)

func init() {
	pipeline.Register(pipeline.Plugin{
		Type:    "netin_discard_output",
		Kind:    pipeline.KindOutput,
		New:     func() any { return discard{} },
		Summary: "discards what it is given, for the benchmarks of package netin",
	})
}

// discard is an output that delivers nowhere.
type discard struct{}

func (discard) Deliver(context.Context, []*message.Message) error { return nil }

// benchFrames returns n frames of a log message with a 256-byte payload.
func benchFrames(n int) []byte {
	m := &message.Message{
		Type: "oldstyle", Logger: "bench", Severity: 6, EnvVersion: "0.8", Pid: 1234, Hostname: "app-01",
		Payload: strings.Repeat("p", 256),
	}
	m.AddString("path", "/api/v1/things")
	m.AddInt("status", 200)
	var out []byte
	for range n {
		m.UUID = message.NewUUID()
		m.Timestamp = time.Now().UnixNano()
		out = message.AppendFrame(out, m, nil)
	}
	return out
}

// BenchmarkTCPInput sends framed messages with 256-byte payloads over 4
// connections through a tcp_input and the router to an output that
// discards them, and reports messages per second.
func BenchmarkTCPInput(b *testing.B) {
	const conns, perBlock = 4, 1000
	block := benchFrames(perBlock)
	p := pipelinetest.Run(b, `
[in]
type = "tcp_input"
address = "127.0.0.1:0"

[out]
type = "netin_discard_output"
message_matcher = "TRUE"
when_full = "block"
`)
	addr := addrOf(b, p, "in")
	var cs []net.Conn
	for range conns {
		cs = append(cs, dial(b, "tcp", addr))
	}
	out := p.Metrics("out")
	blocks := max(1, (b.N+conns*perBlock-1)/(conns*perBlock))
	total := uint64(blocks * conns * perBlock)
	b.SetBytes(int64(len(block) / perBlock))
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	var wg sync.WaitGroup
	for _, c := range cs {
		wg.Go(func() {
			for range blocks {
				if _, err := c.Write(block); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	for out.Out.Load() < total {
		time.Sleep(100 * time.Microsecond)
	}
	elapsed := time.Since(start)
	b.StopTimer()
	b.ReportMetric(float64(total)/elapsed.Seconds(), "msgs/s")
	b.ReportMetric(float64(elapsed.Nanoseconds())/float64(total), "ns/msg")
	if d := countsOf(p.Metrics("in")); d != (counts{}) {
		b.Fatalf("input counted rejections: %+v", d)
	}
}

// nopDeliverer takes messages and does nothing.
type nopDeliverer struct{}

func (nopDeliverer) Deliver(context.Context, *message.Message) error { return nil }

// BenchmarkServeFrames measures the input's own work per framed message,
// without sockets or the router: scanning, verifying and decoding.
func BenchmarkServeFrames(b *testing.B) {
	for _, signed := range []bool{false, true} {
		name := "unsigned"
		s := &server{maxMsg: 64 << 10, rep: newReporter(&pipeline.Metrics{}, discardLogger())}
		s.auth.keys, _ = Signers{"bench_1": "key"}.keyRing()
		block := benchFrames(1000)
		if signed {
			name = "hmac-sha1"
			signer, _ := message.NewSigner("bench", 1, message.SHA1, []byte("key"))
			sc := message.NewFrameScanner(bytes.NewReader(block), 0)
			var re []byte
			for sc.Next() {
				re = message.AppendFrameBytes(re, sc.Message(), signer)
			}
			block = re
		}
		b.Run(name, func(b *testing.B) {
			b.SetBytes(int64(len(block) / 1000))
			b.ReportAllocs()
			r := &repeatReader{block: block, left: b.N}
			if err := s.serveFrames(context.Background(), nopDeliverer{}, r, "bench"); err != context.Canceled {
				b.Fatal(err)
			}
		})
	}
}

// repeatReader yields the frames of block, in whole blocks, until left
// frames (rounded up to a block's 1000) are read.
type repeatReader struct {
	block []byte
	off   int
	left  int
}

func (r *repeatReader) Read(p []byte) (int, error) {
	if r.off == 0 {
		if r.left <= 0 {
			return 0, context.Canceled // any error ends serveFrames
		}
		r.left -= 1000
	}
	n := copy(p, r.block[r.off:])
	r.off = (r.off + n) % len(r.block)
	return n, nil
}

// BenchmarkDatagram measures one framed datagram through the handler:
// the only allocations are the decoded message's.
func BenchmarkDatagram(b *testing.B) {
	for _, tc := range []struct {
		name string
		data []byte
	}{
		{"frame", benchFrames(1)},
		{"metlog-json", message.AppendMetlogJSON(nil, testMessage(1))},
		{"plain", []byte(strings.Repeat("p", 256))},
	} {
		b.Run(tc.name, func(b *testing.B) {
			h := &datagramHandler{format: formatAuto, max: 64 << 10, rep: newReporter(&pipeline.Metrics{}, discardLogger())}
			from := netip.MustParseAddrPort("127.0.0.1:1234")
			b.SetBytes(int64(len(tc.data)))
			b.ReportAllocs()
			for b.Loop() {
				if err := h.handle(context.Background(), nopDeliverer{}, tc.data, from); err != nil {
					b.Fatal(err)
				}
			}
			if c := countsOf(h.rep.m); c != (counts{}) {
				b.Fatalf("rejected: %+v", c)
			}
		})
	}
}
