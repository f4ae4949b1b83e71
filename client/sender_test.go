package client

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/metlog/metlog/message"
)

// The tests in this file send through real sockets, files and pipes.

var encoders = []string{"protobuf", "json"}

// testMessage returns the i-th message the tests send: every header field
// set, so the client fills in nothing, and one field of each common type.
func testMessage(i int) *message.Message {
	m := &message.Message{
		UUID:       [16]byte{0xa1, 0xb2, 15: byte(i)},
		Timestamp:  1_700_000_000_123_456_000 + int64(i)*1000, // whole microseconds, as JSON keeps
		Type:       "test",
		Logger:     "sendertest",
		Severity:   message.Warning,
		Payload:    "message " + strconv.Itoa(i),
		EnvVersion: "0.8",
		Pid:        4242,
		Hostname:   "host.example",
	}
	m.AddInt("seq", int64(i))
	m.AddString("user", "ana")
	m.AddDouble("score", 0.25)
	m.AddBool("ok", true)
	return m
}

// wantMessage is testMessage(i) as it decodes after encoding with encoder.
func wantMessage(i int, encoder string) *message.Message {
	m := testMessage(i)
	if encoder == "json" {
		m.UUID = [16]byte{} // metlog JSON has no uuid
	}
	return m
}

func sendRange(c *Client, from, to int) {
	for i := from; i < to; i++ {
		c.Send(testMessage(i))
	}
}

// checkMessages asserts that got is exactly messages from..to-1.
func checkMessages(t *testing.T, got []*message.Message, encoder string, from, to int) {
	t.Helper()
	if len(got) != to-from {
		t.Errorf("got %d messages, want %d", len(got), to-from)
	}
	for k, m := range got {
		if want := wantMessage(from+k, encoder); !m.Equal(want) {
			t.Fatalf("message %d:\n got %s\nwant %s", k, describe(m), describe(want))
		}
	}
}

// describe formats m for a failure message, with a long payload cut short.
func describe(m *message.Message) string {
	c := *m
	if len(c.Payload) > 40 {
		c.Payload = c.Payload[:40] + "..."
	}
	return fmt.Sprintf("%+v", c)
}

func newTestClient(t *testing.T, cfg Config) *Client {
	t.Helper()
	c, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// waitFor polls cond until it holds, failing the test after a deadline.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

func flush(t *testing.T, c *Client) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := c.Flush(ctx); err != nil {
		t.Fatalf("Flush: %v", err)
	}
}

func closeClient(t *testing.T, c *Client) {
	t.Helper()
	if err := c.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
}

func checkStats(t *testing.T, c *Client, want Stats) {
	t.Helper()
	if got := c.Stats(); got != want {
		t.Errorf("Stats() = %+v, want %+v", got, want)
	}
}

func listen(t *testing.T, network, addr string) net.Listener {
	t.Helper()
	ln, err := net.Listen(network, addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ln.Close() })
	return ln
}

