package forward_test

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"

	"github.com/metlog/metlog/message"
	"github.com/metlog/metlog/pipeline"
	"github.com/metlog/metlog/pipeline/pipelinetest"
	"github.com/metlog/metlog/plugins/outputs/forward"
)

// datagramServer keeps every datagram it receives.
type datagramServer struct {
	conn *net.UDPConn
	mu   sync.Mutex
	got  [][]byte
	done chan struct{}
}

func newDatagramServer(t testing.TB, addr string) *datagramServer {
	t.Helper()
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	ua, err := net.ResolveUDPAddr("udp", addr)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := net.ListenUDP("udp", ua)
	if err != nil {
		t.Fatal(err)
	}
	_ = conn.SetReadBuffer(4 << 20)
	s := &datagramServer{conn: conn, done: make(chan struct{})}
	go func() {
		defer close(s.done)
		b := make([]byte, 1<<17)
		for {
			n, err := conn.Read(b)
			if err != nil {
				return
			}
			s.mu.Lock()
			s.got = append(s.got, bytes.Clone(b[:n]))
			s.mu.Unlock()
		}
	}()
	t.Cleanup(func() { conn.Close(); <-s.done })
	return s
}

func (s *datagramServer) addr() string { return s.conn.LocalAddr().String() }

// wait waits for n datagrams and returns them all.
func (s *datagramServer) wait(t testing.TB, n int) [][]byte {
	t.Helper()
	var out [][]byte
	pipelinetest.Eventually(t, func() bool {
		s.mu.Lock()
		defer s.mu.Unlock()
		out = append([][]byte(nil), s.got...)
		return len(out) >= n
	}, fmt.Sprintf("%d datagrams", n))
	return out
}

// checkDatagrams fails unless each datagram is exactly one frame of the
// corresponding message, signed by s.
func checkDatagrams(t testing.TB, got [][]byte, msgs []*message.Message, s *message.Signer, keys *message.KeyRing) {
	t.Helper()
	if len(got) != len(msgs) {
		t.Fatalf("got %d datagrams, want %d", len(got), len(msgs))
	}
	for i, d := range got {
		if want := message.AppendFrame(nil, msgs[i], s); !bytes.Equal(d, want) {
			t.Fatalf("datagram %d is not the frame of message %d", i, i)
		}
		h, body, n, err := message.ParseFrame(d, 0)
		if err != nil || n != len(d) {
			t.Fatalf("datagram %d: ParseFrame: %d of %d bytes, %v", i, n, len(d), err)
		}
		if keys != nil {
			if err := keys.Verify(&h, body); err != nil {
				t.Fatalf("datagram %d: %v", i, err)
			}
		}
	}
}

func udpConfig(addr string, extra ...string) string {
	return fmt.Sprintf(`
[fwd]
type = "udp_output"
message_matcher = "TRUE"
address = %q
retry_min = "20ms"
retry_max = "100ms"
%s
`, addr, strings.Join(extra, "\n"))
}

func TestUDPDelivers(t *testing.T) {
	for _, tc := range []struct {
		name  string
		extra []string
		sign  bool
	}{
		{"plain", nil, false},
		{"signed", []string{"[fwd.hmac]", `signer = "edge"`, `key_version = 2`, `hash = "sha256"`, `key = "secret"`}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := newDatagramServer(t, "")
			p := pipelinetest.Run(t, udpConfig(srv.addr(), tc.extra...))
			msgs := testMessages(50, "udp")
			// Message 10 does not fit a datagram: counted and skipped, the
			// others still sent.
			big := msgs[10].Clone()
			big.Payload = strings.Repeat("x", forward.MaxDatagram)
			sent := append(append(append([]*message.Message(nil), msgs[:10]...), big), msgs[10:]...)
			deliver(t, p, sent)
			var s *message.Signer
			var keys *message.KeyRing
			if tc.sign {
				var err error
				if s, err = message.NewSigner("edge", 2, message.SHA256, []byte("secret")); err != nil {
					t.Fatal(err)
				}
				keys = &message.KeyRing{}
				keys.Add("edge", 2, []byte("secret"))
			}
			checkDatagrams(t, srv.wait(t, len(msgs)), msgs, s, keys)
			m := p.Metrics("fwd")
			// The oversized message is counted as dropped, not as delivered too.
			pipelinetest.Eventually(t, func() bool { return m.Out.Load() == uint64(len(msgs)) }, "Out to count the delivered messages")
			if d := m.Dropped(pipeline.DropTooLarge); d != 1 {
				t.Errorf("DropTooLarge = %d, want 1", d)
			}
			if e := m.Errors.Load(); e != 0 {
				t.Errorf("Errors = %d, want 0", e)
			}
		})
	}
}

