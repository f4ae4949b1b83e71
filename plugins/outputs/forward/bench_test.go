package forward_test

import (
	"context"
	"crypto/tls"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/metlog/metlog/message"
	"github.com/metlog/metlog/pipeline"
	"github.com/metlog/metlog/plugins/outputs/forward"
)

// discardServer accepts connections (with TLS when tc is set) and reads
// them to the end.
func discardServer(b testing.TB, tc *tls.Config) string {
	b.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	if tc != nil {
		ln = tls.NewListener(ln, tc)
	}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { _, _ = io.Copy(io.Discard, c); c.Close() }()
		}
	}()
	b.Cleanup(func() { ln.Close() })
	return ln.Addr().String()
}

// BenchmarkTCP measures tcp_output's Deliver to a local listener that
// discards: one op is one message, delivered in batches of 1000 with
// 256-byte payloads. The msgs/s metric is the throughput.
func BenchmarkTCP(b *testing.B) {
	pk := newPKI(b)
	for _, bc := range []struct {
		name string
		hmac forward.HMAC
		tls  bool
	}{
		{"unsigned", forward.HMAC{}, false},
		{"hmac-md5", forward.HMAC{Signer: "edge", Key: "secret"}, false},
		{"hmac-sha256", forward.HMAC{Signer: "edge", Key: "secret", Hash: "sha256"}, false},
		{"tls", forward.HMAC{}, true},
	} {
		b.Run(bc.name, func(b *testing.B) {
			out := forward.NewTCP()
			out.HMAC = bc.hmac
			if bc.tls {
				out.Address = discardServer(b, pk.serverTLS(false))
				out.TLS.CAFile = pk.caFile
			} else {
				out.Address = discardServer(b, nil)
			}
			if err := out.Validate(); err != nil {
				b.Fatal(err)
			}
			set := &pipeline.Settings{Name: "fwd", Metrics: &pipeline.Metrics{}, Global: pipeline.Global{MaxMessageSize: 64 << 10}}
			if err := out.Start(context.Background(), set); err != nil {
				b.Fatal(err)
			}
			defer out.Stop(context.Background())
			const batchSize = 1000
			msgs := testMessages(batchSize, "bench")
			pad := strings.Repeat("p", 256)
			for _, m := range msgs {
				m.Payload = pad
			}
			ctx := context.Background()
			if err := out.Deliver(ctx, msgs); err != nil { // connect, size the buffer
				b.Fatal(err)
			}
			frame := len(message.AppendFrame(nil, msgs[0], nil))
			b.SetBytes(int64(frame))
			b.ReportAllocs()
			b.ResetTimer()
			start := time.Now()
			for i := 0; i < b.N; i += batchSize {
				batch := msgs[:min(batchSize, b.N-i)]
				if err := out.Deliver(ctx, batch); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "msgs/s")
		})
	}
}

// TestTCPDeliverAllocs: encoding and writing a batch allocates nothing per
// message; what a batch costs (the context hook of the write) is constant.
func TestTCPDeliverAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates")
	}
	perBatch := map[int]float64{}
	for _, n := range []int{10, 1000} {
		out := forward.NewTCP()
		out.Address = discardServer(t, nil)
		out.HMAC = forward.HMAC{Signer: "edge", Key: "secret", Hash: "sha256"}
		set := &pipeline.Settings{Name: "fwd", Metrics: &pipeline.Metrics{}, Global: pipeline.Global{MaxMessageSize: 64 << 10}}
		if err := out.Start(context.Background(), set); err != nil {
			t.Fatal(err)
		}
		msgs := testMessages(n, "allocs")
		ctx := context.Background()
		if err := out.Deliver(ctx, msgs); err != nil {
			t.Fatal(err)
		}
		allocs := testing.AllocsPerRun(50, func() {
			if err := out.Deliver(ctx, msgs); err != nil {
				t.Fatal(err)
			}
		})
		out.Stop(ctx)
		t.Logf("%d messages: %.0f allocations per batch", n, allocs)
		perBatch[n] = allocs
	}
	if perBatch[1000] != perBatch[10] || perBatch[10] > 8 {
		t.Errorf("allocations per batch: %v; want at most 8, the same for 10 and 1000 messages", perBatch)
	}
}