// accept returns the next connection to ln, which the test closes.
func accept(t *testing.T, ln net.Listener) net.Conn {
	t.Helper()
	_ = ln.(interface{ SetDeadline(time.Time) error }).SetDeadline(time.Now().Add(10 * time.Second))
	conn, err := ln.Accept()
	if err != nil {
		t.Fatalf("accept: %v", err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	_ = conn.SetReadDeadline(time.Now().Add(20 * time.Second))
	return conn
}

func listenPacket(t *testing.T, network, addr string) net.PacketConn {
	t.Helper()
	pc, err := net.ListenPacket(network, addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = pc.Close() })
	_ = pc.SetReadDeadline(time.Now().Add(20 * time.Second))
	return pc
}

// streamReader decodes the messages a client writes on a stream: Heka
// frames, or metlog JSON lines.
type streamReader struct {
	t       *testing.T
	encoder string
	frames  *message.FrameScanner
	lines   *bufio.Reader
}

func newStreamReader(t *testing.T, r io.Reader, encoder string) *streamReader {
	sr := &streamReader{t: t, encoder: encoder}
	if encoder == "json" {
		sr.lines = bufio.NewReader(r)
	} else {
		sr.frames = message.NewFrameScanner(r, 0)
		sr.frames.OnDiscard = func(n int, reason error) { t.Errorf("stream has %d bytes that are not frames: %v", n, reason) }
	}
	return sr
}

// next returns the next message, or nil at the end of the stream.
func (sr *streamReader) next() *message.Message {
	sr.t.Helper()
	m := new(message.Message)
	if sr.lines != nil {
		line, err := sr.lines.ReadBytes('\n')
		if err == io.EOF && len(line) == 0 {
			return nil
		}
		if err != nil {
			sr.t.Fatalf("reading a JSON line: %v (read %q)", err, line)
		}
		if err := message.DecodeMetlogJSON(line[:len(line)-1], m); err != nil {
			sr.t.Fatalf("decoding %q: %v", line, err)
		}
		return m
	}
	if !sr.frames.Next() {
		if err := sr.frames.Err(); err != nil {
			sr.t.Fatalf("reading frames: %v", err)
		}
		return nil
	}
	if err := m.Unmarshal(sr.frames.Message()); err != nil {
		sr.t.Fatalf("decoding a frame: %v", err)
	}
	return m
}

// read returns the next n messages, or all that remain when n < 0.
func (sr *streamReader) read(n int) []*message.Message {
	sr.t.Helper()
	var msgs []*message.Message
	for n < 0 || len(msgs) < n {
		m := sr.next()
		if m == nil {
			if n >= 0 {
				sr.t.Fatalf("stream ended after %d of %d messages", len(msgs), n)
			}
			break
		}
		msgs = append(msgs, m)
	}
	return msgs
}

func decodeAll(t *testing.T, data []byte, encoder string) []*message.Message {
	t.Helper()
	if encoder == "json" && len(data) > 0 && data[len(data)-1] != '\n' {
		t.Errorf("JSON output does not end with a newline: %q", data[max(0, len(data)-20):])
	}
	return newStreamReader(t, bytes.NewReader(data), encoder).read(-1)
}

// decodeDatagram decodes a datagram holding exactly one message.
func decodeDatagram(t *testing.T, b []byte, encoder string) *message.Message {
	t.Helper()
	m := new(message.Message)
	if encoder == "json" {
		if b[len(b)-1] != '}' {
			t.Fatalf("JSON datagram does not end with '}': %q", b)
		}
		if err := message.DecodeMetlogJSON(b, m); err != nil {
			t.Fatalf("decoding %q: %v", b, err)
		}
		return m
	}
	_, msg, n, err := message.ParseFrame(b, 0)
	if err != nil {
		t.Fatalf("parsing a frame: %v", err)
	}
	if n != len(b) {
		t.Fatalf("datagram of %d bytes holds a frame of %d", len(b), n)
	}
	if err := m.Unmarshal(msg); err != nil {
		t.Fatalf("decoding a frame: %v", err)
	}
	return m
}

// receiveDatagrams starts reading n datagrams from pc. Reading must not
// wait for the sender to flush: the kernel queues only a few unix
// datagrams (net.unix.max_dgram_qlen) before the sender blocks.
func receiveDatagrams(pc net.PacketConn, n int) <-chan [][]byte {
	ch := make(chan [][]byte, 1)
	go func() {
		var got [][]byte
		buf := make([]byte, 70000)
		for len(got) < n {
			k, _, err := pc.ReadFrom(buf)
			if err != nil {
				break
			}
			got = append(got, bytes.Clone(buf[:k]))
		}
		ch <- got
	}()
	return ch
}

// datagrams decodes what receiveDatagrams read, after the sender has
// flushed, and checks that no more datagrams follow.
func datagrams(t *testing.T, ch <-chan [][]byte, pc net.PacketConn, encoder string) []*message.Message {
	t.Helper()
	var msgs []*message.Message
	for _, b := range <-ch {
		msgs = append(msgs, decodeDatagram(t, b, encoder))
	}
	// The sender has flushed, and a local datagram is queued for its reader
	// before the send returns, so an extra one would be waiting already.
	_ = pc.SetReadDeadline(time.Now().Add(20 * time.Millisecond))
	buf := make([]byte, 70000)
	if k, _, err := pc.ReadFrom(buf); err == nil {
		t.Errorf("an extra datagram arrived: %q", buf[:k])
	}
	return msgs
}

// errLog records the errors a client reports.
type errLog struct {
	mu   sync.Mutex
	errs []error
}

func (l *errLog) add(err error) {
	l.mu.Lock()
	l.errs = append(l.errs, err)
	l.mu.Unlock()
}

func (l *errLog) count(match func(error) bool) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, err := range l.errs {
		if match(err) {
			n++
		}
	}
	return n
}

func (l *errLog) len() int { return l.count(func(error) bool { return true }) }

func (l *errLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return fmt.Sprint(l.errs)
}

func isDialError(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "dial"
}

func isErr(target error) func(error) bool {
	return func(err error) bool { return errors.Is(err, target) }
}

func TestSenderUDPFanOut(t *testing.T) {
	t.Parallel()
	for _, enc := range encoders {
		t.Run(enc, func(t *testing.T) {
			t.Parallel()
			var pcs []net.PacketConn
			var addrs []string
			for range 3 {
				pc := listenPacket(t, "udp", "127.0.0.1:0")
				pcs = append(pcs, pc)
				addrs = append(addrs, pc.LocalAddr().String())
			}
			var received []<-chan [][]byte
			for _, pc := range pcs {
				received = append(received, receiveDatagrams(pc, 50))
			}
			c := newTestClient(t, Config{Sender: SenderConfig{URL: "udp://" + strings.Join(addrs, ","), Encoder: enc}})
			sendRange(c, 0, 50)
			flush(t, c)
			for i, pc := range pcs {
				t.Logf("destination %d", i)
				checkMessages(t, datagrams(t, received[i], pc, enc), enc, 0, 50)
			}
			checkStats(t, c, Stats{Sent: 50})
			closeClient(t, c)
		})
	}
}

