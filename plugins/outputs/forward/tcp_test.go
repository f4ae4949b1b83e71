package forward_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/metlog/metlog/message"
	"github.com/metlog/metlog/pipeline"
	"github.com/metlog/metlog/pipeline/pipelinetest"
	"github.com/metlog/metlog/plugins/outputs/forward"
)

// tcpConfig is a pipeline with one tcp_output, [fwd], retrying quickly,
// and extra lines for its section.
func tcpConfig(addr string, extra ...string) string {
	return fmt.Sprintf(`
[fwd]
type = "tcp_output"
message_matcher = "TRUE"
address = %q
retry_min = "20ms"
retry_max = "100ms"
%s
`, addr, strings.Join(extra, "\n"))
}

// shutdown stops p at once, dropping what it cannot deliver, so that a
// test whose peer refuses does not wait for the drain deadline.
func shutdown(p *pipeline.Pipeline) {
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	_ = p.Shutdown(ctx)
}

func TestTCPDeliversFramesInOrder(t *testing.T) {
	srv := newFrameServer(t, "", nil, nil)
	p := pipelinetest.Run(t, tcpConfig(srv.addr()))
	msgs := testMessages(600, "m")
	deliver(t, p, msgs[:300])
	srv.wait(t, 300)
	deliver(t, p, msgs[300:])
	checkFrames(t, srv.wait(t, 600), msgs)
	if got, want := srv.raw(0), wantFrames(msgs, nil); !bytes.Equal(got, want) {
		t.Fatalf("the stream is not the frames of the messages: got %d bytes, want %d", len(got), len(want))
	}
	if n := srv.connCount(); n != 1 {
		t.Errorf("%d connections, want 1", n)
	}
	m := p.Metrics("fwd")
	pipelinetest.Eventually(t, func() bool { return m.Out.Load() == 600 }, "Out to reach 600")
	if e := m.Errors.Load(); e != 0 {
		t.Errorf("Errors = %d, want 0", e)
	}
}

func TestTCPHMAC(t *testing.T) {
	for _, tc := range []struct {
		name    string
		hash    string // the hash key; "" for the default
		key     string
		version int
		fn      message.HashFunction
		want    error // KeyRing.Verify's verdict on every frame
	}{
		{"md5 default", "", "secret", 3, message.MD5, nil},
		{"md5", "md5", "secret", 3, message.MD5, nil},
		{"sha1", "sha1", "secret", 3, message.SHA1, nil},
		{"sha256", "sha256", "secret", 3, message.SHA256, nil},
		{"wrong key", "sha256", "not the secret", 3, message.SHA256, message.ErrBadSignature},
		{"unknown key version", "sha256", "secret", 4, message.SHA256, message.ErrUnknownSigner},
	} {
		t.Run(tc.name, func(t *testing.T) {
			keys := &message.KeyRing{}
			keys.Add("edge", 3, []byte("secret"))
			srv := newFrameServer(t, "", nil, keys)
			hash := ""
			if tc.hash != "" {
				hash = fmt.Sprintf("hash = %q", tc.hash)
			}
			p := pipelinetest.Run(t, tcpConfig(srv.addr(), "[fwd.hmac]", `signer = "edge"`,
				fmt.Sprintf("key_version = %d", tc.version), hash, fmt.Sprintf("key = %q", tc.key)))
			msgs := testMessages(20, tc.name)
			deliver(t, p, msgs)
			frames := srv.wait(t, len(msgs))
			checkFrames(t, frames, msgs)
			for i, f := range frames {
				if f.hdr.Signer != "edge" || f.hdr.KeyVersion != uint32(tc.version) || f.hdr.HashFunction != tc.fn {
					t.Fatalf("frame %d: header %+v, want signer edge, version %d, %v", i, f.hdr, tc.version, tc.fn)
				}
				if !errors.Is(f.verify, tc.want) || (tc.want == nil) != (f.verify == nil) {
					t.Fatalf("frame %d: Verify = %v, want %v", i, f.verify, tc.want)
				}
			}
			s, err := message.NewSigner("edge", uint32(tc.version), tc.fn, []byte(tc.key))
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(srv.raw(0), wantFrames(msgs, s)) {
				t.Fatal("the stream is not the signed frames of the messages")
			}
		})
	}
}

