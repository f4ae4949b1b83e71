package main

import (
	"context"
	"fmt"
	"net"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/metlog/metlog/message"
	"github.com/metlog/metlog/pipeline/pipelinetest"
)

// testSink starts a sink on a free address and stops it when the test ends.
func testSink(t *testing.T, proto string, expect int64, idle, timeout time.Duration) *sink {
	t.Helper()
	addr := "127.0.0.1:0"
	if proto == "unix" {
		addr = filepath.Join(t.TempDir(), "sink")
	}
	s, err := startSink(sinkConfig{listen: addr, proto: proto, expect: expect, idle: idle, timeout: timeout, maxSize: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.stop)
	return s
}

// waitSink waits for the sink's result, failing after 20 seconds.
func waitSink(t *testing.T, s *sink) countResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	r := s.wait(ctx)
	if ctx.Err() != nil {
		t.Fatalf("the sink did not finish: %s", r.keyValues())
	}
	return r
}

func TestBenchStreamsLoseNothing(t *testing.T) {
	n := int64(30000)
	if testing.Short() {
		n = 3000
	}
	for _, proto := range []string{"tcp", "unix"} {
		for _, format := range []string{"framed", "metlog", "plain"} {
			t.Run(proto+"/"+format, func(t *testing.T) {
				s := testSink(t, proto, n, 0, 0)
				res, err := runLoad(t.Context(), loadConfig{addr: s.addr(), proto: proto, format: format, conns: 3,
					count: n, size: 200, unique: true})
				if err != nil {
					t.Fatal(err)
				}
				if res.sent != n || res.errors != 0 || res.firstErr != nil {
					t.Fatalf("sent %d, %d errors: %v", res.sent, res.errors, res.firstErr)
				}
				r := waitSink(t, s)
				if r.received != n || r.unique != n || r.dups != 0 || r.lost != 0 || r.noseq != 0 || r.garbage != 0 ||
					r.maxSeq != n || r.bytes != res.bytes {
					t.Fatalf("sink: %s; generator sent %d messages, %d bytes", r.keyValues(), res.sent, res.bytes)
				}
			})
		}
	}
}

func TestBenchUDP(t *testing.T) {
	const n = 2000
	for _, format := range []string{"framed", "metlog", "plain"} {
		t.Run(format, func(t *testing.T) {
			s := testSink(t, "udp", n, 0, 0)
			res, err := runLoad(t.Context(), loadConfig{addr: s.addr(), proto: "udp", format: format, conns: 2,
				count: n, rate: 20000, size: 300, unique: true})
			if err != nil || res.sent != n || res.errors != 0 {
				t.Fatalf("sent %d, %d errors: %v %v", res.sent, res.errors, err, res.firstErr)
			}
			// Datagrams may be lost on a busy machine; what arrives must
			// be counted exactly.
			ctx, cancel := context.WithCancel(t.Context())
			go func() {
				deadline := time.Now().Add(5 * time.Second)
				for s.t.received.Load() < n && time.Now().Before(deadline) {
					time.Sleep(10 * time.Millisecond)
				}
				cancel()
			}()
			r := s.wait(ctx)
			if r.received < n*9/10 || r.unique != r.received || r.dups != 0 || r.lost != n-r.received || r.garbage != 0 {
				t.Fatalf("sink: %s", r.keyValues())
			}
			if r.received == n && r.bytes != res.bytes {
				t.Fatalf("sink counted %d bytes, generator sent %d", r.bytes, res.bytes)
			}
		})
	}
}

func TestBenchRate(t *testing.T) {
	s := testSink(t, "tcp", 0, 0, 0)
	// For a duration: about rate × duration messages, never many more.
	res, err := runLoad(t.Context(), loadConfig{addr: s.addr(), proto: "tcp", format: "framed", conns: 2,
		rate: 2000, duration: 500 * time.Millisecond, size: 100})
	if err != nil {
		t.Fatal(err)
	}
	if res.sent > 1200+2 || res.sent < 500 {
		t.Fatalf("sent %d messages in 500ms at 2000/s, want about 1000", res.sent)
	}
	// For a count: it takes about count / rate, never much less.
	res, err = runLoad(t.Context(), loadConfig{addr: s.addr(), proto: "tcp", format: "plain", conns: 1,
		rate: 1000, count: 300, size: 256})
	if err != nil {
		t.Fatal(err)
	}
	if res.sent != 300 || res.elapsed < 250*time.Millisecond {
		t.Fatalf("sent %d messages in %v at 1000/s, want 300 in about 300ms", res.sent, res.elapsed)
	}
}