func TestSenderUDPMetlogPyVector(t *testing.T) {
	t.Parallel()
	vectors, err := os.ReadFile("../message/testdata/metlogpy-udp.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	first, _, _ := bytes.Cut(vectors, []byte("\n"))
	pc := listenPacket(t, "udp", "127.0.0.1:0")
	c := newTestClient(t, Config{Logger: "acceptance", Sender: SenderConfig{URL: "udp://" + pc.LocalAddr().String(), Encoder: "json"}})
	c.Incr("req.count")
	buf := make([]byte, 2048)
	n, _, err := pc.ReadFrom(buf)
	if err != nil {
		t.Fatal(err)
	}
	// Only the values of these three differ between the two hosts.
	values := regexp.MustCompile(`("timestamp": "[^"]*"|"metlog_pid": [0-9]+|"metlog_hostname": "[^"]*")`)
	normalize := func(b []byte) string {
		return values.ReplaceAllStringFunc(string(b), func(s string) string {
			k, _, _ := strings.Cut(s, ":")
			return k + ": X"
		})
	}
	got, want := normalize(buf[:n]), normalize(first)
	if got != want {
		t.Errorf("datagram differs from metlog-py's:\n got %s\nwant %s", got, want)
	}
	if strings.Count(got, ": X") != 3 {
		t.Errorf("normalized %s: want the three values replaced", got)
	}
}

func TestSenderStreams(t *testing.T) {
	t.Parallel()
	for _, network := range []string{"tcp", "unix"} {
		for _, enc := range encoders {
			t.Run(network+"/"+enc, func(t *testing.T) {
				t.Parallel()
				var ln net.Listener
				var url string
				if network == "tcp" {
					ln = listen(t, "tcp", "127.0.0.1:0")
					url = "tcp://" + ln.Addr().String()
				} else {
					path := filepath.Join(t.TempDir(), "s")
					ln = listen(t, "unix", path)
					url = "unix://" + path
				}
				c := newTestClient(t, Config{Sender: SenderConfig{URL: url, Encoder: enc}})
				sendRange(c, 0, 100)
				conn := accept(t, ln)
				flush(t, c)
				checkStats(t, c, Stats{Sent: 100})
				closeClient(t, c)
				sr := newStreamReader(t, conn, enc)
				checkMessages(t, sr.read(-1), enc, 0, 100) // all, then EOF at Close
			})
		}
	}
}

func TestSenderUnixgram(t *testing.T) {
	t.Parallel()
	for _, enc := range encoders {
		t.Run(enc, func(t *testing.T) {
			t.Parallel()
			path := filepath.Join(t.TempDir(), "g")
			pc := listenPacket(t, "unixgram", path)
			c := newTestClient(t, Config{Sender: SenderConfig{URL: "unixgram://" + path, Encoder: enc}})
			if !c.sender.(*asyncSender).Datagram() {
				t.Error("unixgram sender is not a datagram sender")
			}
			received := receiveDatagrams(pc, 50)
			sendRange(c, 0, 50)
			flush(t, c)
			checkMessages(t, datagrams(t, received, pc, enc), enc, 0, 50)
			checkStats(t, c, Stats{Sent: 50})
			closeClient(t, c)
		})
	}
}

// A unix datagram socket whose reader goes away stays dead; the sender dials
// again, and the messages sent while the reader was away wait in the queue.
func TestSenderUnixgramReaderRestart(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "g")
	pc := listenPacket(t, "unixgram", path)
	var errs errLog
	c := newTestClient(t, Config{
		Sender:  SenderConfig{URL: "unixgram://" + path, ReconnectMin: 5 * time.Millisecond},
		OnError: errs.add,
	})
	received := receiveDatagrams(pc, 5)
	sendRange(c, 0, 5)
	flush(t, c)
	checkMessages(t, datagrams(t, received, pc, "protobuf"), "protobuf", 0, 5)

	// The reader goes away: the next datagram is refused and lost, and the
	// sender dials again for the ones after it.
	_ = pc.Close()
	_ = os.Remove(path)
	c.Send(testMessage(5))
	waitFor(t, "the refused datagram to be dropped", func() bool { return c.Stats().Dropped == 1 })
	sendRange(c, 6, 10)
	waitFor(t, "a failed redial", func() bool { return errs.count(isDialError) >= 1 })

	// It comes back.
	pc = listenPacket(t, "unixgram", path)
	received = receiveDatagrams(pc, 4)
	flush(t, c)
	checkMessages(t, datagrams(t, received, pc, "protobuf"), "protobuf", 6, 10)
	st := c.Stats()
	if st.Sent != 9 || st.Dropped != 1 || st.Failed != 0 {
		t.Errorf("Stats() = %+v, want 9 sent and 1 dropped", st)
	}
	if int(st.Errors) != errs.len() {
		t.Errorf("Stats().Errors = %d, but %d errors were reported", st.Errors, errs.len())
	}
}

func TestSenderFile(t *testing.T) {
	t.Parallel()
	for _, enc := range encoders {
		t.Run(enc, func(t *testing.T) {
			t.Parallel()
			path := filepath.Join(t.TempDir(), "out.log")
			url := "file://" + path
			for _, r := range [][2]int{{0, 10}, {10, 25}} { // a second client appends
				c := newTestClient(t, Config{Sender: SenderConfig{URL: url, Encoder: enc}})
				sendRange(c, r[0], r[1])
				flush(t, c)
				checkStats(t, c, Stats{Sent: uint64(r[1] - r[0])})
				closeClient(t, c)
			}
			data, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			checkMessages(t, decodeAll(t, data, enc), enc, 0, 25)
			if enc == "json" && bytes.Count(data, []byte("\n")) != 25 {
				t.Errorf("want 25 lines, got %q", data)
			}
		})
	}
}

