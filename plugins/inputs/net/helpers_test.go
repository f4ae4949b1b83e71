package netin

import (
	"bufio"
	"context"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/metlog/metlog/client"
	"github.com/metlog/metlog/message"
	"github.com/metlog/metlog/pipeline"
	"github.com/metlog/metlog/pipeline/pipelinetest"
)

// outSection is the capture output every test pipeline ends in. It blocks
// rather than drops, so that a test never loses a message to a full queue.
const outSection = `
[out]
type = "capture_output"
message_matcher = "TRUE"
when_full = "block"
`

// runInput starts a pipeline of the input section cfg (named [in]) and a
// capture output.
func runInput(t testing.TB, cfg string) (*pipeline.Pipeline, *pipelinetest.Capture) {
	t.Helper()
	p := pipelinetest.Run(t, cfg+outSection)
	return p, pipelinetest.Output(t, p, "out")
}

// addrOf returns the address input name listens on.
func addrOf(t testing.TB, p *pipeline.Pipeline, name string) string {
	t.Helper()
	in, ok := pipelinetest.Plugin(t, p, name).(interface{ Addr() net.Addr })
	if !ok {
		t.Fatalf("[%s] has no Addr method", name)
	}
	a := in.Addr()
	if a == nil {
		t.Fatalf("[%s] is not listening", name)
	}
	return a.String()
}

// socketPath returns a path for a unix socket in a new temporary
// directory short enough for sun_path.
func socketPath(t testing.TB) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "netin")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return filepath.Join(dir, "in.sock")
}

// counts are an input's rejection counters.
type counts struct {
	Decode, TooLarge, Unauthorized, Errors uint64
}

func countsOf(m *pipeline.Metrics) counts {
	return counts{
		Decode:       m.DecodeErrors.Load(),
		TooLarge:     m.Dropped(pipeline.DropTooLarge),
		Unauthorized: m.Dropped(pipeline.DropUnauthorized),
		Errors:       m.Errors.Load(),
	}
}

// checkCounts fails the test unless the counters of input name are want.
func checkCounts(t testing.TB, p *pipeline.Pipeline, name string, want counts) {
	t.Helper()
	if got := countsOf(p.Metrics(name)); got != want {
		t.Fatalf("counters of [%s]: got %+v, want %+v", name, got, want)
	}
}

// waitCounts waits until the counters of input name are want, for input
// whose counting races with what the test can observe.
func waitCounts(t testing.TB, p *pipeline.Pipeline, name string, want counts) {
	t.Helper()
	pipelinetest.Eventually(t, func() bool { return countsOf(p.Metrics(name)) == want },
		fmt.Sprintf("counters of [%s] to become %+v", name, want))
	checkCounts(t, p, name, want)
}

// testMessage returns a message using every header field and each value
// type, with a timestamp in whole microseconds (what metlog JSON keeps).
func testMessage(i int) *message.Message {
	m := &message.Message{
		UUID:       message.NewUUID(),
		Timestamp:  1700000000123456000 + int64(i)*1000,
		Type:       "netin.test",
		Logger:     "netin",
		Severity:   4,
		Payload:    fmt.Sprintf("payload %d", i),
		EnvVersion: "0.8",
		Pid:        4242,
		Hostname:   "sender",
	}
	m.AddString("s", "välue")
	m.AddInt("n", int64(i))
	m.AddDouble("d", 1.5)
	m.AddBool("b", true)
	return m
}

// sentinel is a good message sent after bad input: once it arrives, the
// input has counted what came before it on the same connection.
func sentinel() []byte {
	return message.AppendFrame(nil, &message.Message{UUID: message.NewUUID(), Type: "sentinel", Payload: "sentinel"}, nil)
}

func sentinelLine() []byte { return []byte(`{"type":"sentinel","payload":"sentinel"}` + "\n") }

// sameMessage reports whether got is want, with the UUID and timestamp the
// router fills in when want has none.
func sameMessage(got, want *message.Message) bool {
	w := *want
	if w.UUID == ([16]byte{}) {
		w.UUID = got.UUID
	}
	if w.Timestamp == 0 {
		w.Timestamp = got.Timestamp
	}
	return got.Equal(&w)
}

// checkMessages matches got against want by payload.
func checkMessages(t testing.TB, got, want []*message.Message) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("got %d messages, want %d", len(got), len(want))
	}
	byPayload := map[string]*message.Message{}
	for _, w := range want {
		byPayload[w.Payload] = w
	}
	for _, g := range got {
		w, ok := byPayload[g.Payload]
		if !ok {
			t.Fatalf("unexpected message %+v", g)
		}
		if !sameMessage(g, w) {
			t.Fatalf("message %q:\n got %+v\nwant %+v", g.Payload, g, w)
		}
		delete(byPayload, g.Payload)
	}
}

// dial connects to a stream input.
func dial(t testing.TB, network, addr string) net.Conn {
	t.Helper()
	c, err := net.DialTimeout(network, addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func write(t testing.TB, c net.Conn, bs ...[]byte) {
	t.Helper()
	for _, b := range bs {
		if _, err := c.Write(b); err != nil {
			t.Fatal(err)
		}
	}
}

// newClient returns a metlog client sending to url with encoder enc.
func newClient(t testing.TB, url, enc string, hmac client.HMACConfig) *client.Client {
	t.Helper()
	c, err := client.New(client.Config{Sender: client.SenderConfig{URL: url, Encoder: enc, HMAC: hmac}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func flush(t testing.TB, c *client.Client) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := c.Flush(ctx); err != nil {
		t.Fatal(err)
	}
}

// vectors reads the frames captured from Heka's Go client and heka-py.
func vectors(t testing.TB, name string) [][]byte {
	t.Helper()
	f, err := os.Open(filepath.Join("..", "..", "..", "message", "testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out [][]byte
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" {
			continue
		}
		b, err := hex.DecodeString(line)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, b)
	}
	return out
}

// decodeFrame decodes a whole frame, for expected messages.
func decodeFrame(t testing.TB, fr []byte) *message.Message {
	t.Helper()
	_, msg, _, err := message.ParseFrame(fr, 0)
	if err != nil {
		t.Fatal(err)
	}
	m := new(message.Message)
	if err := m.Unmarshal(msg); err != nil {
		t.Fatal(err)
	}
	return m
}

func discardLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }

// chanDeliverer is a Deliverer that passes payloads to a channel, for
// running an input without a pipeline.
type chanDeliverer struct{ ch chan string }

func (d *chanDeliverer) Deliver(ctx context.Context, m *message.Message) error {
	select {
	case d.ch <- m.Payload:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