func TestTCPTLS(t *testing.T) {
	pk := newPKI(t)
	for _, tc := range []struct {
		name       string
		clientAuth bool     // the server requires a client certificate
		tls12      bool     // the server speaks at most TLS 1.2
		keys       []string // the [fwd.tls] table
		ok         bool
	}{
		{"server name", false, false, []string{`ca_file = "` + pk.caFile + `"`, `server_name = "metlog.test"`}, true},
		{"ip address", false, false, []string{`ca_file = "` + pk.caFile + `"`}, true},
		{"mutual", true, false, []string{`ca_file = "` + pk.caFile + `"`, `cert_file = "` + pk.clientCert + `"`, `key_file = "` + pk.clientKey + `"`}, true},
		{"mutual tls 1.2", true, true, []string{`ca_file = "` + pk.caFile + `"`, `cert_file = "` + pk.clientCert + `"`, `key_file = "` + pk.clientKey + `"`}, true},
		{"insecure skip verify", false, false, []string{`insecure_skip_verify = true`}, true},
		{"wrong ca", false, false, []string{`ca_file = "` + pk.otherCAFile + `"`}, false},
		{"wrong server name", false, false, []string{`ca_file = "` + pk.caFile + `"`, `server_name = "other.test"`}, false},
		{"system roots", false, false, []string{`enabled = true`}, false},
		// The server rejects the client after the client's TLS 1.3
		// handshake has ended: nothing may be reported delivered.
		{"mutual without client certificate", true, false, []string{`ca_file = "` + pk.caFile + `"`}, false},
		{"mutual with a certificate of another ca", true, false, []string{`ca_file = "` + pk.caFile + `"`, `cert_file = "` + pk.otherClientCert + `"`, `key_file = "` + pk.otherK + `"`}, false},
		{"mutual tls 1.2 without client certificate", true, true, []string{`ca_file = "` + pk.caFile + `"`}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sc := pk.serverTLS(tc.clientAuth)
			if tc.tls12 {
				sc.MaxVersion = 0x0303
			}
			srv := newFrameServer(t, "", sc, nil)
			p := pipelinetest.Run(t, tcpConfig(srv.addr(), append([]string{"[fwd.tls]"}, tc.keys...)...))
			m := p.Metrics("fwd")
			msgs := testMessages(10, tc.name)
			deliver(t, p, msgs)
			if tc.ok {
				checkFrames(t, srv.wait(t, len(msgs)), msgs)
				if tc.clientAuth {
					srv.mu.Lock()
					peer := srv.conns[0].peer
					srv.mu.Unlock()
					if len(peer) == 0 || peer[0].Subject.CommonName != "client" {
						t.Errorf("the server saw client certificates %v", peer)
					}
				}
				return
			}
			// Failing: retried (Errors counted), never reported delivered.
			pipelinetest.Eventually(t, func() bool { return m.Errors.Load() >= 3 && srv.connCount() >= 3 }, "three failed attempts")
			shutdown(p)
			if got := srv.received(); len(got) != 0 {
				t.Errorf("the server received %d frames", len(got))
			}
			if out := m.Out.Load(); out != 0 {
				t.Errorf("Out = %d: messages were reported delivered", out)
			}
		})
	}
}

func TestTCPPeerDownAtStart(t *testing.T) {
	addr := freeAddr(t)
	p := pipelinetest.Run(t, tcpConfig(addr))
	m := p.Metrics("fwd")
	msgs := testMessages(50, "early")
	deliver(t, p, msgs[:25])
	pipelinetest.Eventually(t, func() bool { return m.Errors.Load() >= 1 }, "a failed attempt")
	// Attempts back off: retry_min 20ms with jitter (±50%) means at least
	// 10ms between them, so 4 more take at least 40ms; a tight loop would
	// make thousands.
	e0, t0 := m.Errors.Load(), time.Now()
	pipelinetest.Eventually(t, func() bool { return m.Errors.Load() >= e0+4 }, "four more failed attempts")
	if d := time.Since(t0); d < 40*time.Millisecond {
		t.Errorf("4 attempts in %v: no backoff", d)
	}
	deliver(t, p, msgs[25:])
	if out := m.Out.Load(); out != 0 {
		t.Fatalf("Out = %d with the peer down", out)
	}
	srv := newFrameServer(t, addr, nil, nil)
	checkFrames(t, srv.wait(t, len(msgs)), msgs)
	if n := srv.connCount(); n != 1 {
		t.Errorf("%d connections, want 1", n)
	}
}