func TestSenderFileRelative(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	if err := os.Mkdir("logs", 0o755); err != nil {
		t.Fatal(err)
	}
	c := newTestClient(t, Config{Sender: SenderConfig{URL: "file:logs/out.json", Encoder: "json"}})
	sendRange(c, 0, 3)
	closeClient(t, c)
	data, err := os.ReadFile(filepath.Join(dir, "logs", "out.json"))
	if err != nil {
		t.Fatal(err)
	}
	checkMessages(t, decodeAll(t, data, "json"), "json", 0, 3)
}

// A file the sender cannot open is retried with backoff, and the messages
// wait for it.
func TestSenderFileRetry(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "later")
	path := filepath.Join(dir, "out.log")
	var errs errLog
	c := newTestClient(t, Config{Sender: SenderConfig{URL: "file://" + path, ReconnectMin: 5 * time.Millisecond}, OnError: errs.add})
	sendRange(c, 0, 3)
	waitFor(t, "a failed open", func() bool { return errs.count(isErr(os.ErrNotExist)) >= 1 })
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	flush(t, c)
	closeClient(t, c)
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	checkMessages(t, decodeAll(t, data, "protobuf"), "protobuf", 0, 3)
}

const stdoutHelperEnv = "CLIENT_TEST_STDOUT_ENCODER"