// TestUDPRefused: with nothing listening, the kernel reports ICMP refusals
// on the connected socket. They are counted as errors, the batch counts as
// delivered (not retried), and once a listener appears every message sent
// reaches it, even the first, whose send reported the last refusal.
func TestUDPRefused(t *testing.T) {
	addr := pipelinetest.FreePort(t, "udp")
	out := forward.NewUDP()
	out.Address = addr
	if err := out.Validate(); err != nil {
		t.Fatal(err)
	}
	metrics := &pipeline.Metrics{}
	if err := out.Start(context.Background(), &pipeline.Settings{Name: "fwd", Metrics: metrics}); err != nil {
		t.Fatal(err)
	}
	defer out.Stop(context.Background())
	ctx := context.Background()
	lost := testMessages(1, "lost")
	pipelinetest.Eventually(t, func() bool {
		if err := out.Deliver(ctx, lost); err != nil {
			t.Fatalf("Deliver with the peer down: %v", err)
		}
		return metrics.Errors.Load() >= 3
	}, "refusals to be counted")
	// One more send, whose ICMP answer leaves a refusal pending: the next
	// send reports it, and is not sent.
	if err := out.Deliver(ctx, lost); err != nil {
		t.Fatal(err)
	}
	srv := newDatagramServer(t, addr)
	msgs := testMessages(20, "after")
	if err := out.Deliver(ctx, msgs); err != nil {
		t.Fatal(err)
	}
	checkDatagrams(t, srv.wait(t, len(msgs)), msgs, nil, nil)
}

func TestUDPValidate(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  string
		want string
	}{
		{"no address", "[fwd]\ntype = \"udp_output\"\nmessage_matcher = \"TRUE\"\n", "address: the output needs an address"},
		{"bad address", udpConfig("localhost"), "is not host:port"},
		{"hmac without key", udpConfig("h:1", "[fwd.hmac]", `signer = "edge"`), "hmac.key: signing needs a key"},
		{"tls", udpConfig("h:1", "[fwd.tls]", `enabled = true`), "unknown key"},
		{"encoder", udpConfig("h:1", `encoder = "json"`), "takes no encoder"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := pipelinetest.Parse(t, tc.cfg)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got error %v, want one containing %q", err, tc.want)
			}
		})
	}
}

func TestUDPStop(t *testing.T) {
	out := forward.NewUDP()
	for range 2 {
		if err := out.Stop(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	srv := newDatagramServer(t, "")
	out = forward.NewUDP()
	out.Address = srv.addr()
	if err := out.Start(context.Background(), &pipeline.Settings{Name: "fwd", Metrics: &pipeline.Metrics{}}); err != nil {
		t.Fatal(err)
	}
	msgs := testMessages(3, "stop")
	if err := out.Deliver(context.Background(), msgs); err != nil {
		t.Fatal(err)
	}
	srv.wait(t, 3)
	for range 2 {
		if err := out.Stop(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	if err := out.Deliver(context.Background(), msgs); err == nil {
		t.Error("Deliver after Stop succeeded")
	}
}

// TestUDPResume: a batch whose sending failed part way (here, interrupted
// by its context) is resumed by its retry after the datagrams already
// sent: each message arrives once.
func TestUDPResume(t *testing.T) {
	srv := newDatagramServer(t, "")
	out := forward.NewUDP()
	out.Address = srv.addr()
	if err := out.Start(context.Background(), &pipeline.Settings{Name: "fwd", Metrics: &pipeline.Metrics{}}); err != nil {
		t.Fatal(err)
	}
	defer out.Stop(context.Background())
	msgs := testMessages(2000, "resume")
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // the deadline it sets lands a few datagrams into the batch
	if err := out.Deliver(ctx, msgs); err == nil {
		t.Skip("the cancellation did not land during the batch")
	} else {
		t.Log(err)
	}
	if err := out.Deliver(context.Background(), msgs); err != nil {
		t.Fatal(err)
	}
	got := srv.wait(t, len(msgs))
	checkDatagrams(t, got, msgs, nil, nil)
}