// TestTCPPeerClosesIdle closes the connection from the server's side
// between batches, three times: every later message must come on the next
// connection, none lost, none twice, in order.
func TestTCPPeerClosesIdle(t *testing.T) {
	for _, tc := range []struct {
		name string
		wait bool // wait until the output has noticed (its reader goroutine)
	}{
		{"noticed", true},
		// At once: the next batch is routed right after the close, before
		// the output's reader goroutine has necessarily run; on Linux the
		// socket state check catches it.
		{"at once", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if !tc.wait && runtime.GOOS != "linux" {
				t.Skip("the synchronous check of the socket state is Linux only")
			}
			srv := newFrameServer(t, "", nil, nil)
			p := pipelinetest.Run(t, tcpConfig(srv.addr()))
			m := p.Metrics("fwd")
			var all []*message.Message
			for round := range 4 {
				msgs := testMessages(100, fmt.Sprint(round))
				all = append(all, msgs...)
				deliver(t, p, msgs)
				frames := srv.wait(t, len(all))
				checkFrames(t, onConn(frames, round), msgs)
				if round == 3 {
					checkFrames(t, frames, all)
					break
				}
				srv.closeConn(t, round)
				if tc.wait {
					pipelinetest.Eventually(t, func() bool { return m.Errors.Load() >= uint64(round+1) }, "the output to notice the close")
				}
			}
			if n := srv.connCount(); n != 4 {
				t.Errorf("%d connections, want 4", n)
			}
			pipelinetest.Eventually(t, func() bool { return m.Out.Load() == 400 }, "Out to reach 400")
			if e := m.Errors.Load(); e != 3 {
				t.Errorf("Errors = %d, want 3 (one per close)", e)
			}
		})
	}
}

func TestTCPValidate(t *testing.T) {
	pk := newPKI(t)
	for _, tc := range []struct {
		name string
		cfg  string
		want string // in the error
	}{
		{"no address", "[fwd]\ntype = \"tcp_output\"\nmessage_matcher = \"TRUE\"\n", "address: the output needs an address"},
		{"no port", tcpConfig("localhost"), `"localhost" is not host:port`},
		{"no host", tcpConfig(":5565"), "has no host"},
		{"bad port", tcpConfig("localhost:http"), `port "http" is not a number`},
		{"port out of range", tcpConfig("localhost:70000"), `port "70000" is not a number 1..65535`},
		{"hmac without key", tcpConfig("h:1", "[fwd.hmac]", `signer = "edge"`), "hmac.key: signing needs a key"},
		{"hmac without signer", tcpConfig("h:1", "[fwd.hmac]", `key = "k"`), "hmac.signer: signing needs a signer name"},
		{"hmac bad hash", tcpConfig("h:1", "[fwd.hmac]", `signer = "e"`, `key = "k"`, `hash = "sha512"`), `hmac.hash: "sha512" is not md5, sha1 or sha256`},
		{"hmac long signer", tcpConfig("h:1", "[fwd.hmac]", `signer = "`+strings.Repeat("s", 201)+`"`, `key = "k"`), "at most 200 fit"},
		{"tls cert without key", tcpConfig("h:1", "[fwd.tls]", `cert_file = "`+pk.clientCert+`"`), "needs both cert_file and key_file"},
		{"tls missing ca", tcpConfig("h:1", "[fwd.tls]", `ca_file = "/nonexistent/ca.crt"`), "no such file"},
		{"tls bad version", tcpConfig("h:1", "[fwd.tls]", `enabled = true`, `min_version = "1.1"`), "min_version"},
		{"zero connect_timeout", tcpConfig("h:1", `connect_timeout = "0s"`), "connect_timeout: 0s is not a positive duration"},
		{"negative write_timeout", tcpConfig("h:1", `write_timeout = "-1s"`), "write_timeout: -1s is not a positive duration"},
		{"negative keepalive", tcpConfig("h:1", `keepalive = "-1s"`), "keepalive: -1s is negative"},
		{"tiny max_message_size", tcpConfig("h:1", `max_message_size = 10`), "max_message_size: 10 bytes is below 256"},
		{"encoder", tcpConfig("h:1", `encoder = "json"`), "takes no encoder"},
		{"unknown key", tcpConfig("h:1", `adress = "x"`), "unknown key"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := pipelinetest.Parse(t, tc.cfg)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got error %v, want one containing %q", err, tc.want)
			}
		})
	}
	// A valid configuration, every key set.
	cfg := tcpConfig("central.example.com:5565", `connect_timeout = "1s"`, `write_timeout = "2s"`, `keepalive = "0s"`,
		`max_message_size = "1MiB"`, "[fwd.tls]", `ca_file = "`+pk.caFile+`"`, `cert_file = "`+pk.clientCert+`"`,
		`key_file = "`+pk.clientKey+`"`, `server_name = "metlog.test"`, "[fwd.hmac]", `signer = "e"`, `key_version = 2`,
		`hash = "sha1"`, `key = "k"`)
	if _, err := pipelinetest.Parse(t, cfg); err != nil {
		t.Fatal(err)
	}
}