// TestHelperStdout is run as a subprocess by TestSenderStdout: it writes
// messages to its standard output and exits.
func TestHelperStdout(t *testing.T) {
	enc := os.Getenv(stdoutHelperEnv)
	if enc == "" {
		t.Skip("run by TestSenderStdout")
	}
	c, err := New(Config{Sender: SenderConfig{URL: "stdout", Encoder: enc}})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	sendRange(c, 0, 20)
	if err := c.Close(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	os.Exit(0) // before the test framework writes PASS
}

func TestSenderStdout(t *testing.T) {
	t.Parallel()
	for _, enc := range encoders {
		t.Run(enc, func(t *testing.T) {
			t.Parallel()
			cmd := exec.Command(os.Args[0], "-test.run=^TestHelperStdout$")
			// Under -race a process sleeps a second at exit unless told not to.
			cmd.Env = append(os.Environ(), stdoutHelperEnv+"="+enc, "GORACE="+os.Getenv("GORACE")+" atexit_sleep_ms=0")
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			out, err := cmd.Output()
			if err != nil {
				t.Fatalf("helper: %v\n%s", err, stderr.Bytes())
			}
			checkMessages(t, decodeAll(t, out, enc), enc, 0, 20)
		})
	}
}

// The router closes the connection mid-stream and comes back on the same
// port: the client notices, redials with backoff, and loses nothing sent
// after the connection closed.
func TestSenderTCPReconnect(t *testing.T) {
	t.Parallel()
	ln := listen(t, "tcp", "127.0.0.1:0")
	addr := ln.Addr().String()
	var errs errLog
	const minWait = 20 * time.Millisecond
	c := newTestClient(t, Config{
		Sender:  SenderConfig{URL: "tcp://" + addr, ReconnectMin: minWait, ReconnectMax: 10 * time.Second},
		OnError: errs.add,
	})
	sendRange(c, 0, 50)
	conn := accept(t, ln)
	checkMessages(t, newStreamReader(t, conn, "protobuf").read(50), "protobuf", 0, 50)

	// The router goes away.
	_ = conn.Close()
	_ = ln.Close()
	waitFor(t, "the closed connection to be noticed", func() bool { return errs.count(isErr(errPeerClosed)) == 1 })
	down := time.Now()
	sendRange(c, 50, 100)
	waitFor(t, "three failed redials", func() bool { return errs.count(isDialError) >= 3 })
	if st := c.Stats(); st.Sent != 50 || st.Queued == 0 {
		t.Errorf("while the router is down: Stats() = %+v, want 50 sent and the rest queued", st)
	}

	// It comes back on the same port.
	ln = listen(t, "tcp", addr)
	conn = accept(t, ln)
	checkMessages(t, newStreamReader(t, conn, "protobuf").read(50), "protobuf", 50, 100)
	elapsed := time.Since(down)
	flush(t, c)

	st := c.Stats()
	if st.Sent != 100 || st.Dropped != 0 || st.Failed != 0 || st.Queued != 0 {
		t.Errorf("Stats() = %+v, want 100 sent and nothing lost", st)
	}
	if int(st.Errors) != errs.len() {
		t.Errorf("Stats().Errors = %d, but %d errors were reported", st.Errors, errs.len())
	}
	// The k-th wait between dials lasts at least minWait/2 * 1.5^k, so d
	// dials take at least minWait * (1.5^(d-1) - 1). Without backoff there
	// would be thousands.
	dials := errs.count(isDialError)
	if bound := 2 + int(math.Log(float64(elapsed)/float64(minWait)+1)/math.Log(1.5)); dials > bound {
		t.Errorf("%d failed dials in %v: more than %d, so they do not back off", dials, elapsed, bound)
	}
	if other := errs.len() - dials - 1; other != 0 {
		t.Errorf("%d unexpected errors: %v", other, &errs)
	}
}

// New succeeds while the router is down; messages wait in the queue until
// it comes up.
func TestSenderTCPRouterDownAtStart(t *testing.T) {
	t.Parallel()
	ln := listen(t, "tcp", "127.0.0.1:0")
	addr := ln.Addr().String()
	_ = ln.Close()
	var errs errLog
	c := newTestClient(t, Config{Sender: SenderConfig{URL: "tcp://" + addr, ReconnectMin: 5 * time.Millisecond}, OnError: errs.add})
	sendRange(c, 0, 10)
	waitFor(t, "a failed dial", func() bool { return c.Stats().Errors >= 1 })
	if errs.count(isDialError) == 0 {
		t.Errorf("errors %v: want a dial error", &errs)
	}
	ln = listen(t, "tcp", addr)
	conn := accept(t, ln)
	checkMessages(t, newStreamReader(t, conn, "protobuf").read(10), "protobuf", 0, 10)
	flush(t, c)
	if st := c.Stats(); st.Sent != 10 || st.Dropped+st.Failed != 0 {
		t.Errorf("Stats() = %+v, want 10 sent", st)
	}
}

// acceptNoRead accepts a connection that the test will not read for a
// while, with a small, fixed receive buffer.
func acceptNoRead(t *testing.T, ln net.Listener) net.Conn {
	t.Helper()
	conn := accept(t, ln)
	if err := conn.(*net.TCPConn).SetReadBuffer(64 << 10); err != nil {
		t.Fatal(err)
	}
	return conn
}

// kernelBuffering returns more payload bytes than the kernel can buffer on
// a loopback TCP connection whose reader, accepted by acceptNoRead, does
// not read: the largest send buffer, which the kernel charges for its
// overhead too, and a margin for the receive buffer.
func kernelBuffering(t *testing.T) int {
	b, err := os.ReadFile("/proc/sys/net/ipv4/tcp_wmem")
	fields := strings.Fields(string(b))
	if err != nil || len(fields) != 3 {
		t.Logf("tcp_wmem: %v; assuming 32 MiB", err)
		return 32 << 20
	}
	n, err := strconv.Atoi(fields[2])
	if err != nil {
		t.Fatal(err)
	}
	return n + 2<<20
}

func bigMessage(i, size int) *message.Message {
	m := testMessage(i)
	m.Payload = strings.Repeat("x", size)
	return m
}

// A router that accepts but never reads: the kernel buffers fill, then the
// queue, then sends are rejected and counted, at once and without the
// queue growing past its bound.
func TestSenderQueueBound(t *testing.T) {
	t.Parallel()
	ln := listen(t, "tcp", "127.0.0.1:0")
	const limit, size = 64 << 10, 4000
	var errs errLog
	c := newTestClient(t, Config{Sender: SenderConfig{URL: "tcp://" + ln.Addr().String(), QueueBytes: limit}, OnError: errs.add})
	c.Send(bigMessage(0, size))
	conn := acceptNoRead(t, ln) // not read yet
	accepted := []int{0}
	attempts, slowest := 1, time.Duration(0)
	run := 0 // consecutive rejections: the writer frees nothing, the kernel is full
	for i, most := 1, kernelBuffering(t)/size; run < 100; i++ {
		if len(accepted) > most {
			t.Fatalf("Stats() = %+v: the queue never stayed full", c.Stats())
		}
		before := c.Stats().Failed
		start := time.Now()
		c.Send(bigMessage(i, size))
		slowest = max(slowest, time.Since(start))
		attempts++
		st := c.Stats()
		if st.Failed == before {
			accepted = append(accepted, i)
			run = 0
		} else {
			run++
		}
		if st.Queued > limit {
			t.Fatalf("after %d sends %d bytes are queued, over the bound of %d", attempts, st.Queued, limit)
		}
	}
	st := c.Stats()
	if slowest > time.Second {
		t.Errorf("a send took %v: sends must not block", slowest)
	}
	if n := errs.count(isErr(ErrQueueFull)); n != int(st.Failed) {
		t.Errorf("%d ErrQueueFull reported, want %d", n, st.Failed)
	}
	t.Logf("%d sends, %d accepted, %+v", attempts, len(accepted), st)

	// The router reads at last: exactly the accepted messages arrive.
	got := make(chan []byte)
	go func() {
		b, _ := io.ReadAll(conn)
		got <- b
	}()
	closeClient(t, c)
	msgs := decodeAll(t, <-got, "protobuf")
	if len(msgs) != len(accepted) {
		t.Fatalf("%d messages arrived, %d were accepted", len(msgs), len(accepted))
	}
	for k, m := range msgs {
		if seq, _ := m.GetInt("seq"); seq != int64(accepted[k]) || len(m.Payload) != size {
			t.Fatalf("message %d has seq %d, want %d", k, seq, accepted[k])
		}
	}
	st = c.Stats()
	if int(st.Sent) != len(accepted) || st.Dropped != 0 || int(st.Sent+st.Failed) != attempts {
		t.Errorf("Stats() = %+v after %d sends, %d accepted", st, attempts, len(accepted))
	}
}

// In block mode a full queue makes the caller wait for room.
func TestSenderBlock(t *testing.T) {
	t.Parallel()
	ln := listen(t, "tcp", "127.0.0.1:0")
	const limit, size = 64 << 10, 16000
	c := newTestClient(t, Config{Sender: SenderConfig{
		URL: "tcp://" + ln.Addr().String(), QueueBytes: limit, Block: true, BlockTimeout: time.Minute,
	}})
	n := kernelBuffering(t) / size
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := range n {
			c.Send(bigMessage(i, size))
		}
	}()
	conn := acceptNoRead(t, ln) // not read yet
	waitFor(t, "the queue to fill", func() bool { return c.Stats().Queued+size > limit })
	// More than the kernel and the queue can hold is being sent, so the
	// sender must be waiting.
	select {
	case <-done:
		t.Fatal("every send returned before the router read anything")
	default:
	}
	msgs := newStreamReader(t, conn, "protobuf")
	for i := range n {
		m := msgs.next()
		if seq, _ := m.GetInt("seq"); m == nil || seq != int64(i) {
			t.Fatalf("message %d: got seq %d", i, seq)
		}
	}
	<-done
	flush(t, c)
	checkStats(t, c, Stats{Sent: uint64(n)})
}