func TestBenchDuplicatesAndNoSeq(t *testing.T) {
	s := testSink(t, "tcp", 0, 0, 0)
	for range 2 { // the same numbers twice
		if _, err := runLoad(t.Context(), loadConfig{addr: s.addr(), proto: "tcp", format: "metlog", conns: 2, count: 500, size: 64, unique: true}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := runLoad(t.Context(), loadConfig{addr: s.addr(), proto: "tcp", format: "framed", conns: 1, count: 100, size: 64}); err != nil {
		t.Fatal(err)
	}
	pipelinetest.Eventually(t, func() bool { return s.t.received.Load() == 1100 }, "the sink did not get 1100 messages")
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	r := s.wait(ctx)
	if r.unique != 500 || r.dups != 500 || r.noseq != 100 || r.lost != 0 || r.maxSeq != 500 {
		t.Fatalf("sink: %s", r.keyValues())
	}
}

func TestBenchSinkStops(t *testing.T) {
	// -idle: after the last message.
	s := testSink(t, "tcp", 0, 200*time.Millisecond, 0)
	if _, err := runLoad(t.Context(), loadConfig{addr: s.addr(), proto: "tcp", format: "framed", conns: 1, count: 10, size: 64, unique: true}); err != nil {
		t.Fatal(err)
	}
	if r := waitSink(t, s); r.received != 10 {
		t.Fatalf("sink: %s", r.keyValues())
	}
	// -timeout: with nothing received.
	start := time.Now()
	s = testSink(t, "udp", 5, 0, 200*time.Millisecond)
	if r := waitSink(t, s); r.received != 0 || r.lost != 5 || time.Since(start) < 200*time.Millisecond {
		t.Fatalf("sink: %s after %v", r.keyValues(), time.Since(start))
	}
}

func TestSeqTracker(t *testing.T) {
	for _, tc := range []struct {
		rec  string
		seq  int64
		ok   bool
		kind string
	}{
		{"x seq=0000000042 y", 42, true, "seq"},
		{"seq=7", 7, true, "seq"},
		{"seq=", 0, false, "noseq"},
		{"seq=x", 0, false, "noseq"},
		{"no number", 0, false, "noseq"},
		{`{"payload":"seq=0000000002 a"}`, 2, true, "seq"},
		{"seq=12345678901234567890123", 123456789012345678, true, "seq"},
	} {
		if seq, ok := findSeq([]byte(tc.rec)); seq != tc.seq || ok != tc.ok {
			t.Errorf("findSeq(%q) = %d, %v", tc.rec, seq, ok)
		}
	}
	tr := newSeqTracker(0)
	for _, rec := range []string{"seq=1", "seq=2", "seq=2", "seq=5", "seq=0", "none", "seq=999999999999", "seq=100000"} {
		tr.add([]byte(rec))
	}
	r := tr.result(time.Second)
	if r.received != 8 || r.unique != 4 || r.dups != 1 || r.noseq != 2 || r.overflow != 1 || r.maxSeq != 100000 || r.lost != 100000-4 {
		t.Fatalf("%s", r.keyValues())
	}
	tr = newSeqTracker(10)
	for i := 1; i <= 9; i++ {
		tr.add([]byte("seq=" + strconv.Itoa(i)))
	}
	select {
	case <-tr.done:
		t.Fatal("done before 10 distinct messages")
	default:
	}
	tr.add([]byte("no number counts as one"))
	<-tr.done
	if r := tr.result(0); r.lost != 0 {
		t.Fatalf("%s", r.keyValues())
	}
}

// parseKV reads a line of key=value pairs.
func parseKV(t *testing.T, line string) map[string]string {
	t.Helper()
	kv := map[string]string{}
	for _, f := range strings.Fields(line) {
		k, v, ok := strings.Cut(f, "=")
		if !ok {
			t.Fatalf("%q is not key=value in %q", f, line)
		}
		kv[k] = v
	}
	return kv
}

func TestBenchCountFile(t *testing.T) {
	var lines strings.Builder
	for i := 1; i <= 100; i++ {
		if i == 50 {
			continue
		}
		fmt.Fprintf(&lines, `{"payload":"seq=%010d x"}`+"\n", i)
	}
	lines.WriteString(`{"payload":"seq=0000000007 again"}` + "\n\n")
	file := writeFile(t, "lines.jsonl", []byte(lines.String()))
	r := runCmd(t, "", "bench", "-count-file", file, "-expect", "100")
	kv := parseKV(t, r.stdout)
	if r.code != exitFail || kv["received"] != "100" || kv["unique"] != "99" || kv["duplicates"] != "1" || kv["lost"] != "1" ||
		!strings.Contains(r.stderr, "1 of the 100 messages expected did not arrive") {
		t.Fatalf("exit %d: %s %s", r.code, r.stdout, r.stderr)
	}
	// Framed, in two files, with garbage between frames.
	c := loadConfig{format: "framed", proto: "tcp", size: 64}
	tmpl, at, err := c.template()
	if err != nil {
		t.Fatal(err)
	}
	var a, b []byte
	for i := uint64(1); i <= 20; i++ {
		putSeq(tmpl[at:], i)
		if i <= 10 {
			a = append(a, tmpl...)
		} else {
			b = append(append(b, "xx"...), tmpl...)
		}
	}
	r = runCmd(t, "", "bench", "-count-file", writeFile(t, "a", a), writeFile(t, "b", b), "-expect", "20", "-v")
	kv = parseKV(t, r.stdout)
	if r.code != exitOK || kv["received"] != "20" || kv["unique"] != "20" || kv["lost"] != "0" || kv["garbage_bytes"] != "20" ||
		kv["bytes"] != strconv.Itoa(len(a)+len(b)) || !strings.Contains(r.stderr, "received 20 messages") {
		t.Fatalf("exit %d: %s %s", r.code, r.stdout, r.stderr)
	}
	// The frames decode, and carry the payload.
	m := vectorMessages(t, [][]byte{tmpl})[0]
	if m.Type != "bench" || len(m.Payload) != 64 || !strings.HasPrefix(m.Payload, "seq=0000000020 ") || m.Severity != message.Info {
		t.Fatalf("bench message: %+v", m)
	}
}

// TestBenchCommand runs the sink and the generator as commands and reads
// their output as a script would.
func TestBenchCommand(t *testing.T) {
	addr := pipelinetest.FreePort(t, "tcp")
	sinkDone := make(chan result, 1)
	go func() {
		sinkDone <- runCmd(t, "", "bench", "-sink", "-listen", addr, "-expect", "5000", "-timeout", "20s")
	}()
	pipelinetest.Eventually(t, func() bool {
		c, err := net.Dial("tcp", addr)
		if err == nil {
			c.Close()
		}
		return err == nil
	}, "the sink does not listen")
	gen := runCmd(t, "", "bench", "-addr", addr, "-n", "5000", "-unique", "-conns", "2", "-format", "plain", "-v")
	g := parseKV(t, gen.stdout)
	if gen.code != exitOK || g["sent"] != "5000" || g["errors"] != "0" || g["proto"] != "tcp" || g["format"] != "plain" ||
		g["conns"] != "2" || g["size"] != "256" || g["bytes"] != strconv.Itoa(5000*256) || !strings.Contains(gen.stderr, "sent 5000 messages") {
		t.Fatalf("generator: exit %d: %s %s", gen.code, gen.stdout, gen.stderr)
	}
	for _, k := range []string{"elapsed_s", "msgs_per_s", "mib_per_s"} {
		if v, err := strconv.ParseFloat(g[k], 64); err != nil || v <= 0 {
			t.Errorf("%s=%q", k, g[k])
		}
	}
	sr := <-sinkDone
	s := parseKV(t, sr.stdout)
	if sr.code != exitOK || s["received"] != "5000" || s["unique"] != "5000" || s["lost"] != "0" || s["duplicates"] != "0" ||
		!strings.Contains(sr.stderr, "sink listening on "+addr) {
		t.Fatalf("sink: exit %d: %s %s", sr.code, sr.stdout, sr.stderr)
	}
}

func TestBenchUsage(t *testing.T) {
	for _, tc := range []struct {
		args   []string
		stderr string
	}{
		{[]string{"-sink", "-rate", "5"}, "-rate is for generating load, not for -sink"},
		{[]string{"-count-file", "x", "-conns", "2"}, "-conns is for generating load"},
		{[]string{"-listen", "x"}, "-listen is for -sink"},
		{[]string{"-expect", "5"}, "-expect is for -sink and -count-file"},
		{[]string{"-sink", "-count-file", "x"}, "do not go together"},
		{[]string{"-size", "5"}, "-size must be between 14"},
		{[]string{"-size", "40", "-format", "plain"}, "too small for a plain line"},
		{[]string{"-proto", "udp", "-size", "70000"}, "does not fit in a UDP datagram"},
		{[]string{"-proto", "sctp"}, `-proto "sctp" is not tcp, udp or unix`},
		{[]string{"-format", "xml"}, `-format "xml" is not framed, metlog or plain`},
		{[]string{"-conns", "0"}, "-conns must be between 1 and 10000"},
		{[]string{"extra"}, `unexpected argument "extra"`},
		{[]string{"-sink", "-max-size", "huge"}, "-max-size"},
	} {
		r := runCmd(t, "", append([]string{"bench"}, tc.args...)...)
		if r.code != exitUsage || !strings.Contains(r.stderr, tc.stderr) {
			t.Errorf("bench %v: exit %d: %s", tc.args, r.code, r.stderr)
		}
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	if r := runCmd(t, "", "bench", "-addr", addr, "-n", "1"); r.code != exitFail || !strings.Contains(r.stderr, "cannot connect to "+addr+" over tcp: connection refused") {
		t.Errorf("exit %d: %s", r.code, r.stderr)
	}
	if r := runCmd(t, "", "bench", "-sink", "-listen", "256.0.0.1:1"); r.code != exitFail || !strings.Contains(r.stderr, "cannot listen on 256.0.0.1:1") {
		t.Errorf("exit %d: %s", r.code, r.stderr)
	}
}

func BenchmarkSeqTracker(b *testing.B) {
	tr := newSeqTracker(0)
	rec := []byte("<134>Nov 25 00:00:00 host metlog-bench[1]: seq=0000000000 the quick brown fox")
	at := strings.Index(string(rec), "seq=") + 4
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		putSeq(rec[at:], uint64(i%1000000+1))
		tr.add(rec)
	}
}
