package test

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/metlog/metlog/message"
)

const forwardKey = "edge-to-central secret, 1st version"

// An edge metlogd (UDP and TCP in) forwards everything over mutual TLS,
// each frame signed with HMAC-SHA256, to a central metlogd that requires
// both. What the edge writes locally and what the central router writes
// are the same bytes, and they are the messages the clients sent (uuid and
// timestamp included). Frames the central router must refuse (unsigned,
// signed with a wrong key, plaintext, no client certificate) are counted
// and do not stop the next good message.
func TestChainEdgeToCentral(t *testing.T) {
	t.Parallel()
	certs := makePKI(t, t.TempDir(), "")
	env := []string{"METLOG_FORWARD_KEY=" + forwardKey}

	central := startDaemon(t, globals()+fmt.Sprintf(`
[from_edges]
type = "tcp_input"
address = "127.0.0.1:0"
require_signed = true

[from_edges.tls]
cert_file = %q
key_file = %q
ca_file = %q
client_auth = "require"

[from_edges.signers]
edge_1 = "${METLOG_FORWARD_KEY}"

[all]
type = "file_output"
message_matcher = "TRUE"
path = "@DIR@/data/central.jsonl"
when_full = "block"
`, certs.serverCert, certs.serverKey, certs.ca), env...)
	centralAddr := central.addr("from_edges")

	edge := startDaemon(t, globals()+fmt.Sprintf(`
[udp]
type = "udp_input"
address = "127.0.0.1:0"
readers = 1

[tcp]
type = "tcp_input"
address = "127.0.0.1:0"
format = "auto"

[central]
type = "tcp_output"
message_matcher = "TRUE"
address = %q
when_full = "block"
retry_max = "1s"

[central.tls]
ca_file = %q
cert_file = %q
key_file = %q

[central.hmac]
signer = "edge"
key_version = 1
hash = "sha256"
key = "${METLOG_FORWARD_KEY}"

[local]
type = "file_output"
message_matcher = "TRUE"
path = "@DIR@/data/edge.jsonl"
when_full = "block"
`, centralAddr, certs.ca, certs.clientCert, certs.clientKey), env...)
	edgeFile, centralFile := edge.path("data", "edge.jsonl"), central.path("data", "central.jsonl")

	// Every message type, from clients over UDP and TCP, framed and JSON,
	// and from `metlog send`.
	type sender struct{ logger, url, encoder string }
	senders := []sender{
		{"edge-udp", "udp://" + edge.addr("udp"), "protobuf"},
		{"edge-tcp", "tcp://" + edge.addr("tcp"), "protobuf"},
		{"edge-tcp-json", "tcp://" + edge.addr("tcp"), "json"},
	}
	var want []*message.Message
	total := 2 // the two `metlog send`s
	for _, s := range senders {
		c, rec := newClient(t, s.url, s.encoder, s.logger)
		emitAll(t, c, s.logger)
		flushClose(t, c, len(rec.messages()))
		total += len(rec.messages())
		if s.encoder == "protobuf" {
			want = append(want, rec.messages()...)
		}
	}
	mustMetlog(t, "send", "-to", "tcp://"+edge.addr("tcp"), "-logger", "edge-send", "-field", "n=1", "log", "from metlog send")
	mustMetlog(t, "send", "-to", "udp://"+edge.addr("udp"), "-logger", "edge-send", "incr", "sent")
	if n := len(waitMessages(t, total, edgeFile)); n != total {
		t.Fatalf("the edge wrote %d messages, %d were sent", n, total)
	}
	centralMsgs := waitMessages(t, total, centralFile)
	if len(centralMsgs) != total {
		t.Fatalf("central has %d messages, the edge routed %d", len(centralMsgs), total)
	}
	// Byte for byte, the same lines: the same messages, the same order.
	edgeLines, centralLines := jsonLines(t, edgeFile), jsonLines(t, centralFile)
	for i := range edgeLines {
		if !bytes.Equal(edgeLines[i], centralLines[i]) {
			t.Errorf("line %d differs\n  edge: %s\ncentral: %s", i+1, edgeLines[i], centralLines[i])
		}
	}
	// And they are what the clients sent (framed: uuid and time kept).
	byID := map[[16]byte]*message.Message{}
	for _, m := range centralMsgs {
		byID[m.UUID] = m
	}
	for _, w := range want {
		g := byID[w.UUID]
		if g == nil {
			t.Errorf("central lacks %s", canonical(w))
		} else if !sameMessage(w, g) {
			t.Errorf("central differs\nsent:    %s\ncentral: %s", canonical(w), canonical(g))
		}
	}
	if p := edge.plugin("central"); p.Out != uint64(total) || p.Errors != 0 || len(p.Dropped) != 0 {
		t.Errorf("edge [central] %+v, want out %d and no errors", p, total)
	}
	if p := central.plugin("from_edges"); p.In != uint64(total) || p.Errors != 0 || p.DecodeErrors != 0 || len(p.Dropped) != 0 {
		t.Errorf("central [from_edges] %+v, want in %d and no problems", p, total)
	}

	// What the central router refuses.
	cert, err := tls.LoadX509KeyPair(certs.clientCert, certs.clientKey)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	caPEM, _ := os.ReadFile(certs.ca)
	pool.AppendCertsFromPEM(caPEM)
	dialTLS := func(withCert bool) *tls.Conn {
		cfg := &tls.Config{RootCAs: pool, ServerName: "127.0.0.1"}
		if withCert {
			cfg.Certificates = []tls.Certificate{cert}
		}
		c, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", centralAddr, cfg)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	bad := &message.Message{UUID: message.NewUUID(), Timestamp: time.Now().UnixNano(), Type: "forged", Payload: "must not arrive"}
	wrongKey, _ := message.NewSigner("edge", 1, message.SHA256, []byte("not the key"))
	unknown, _ := message.NewSigner("intruder", 1, message.SHA256, []byte(forwardKey))
	conn := dialTLS(true)
	var frames []byte
	frames = message.AppendFrame(frames, bad, nil)      // unsigned, but required
	frames = message.AppendFrame(frames, bad, wrongKey) // HMAC mismatch
	frames = message.AppendFrame(frames, bad, unknown)  // a signer not configured
	if _, err := conn.Write(frames); err != nil {
		t.Fatal(err)
	}
	central.waitPlugin("from_edges", "3 unauthorized", func(p pipelineStatus) bool { return p.Dropped["unauthorized"] >= 3 })
	conn.Close()

	// Plaintext on the TLS port, and TLS without a client certificate:
	// failed handshakes, counted as errors.
	plain, err := net.Dial("tcp", centralAddr)
	if err != nil {
		t.Fatal(err)
	}
	plain.Write(message.AppendFrame(nil, bad, nil))
	central.waitPlugin("from_edges", "1 error (plaintext)", func(p pipelineStatus) bool { return p.Errors >= 1 })
	plain.Close()
	noCert := dialTLS(false)
	noCert.Write(message.AppendFrame(nil, bad, nil))
	central.waitPlugin("from_edges", "2 errors (no client certificate)", func(p pipelineStatus) bool { return p.Errors >= 2 })
	noCert.Close()

	// The next good message still goes through.
	mustMetlog(t, "send", "-to", "tcp://"+edge.addr("tcp"), "-logger", "edge-send", "log", "after the refusals")
	waitPayload(t, centralFile, "after the refusals")
	p := central.plugin("from_edges")
	if p.Dropped["unauthorized"] != 3 || p.Errors != 2 || p.DecodeErrors != 0 || p.In != uint64(total+1) {
		t.Errorf("central [from_edges] %+v; want unauthorized 3, errors 2, in %d", p, total+1)
	}
	for _, m := range readMessages(t, centralFile) {
		if m.Type == "forged" {
			t.Errorf("a refused frame arrived: %s", canonical(m))
		}
	}
	central.waitLog(1, "level=WARN", "HMAC verification", "plugin=from_edges")
	central.waitLog(1, "level=WARN", "TLS handshake failed", "plugin=from_edges")
	if n := len(central.logLines("HMAC verification")); n >= 3 {
		t.Errorf("3 refused frames logged %d times; refusals are rate-limited", n)
	}
	if strings.Contains(central.stderr.String(), forwardKey) || strings.Contains(edge.stderr.String(), forwardKey) {
		t.Error("the HMAC key is in the logs")
	}
}