// With a block timeout, a caller gives up after waiting that long, and the
// message is counted.
func TestSenderBlockTimeout(t *testing.T) {
	t.Parallel()
	ln := listen(t, "tcp", "127.0.0.1:0")
	const limit, size, timeout = 64 << 10, 16000, 30 * time.Millisecond
	var errs errLog
	c := newTestClient(t, Config{
		Sender:  SenderConfig{URL: "tcp://" + ln.Addr().String(), QueueBytes: limit, Block: true, BlockTimeout: timeout},
		OnError: errs.add,
	})
	c.Send(bigMessage(0, size))
	conn := acceptNoRead(t, ln) // not read yet
	attempts, waited, most := 1, time.Duration(0), kernelBuffering(t)/size
	for ; c.Stats().Failed == 0; attempts++ {
		if attempts > most {
			t.Fatalf("Stats() = %+v: no send gave up", c.Stats())
		}
		start := time.Now()
		c.Send(bigMessage(attempts, size))
		waited = time.Since(start)
	}
	if waited < timeout {
		t.Errorf("the send gave up after %v, before the block timeout of %v", waited, timeout)
	}
	if n := errs.count(isErr(ErrQueueFull)); n != 1 || errs.len() != 1 {
		t.Errorf("errors %v: want one ErrQueueFull", &errs)
	}
	// The router reads at last: every message but the last arrives.
	got := make(chan []byte)
	go func() {
		b, _ := io.ReadAll(conn)
		got <- b
	}()
	closeClient(t, c)
	msgs := decodeAll(t, <-got, "protobuf")
	if len(msgs) != attempts-1 {
		t.Fatalf("%d messages arrived, want %d", len(msgs), attempts-1)
	}
	for i, m := range msgs {
		if seq, _ := m.GetInt("seq"); seq != int64(i) {
			t.Fatalf("message %d has seq %d", i, seq)
		}
	}
	checkStats(t, c, Stats{Sent: uint64(attempts - 1), Failed: 1})
}

// Flush returns once everything is written, and gives up with its context.
func TestSenderFlush(t *testing.T) {
	t.Parallel()
	ln := listen(t, "tcp", "127.0.0.1:0")
	c := newTestClient(t, Config{Sender: SenderConfig{URL: "tcp://" + ln.Addr().String()}})
	sendRange(c, 0, 1000)
	conn := accept(t, ln)
	flush(t, c)
	checkStats(t, c, Stats{Sent: 1000})
	checkMessages(t, newStreamReader(t, conn, "protobuf").read(1000), "protobuf", 0, 1000)

	_ = ln.Close()
	_ = conn.Close()
	dead := newTestClient(t, Config{Sender: SenderConfig{URL: "tcp://" + ln.Addr().String(), CloseTimeout: time.Millisecond}})
	dead.Send(testMessage(0))
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if err := dead.Flush(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Flush to a dead router = %v, want %v", err, context.DeadlineExceeded)
	}
}