// TestTCPTooLarge: a message over max_message_size is dropped and counted,
// the rest of its batch delivered.
func TestTCPTooLarge(t *testing.T) {
	srv := newFrameServer(t, "", nil, nil)
	p := pipelinetest.Run(t, tcpConfig(srv.addr(), `max_message_size = "4KiB"`))
	msgs := testMessages(3, "big")
	big := msgs[1].Clone()
	big.Payload = strings.Repeat("x", 5000)
	deliver(t, p, []*message.Message{msgs[0], big, msgs[2]})
	checkFrames(t, srv.wait(t, 2), []*message.Message{msgs[0], msgs[2]})
	m := p.Metrics("fwd")
	pipelinetest.Eventually(t, func() bool { return m.Dropped(pipeline.DropTooLarge) == 1 }, "the drop to be counted")
}

func TestTCPStop(t *testing.T) {
	// Safe without Start, idempotent.
	out := forward.NewTCP()
	for range 2 {
		if err := out.Stop(context.Background()); err != nil {
			t.Fatal(err)
		}
	}

	srv := newFrameServer(t, "", nil, nil)
	before := runtime.NumGoroutine()
	out = forward.NewTCP()
	out.Address = srv.addr()
	if err := out.Validate(); err != nil {
		t.Fatal(err)
	}
	set := &pipeline.Settings{Name: "fwd", Metrics: &pipeline.Metrics{}, Global: pipeline.Global{MaxMessageSize: 64 << 10}}
	if err := out.Start(context.Background(), set); err != nil {
		t.Fatal(err)
	}
	msgs := testMessages(5, "stop")
	if err := out.Deliver(context.Background(), msgs); err != nil {
		t.Fatal(err)
	}
	srv.wait(t, 5)
	for range 2 {
		if err := out.Stop(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	// The client closed: the server sees the end of the stream.
	srv.waitFor(t, "the connection to end", func() bool { return srv.conns[0].ended })
	if err := out.Deliver(context.Background(), msgs); err == nil {
		t.Error("Deliver after Stop succeeded")
	}
	// The reader goroutine is gone (Stop waits for it); allow for the
	// server's own goroutine to finish.
	pipelinetest.Eventually(t, func() bool { return runtime.NumGoroutine() <= before }, "goroutines to return to their number before Start")
}

// TestTCPStalledPeer: a peer that accepts but never reads fails the batch
// after write_timeout, and shutdown (the context) interrupts the write at
// once rather than waiting for it.
func TestTCPStalledPeer(t *testing.T) {
	if testing.Short() {
		t.Skip("writes 16 MB")
	}
	batch := bigMessages(500, 32<<10) // more than the socket buffers hold
	for _, tc := range []struct {
		name         string
		writeTimeout time.Duration
		cancel       bool
	}{
		{"write_timeout", 300 * time.Millisecond, false},
		{"shutdown", time.Minute, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			accepted := make(chan struct{}, 1)
			out := forward.NewTCP()
			out.Address = newStalledServer(t, accepted)
			out.WriteTimeout = tc.writeTimeout
			set := &pipeline.Settings{Name: "fwd", Metrics: &pipeline.Metrics{}, Global: pipeline.Global{MaxMessageSize: 64 << 10}}
			if err := out.Start(context.Background(), set); err != nil {
				t.Fatal(err)
			}
			defer out.Stop(context.Background())
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			done := make(chan error, 1)
			go func() { done <- out.Deliver(ctx, batch) }()
			<-accepted
			var cancelled time.Time
			if tc.cancel {
				cancelled = time.Now()
				cancel()
			}
			select {
			case err := <-done:
				if err == nil {
					t.Fatal("Deliver to a peer that does not read succeeded")
				}
				if tc.cancel && time.Since(cancelled) > 2*time.Second {
					t.Errorf("Deliver returned %v after the context ended", time.Since(cancelled))
				}
				t.Log(err)
			case <-time.After(10 * time.Second):
				t.Fatal("Deliver is still blocked after 10s")
			}
		})
	}
}

// bigMessages returns n messages with payloads of size bytes.
func bigMessages(n, size int) []*message.Message {
	msgs := testMessages(n, "big")
	pad := strings.Repeat("p", size)
	for _, m := range msgs {
		m.Payload += pad
	}
	return msgs
}

func TestSampleConfig(t *testing.T) {
	b, err := os.ReadFile("sample.toml")
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := pipelinetest.Parse(t, string(b))
	if err != nil {
		t.Fatal(err)
	}
	types := map[string]string{}
	for _, s := range cfg.Sections {
		types[s.Name] = s.Type
	}
	if types["central"] != "tcp_output" || types["stats_udp"] != "udp_output" {
		t.Fatalf("sample sections: %v", types)
	}
	// It starts whether or not a peer listens at its addresses.
	p := pipelinetest.Run(t, string(b))
	shutdown(p)
}