func TestSenderClose(t *testing.T) {
	t.Parallel()
	t.Run("dead router", func(t *testing.T) {
		t.Parallel()
		ln := listen(t, "tcp", "127.0.0.1:0")
		_ = ln.Close()
		c := newTestClient(t, Config{Sender: SenderConfig{URL: "tcp://" + ln.Addr().String(), CloseTimeout: 50 * time.Millisecond}})
		sendRange(c, 0, 5)
		start := time.Now()
		err := c.Close()
		if took := time.Since(start); took > 5*time.Second {
			t.Errorf("Close took %v with a close timeout of 50ms", took)
		}
		if want := "closing sender: 5 messages not delivered within 50ms"; err == nil || err.Error() != want {
			t.Errorf("Close() = %v, want %q", err, want)
		}
		checkStats(t, c, Stats{Dropped: 5, Errors: c.Stats().Errors})
		if err := c.Close(); err != nil {
			t.Errorf("second Close() = %v, want nil", err)
		}
		c.Incr("after.close")
		c.Send(testMessage(9))
		checkStats(t, c, Stats{Dropped: 5, Failed: 2, Errors: c.Stats().Errors})
		if err := c.sender.Send([]byte("x")); !errors.Is(err, ErrClosed) {
			t.Errorf("sender Send after Close = %v, want %v", err, ErrClosed)
		}
	})
	// Callers blocked on a full queue are released by Close.
	t.Run("blocked callers", func(t *testing.T) {
		t.Parallel()
		ln := listen(t, "tcp", "127.0.0.1:0")
		_ = ln.Close() // the router is down, so nothing drains
		const limit, size, n = 64 << 10, 16000, 10
		c := newTestClient(t, Config{Sender: SenderConfig{
			URL: "tcp://" + ln.Addr().String(), QueueBytes: limit, Block: true, CloseTimeout: 20 * time.Millisecond,
		}})
		done := make(chan struct{})
		go func() {
			defer close(done)
			for i := range n {
				c.Send(bigMessage(i, size))
			}
		}()
		const fit = limit / (size + 200) // messages that fit in the queue
		waitFor(t, "the queue to fill", func() bool { return c.Stats().Queued >= fit*size })
		err := c.Close()
		<-done
		// The queued messages are dropped, the blocked one and those after
		// it fail.
		checkStats(t, c, Stats{Dropped: fit, Failed: n - fit, Errors: c.Stats().Errors})
		if want := fmt.Sprintf("closing sender: %d messages not delivered within 20ms", fit); err == nil || err.Error() != want {
			t.Errorf("Close() = %v, want %q", err, want)
		}
	})
	// A router that accepts and never reads holds a write once the kernel
	// buffers are full; Close interrupts it rather than wait for the write
	// timeout.
	t.Run("router not reading", func(t *testing.T) {
		t.Parallel()
		ln := listen(t, "tcp", "127.0.0.1:0")
		const limit, size = 64 << 10, 16000
		c := newTestClient(t, Config{Sender: SenderConfig{
			URL: "tcp://" + ln.Addr().String(), QueueBytes: limit,
			WriteTimeout: time.Minute, CloseTimeout: 50 * time.Millisecond,
		}})
		// Nobody reads the connection. Send until the queue stays full and
		// does not drain: the kernel is full.
		c.Send(bigMessage(0, size))
		acceptNoRead(t, ln)
		attempts := 1
		for full := false; !full; {
			for run := 0; run < 100; attempts++ {
				if int(c.Stats().Sent) > kernelBuffering(t)/size {
					t.Fatalf("Stats() = %+v: the queue never stayed full", c.Stats())
				}
				before := c.Stats().Failed
				c.Send(bigMessage(attempts, size))
				if c.Stats().Failed == before {
					run = 0
				} else {
					run++
				}
			}
			ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
			full = c.Flush(ctx) != nil
			cancel()
		}
		start := time.Now()
		err := c.Close()
		if took := time.Since(start); took > 5*time.Second {
			t.Errorf("Close took %v with a close timeout of 50ms", took)
		}
		st := c.Stats()
		if st.Sent == 0 || st.Dropped == 0 || int(st.Sent+st.Dropped+st.Failed) != attempts || st.Queued != 0 {
			t.Errorf("Stats() = %+v after %d sends: want some sent and some dropped, and every send counted once", st, attempts)
		}
		if want := fmt.Sprintf("closing sender: %d messages not delivered within 50ms", st.Dropped); err == nil || err.Error() != want {
			t.Errorf("Close() = %v, want %q", err, want)
		}
	})
	t.Run("drains", func(t *testing.T) {
		t.Parallel()
		ln := listen(t, "tcp", "127.0.0.1:0")
		c := newTestClient(t, Config{Sender: SenderConfig{URL: "tcp://" + ln.Addr().String()}})
		sendRange(c, 0, 500)
		closeClient(t, c) // waits for the connection, then writes all
		conn := accept(t, ln)
		checkMessages(t, newStreamReader(t, conn, "protobuf").read(-1), "protobuf", 0, 500)
		checkStats(t, c, Stats{Sent: 500})
	})
}

// Every goroutine a client starts has exited when Close returns.
func TestSenderNoGoroutineLeak(t *testing.T) {
	baseline := runtime.NumGoroutine()
	dir := t.TempDir()
	tcp := listen(t, "tcp", "127.0.0.1:0")
	unix := listen(t, "unix", filepath.Join(dir, "s"))
	udp := listenPacket(t, "udp", "127.0.0.1:0")
	gram := listenPacket(t, "unixgram", filepath.Join(dir, "g"))
	closed := listen(t, "tcp", "127.0.0.1:0")
	_ = closed.Close()
	urls := []string{
		"tcp://" + tcp.Addr().String(), "unix://" + unix.Addr().String(), "udp://" + udp.LocalAddr().String(),
		"unixgram://" + gram.LocalAddr().String(), "file://" + filepath.Join(dir, "f"),
		"tcp://" + closed.Addr().String(),
	}
	var clients []*Client
	for _, u := range urls {
		c := newTestClient(t, Config{Sender: SenderConfig{URL: u, CloseTimeout: 20 * time.Millisecond, ReconnectMin: time.Millisecond}})
		sendRange(c, 0, 10)
		clients = append(clients, c)
	}
	accept(t, tcp)
	accept(t, unix)
	for i, c := range clients {
		err := c.Close()
		if (err != nil) != (i == len(clients)-1) {
			t.Errorf("%s: Close() = %v", urls[i], err)
		}
	}
	waitFor(t, "the client goroutines to exit", func() bool { return runtime.NumGoroutine() <= baseline })
}

// Eight goroutines share one client over TCP; every message arrives, each
// goroutine's in the order it sent them.
func TestSenderConcurrent(t *testing.T) {
	t.Parallel()
	ln := listen(t, "tcp", "127.0.0.1:0")
	c := newTestClient(t, Config{Logger: "conc", Sender: SenderConfig{URL: "tcp://" + ln.Addr().String(), Block: true}})
	const goroutines, each = 8, 10000
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Go(func() {
			name := "g" + strconv.Itoa(g)
			for i := range each {
				c.Incr(name, Count(int64(i)))
			}
		})
	}
	conn := accept(t, ln)
	next := make([]int, goroutines)
	sr := newStreamReader(t, conn, "protobuf")
	for k := range goroutines * each {
		m := sr.next()
		if m == nil {
			t.Fatalf("stream ended after %d messages", k)
		}
		name, _ := m.GetString("name")
		g, err := strconv.Atoi(strings.TrimPrefix(name, "g"))
		if err != nil || g < 0 || g >= goroutines || m.Type != "counter" || m.Logger != "conc" {
			t.Fatalf("unexpected message %+v", m)
		}
		if m.Payload != strconv.Itoa(next[g]) {
			t.Fatalf("goroutine %d: got count %s, want %d", g, m.Payload, next[g])
		}
		next[g]++
	}
	wg.Wait()
	flush(t, c)
	checkStats(t, c, Stats{Sent: goroutines * each})
}

// Frames signed by a client verify with the signer's key, and not with
// another.
func TestSenderHMAC(t *testing.T) {
	t.Parallel()
	for _, hash := range []string{"", "md5", "sha1", "sha256"} {
		t.Run("hash="+hash, func(t *testing.T) {
			t.Parallel()
			want := message.MD5
			if hash != "" {
				want, _ = message.ParseHashFunction(hash)
			}
			ln := listen(t, "tcp", "127.0.0.1:0")
			c := newTestClient(t, Config{Sender: SenderConfig{
				URL:  "tcp://" + ln.Addr().String(),
				HMAC: HMACConfig{Signer: "ops", KeyVersion: 3, Hash: hash, Key: "s3cret"},
			}})
			sendRange(c, 0, 10)
			closeClient(t, c)
			var good, wrongKey, wrongVersion message.KeyRing
			good.Add("ops", 3, []byte("s3cret"))
			wrongKey.Add("ops", 3, []byte("s3cres"))
			wrongVersion.Add("ops", 2, []byte("s3cret"))
			frames := message.NewFrameScanner(accept(t, ln), 0)
			n := 0
			for ; frames.Next(); n++ {
				h := frames.Header()
				if h.Signer != "ops" || h.KeyVersion != 3 || h.HashFunction != want {
					t.Fatalf("header %+v: want signer ops, key version 3, %v", h, want)
				}
				if err := good.Verify(h, frames.Message()); err != nil {
					t.Errorf("frame %d: %v", n, err)
				}
				if err := wrongKey.Verify(h, frames.Message()); !errors.Is(err, message.ErrBadSignature) {
					t.Errorf("frame %d with the wrong key: %v, want %v", n, err, message.ErrBadSignature)
				}
				if err := wrongVersion.Verify(h, frames.Message()); !errors.Is(err, message.ErrUnknownSigner) {
					t.Errorf("frame %d with the wrong key version: %v, want %v", n, err, message.ErrUnknownSigner)
				}
				var m message.Message
				if err := m.Unmarshal(frames.Message()); err != nil || !m.Equal(testMessage(n)) {
					t.Errorf("frame %d: %v, %+v", n, err, m)
				}
			}
			if n != 10 {
				t.Errorf("%d frames, want 10", n)
			}
		})
	}
}

// wholeRecords counts the records a partial write completed.
func TestWholeRecords(t *testing.T) {
	ends := []int{15, 20, 30}
	for _, tc := range []struct{ start, n, want int }{
		{10, 0, 0}, {10, 4, 0}, {10, 5, 1}, {10, 9, 1}, {10, 10, 2}, {10, 19, 2}, {10, 20, 3},
	} {
		if got := wholeRecords(tc.start, ends, tc.n); got != tc.want {
			t.Errorf("wholeRecords(%d, %v, %d) = %d, want %d", tc.start, ends, tc.n, got, tc.want)
		}
	}
}
