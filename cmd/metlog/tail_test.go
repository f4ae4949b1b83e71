package main

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/metlog/metlog/message"
	"github.com/metlog/metlog/pipeline/pipelinetest"
)

// tapLines are what the fake router streams.
var tapLines = []string{
	`{"uuid":"f5a18dd2-f443-49ed-8000-7b10dcbe87f1","timestamp":"2026-11-24T23:48:03.080606123Z","type":"oldstyle","logger":"app","severity":4,"payload":"two\nlines","env_version":"0.8","pid":7,"hostname":"h","fields":{"n":3,"s":"a b","d":1.5,"bs":[true,false]}}`,
	`{"uuid":"f5a18dd2-f443-49ed-8000-7b10dcbe87f2","timestamp":"2026-11-24T23:48:04Z","type":"counter","logger":"app","severity":6,"payload":"1","env_version":"0.8","pid":7,"hostname":"h","fields":{"name":"hits","rate":1.0}}`,
	`{"uuid":"f5a18dd2-f443-49ed-8000-7b10dcbe87f3","timestamp":"2026-11-24T23:48:05Z","type":"timer","logger":"","severity":7,"payload":"","env_version":"0.8","pid":7,"hostname":"h"}`,
}

var tapPretty = []string{
	`2026-11-24T23:48:03.080Z warning oldstyle app: two\nlines {n=3 s="a b" d=1.5 bs=[true,false]}`,
	`2026-11-24T23:48:04.000Z info    counter app: 1 {name=hits rate=1}`,
	`2026-11-24T23:48:05.000Z debug   timer -:`,
}

// fakeTap is an httptest router whose /tap streams tapLines.
type fakeTap struct {
	srv      *httptest.Server
	requests atomic.Int32
	mu       sync.Mutex
	queries  []url.Values
	// serve writes the response of request number n (from 1).
	serve func(n int, w http.ResponseWriter, r *http.Request)
}

func newFakeTap(t *testing.T, serve func(n int, w http.ResponseWriter, r *http.Request)) *fakeTap {
	f := &fakeTap{serve: serve}
	f.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/tap" {
			http.NotFound(w, r)
			return
		}
		n := int(f.requests.Add(1))
		f.mu.Lock()
		f.queries = append(f.queries, r.URL.Query())
		f.mu.Unlock()
		f.serve(n, w, r)
	}))
	t.Cleanup(f.srv.Close)
	return f
}

// stream writes lines and then either returns (ending the stream) or
// holds it open until the client goes away.
func stream(w http.ResponseWriter, r *http.Request, lines []string, hold bool) {
	w.Header().Set("Content-Type", "application/x-ndjson")
	for _, l := range lines {
		fmt.Fprintln(w, l)
		w.(http.Flusher).Flush()
	}
	if hold {
		<-r.Context().Done()
	}
}

func TestTailFakeRouter(t *testing.T) {
	for _, tc := range []struct {
		name   string
		args   []string
		serve  func(n int, w http.ResponseWriter, r *http.Request)
		code   int
		stdout string
		stderr string
		reqs   int
		query  url.Values // of the first request
	}{
		{"pretty", []string{"-n", "3"}, func(n int, w http.ResponseWriter, r *http.Request) { stream(w, r, tapLines, true) },
			exitOK, strings.Join(tapPretty, "\n") + "\n", "", 1, url.Values{"match": {"TRUE"}, "limit": {"3"}}},
		{"json", []string{"-json", "-n", "2", "-match", "Severity > 3"}, func(n int, w http.ResponseWriter, r *http.Request) { stream(w, r, tapLines, true) },
			exitOK, tapLines[0] + "\n" + tapLines[1] + "\n", "", 1, url.Values{"match": {"Severity > 3"}, "limit": {"2"}}},
		{"stops at -n on a stream that goes on", []string{"-n", "1"}, func(n int, w http.ResponseWriter, r *http.Request) { stream(w, r, tapLines, true) },
			exitOK, tapPretty[0] + "\n", "", 1, nil},
		{"stream ended", nil, func(n int, w http.ResponseWriter, r *http.Request) { stream(w, r, tapLines[:1], false) },
			exitFail, tapPretty[0] + "\n", "metlog tail: the router ended the stream", 1, url.Values{"match": {"TRUE"}}},
		{"router refuses", nil, func(n int, w http.ResponseWriter, r *http.Request) {
			http.Error(w, "too many taps (at most 32)", http.StatusServiceUnavailable)
		}, exitFail, "", "the router answered 503 Service Unavailable: too many taps (at most 32)", 1, nil},
		{"bad matcher is caught before connecting", []string{"-match", "Type == 'a' Type == 'b'"}, nil,
			exitUsage, "", "metlog tail: -match: column 13: ", 0, nil},
		{"retry after the stream ends", []string{"-retry", "-n", "2"}, func(n int, w http.ResponseWriter, r *http.Request) {
			if n == 1 {
				stream(w, r, tapLines[:1], false)
				return
			}
			stream(w, r, tapLines[1:2], true)
		}, exitOK, tapPretty[0] + "\n" + tapPretty[1] + "\n", "reconnecting", 2, url.Values{"match": {"TRUE"}, "limit": {"2"}}},
		{"retry stops on a bad request", []string{"-retry"}, func(n int, w http.ResponseWriter, r *http.Request) {
			http.Error(w, "matcher: column 1: no", http.StatusBadRequest)
		}, exitFail, "", "the router answered 400 Bad Request: matcher: column 1: no", 1, nil},
		{"bad line is reported and skipped", []string{"-n", "1"}, func(n int, w http.ResponseWriter, r *http.Request) {
			stream(w, r, []string{"{oops", tapLines[1]}, true)
		}, exitOK, tapPretty[1] + "\n", "a line of the stream does not decode", 1, nil},
		{"colour", []string{"-n", "1", "-color", "always"}, func(n int, w http.ResponseWriter, r *http.Request) { stream(w, r, tapLines, true) },
			exitOK, "2026-11-24T23:48:03.080Z \x1b[33mwarning\x1b[0m oldstyle", "", 1, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakeTap(t, tc.serve)
			args := append(append([]string{"tail"}, tc.args...), f.srv.URL)
			r := runCmd(t, "", args...)
			if r.code != tc.code || !strings.HasPrefix(r.stdout, tc.stdout) || (tc.stdout == "" && r.stdout != "") ||
				!strings.Contains(r.stderr, tc.stderr) {
				t.Fatalf("exit %d, want %d\nstdout: %q\nwant:   %q\nstderr: %s", r.code, tc.code, r.stdout, tc.stdout, r.stderr)
			}
			if tc.code == exitOK && tc.stdout != r.stdout && !strings.Contains(tc.name, "colour") {
				t.Fatalf("stdout %q, want %q", r.stdout, tc.stdout)
			}
			if got := int(f.requests.Load()); got != tc.reqs {
				t.Fatalf("%d requests, want %d", got, tc.reqs)
			}
			if tc.query != nil {
				f.mu.Lock()
				q := f.queries[0]
				last := f.queries[len(f.queries)-1]
				f.mu.Unlock()
				if q.Encode() != tc.query.Encode() {
					t.Fatalf("query %v, want %v", q, tc.query)
				}
				if tc.reqs == 2 && last.Get("limit") != "1" {
					t.Fatalf("the second request asks for limit %q, want the 1 left", last.Get("limit"))
				}
			}
		})
	}
}

func TestTailCaret(t *testing.T) {
	r := runCmd(t, "", "tail", "-match", "Type == 'a' Type == 'b'", "127.0.0.1:1")
	lines := strings.Split(r.stderr, "\n")
	if r.code != exitUsage || len(lines) < 3 || lines[1] != "  Type == 'a' Type == 'b'" || lines[2] != "              ^" {
		t.Fatalf("exit %d; stderr:\n%s", r.code, r.stderr)
	}
}

func TestTailRouterDown(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	r := runCmd(t, "", "tail", addr)
	if r.code != exitFail || !strings.Contains(r.stderr, "cannot reach the router: http://"+addr+"/tap?match=TRUE") {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	for _, bad := range []string{"ftp://x", "http://", "a b://c"} {
		if r := runCmd(t, "", "tail", bad); r.code != exitUsage {
			t.Errorf("tail %s: exit %d: %s", bad, r.code, r.stderr)
		}
	}
}

// syncBuffer is a bytes.Buffer safe for one writer and one reader.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestTailInterrupt checks that tail without -n runs until interrupted,
// and then exits 0.
func TestTailInterrupt(t *testing.T) {
	f := newFakeTap(t, func(n int, w http.ResponseWriter, r *http.Request) { stream(w, r, tapLines[:1], true) })
	ctx, cancel := context.WithCancel(t.Context())
	var out, errb syncBuffer
	e := &env{ctx: ctx, stdin: strings.NewReader(""), stdout: &out, stderr: &errb, getenv: func(string) string { return "" }}
	done := make(chan int)
	go func() { done <- run(e, []string{"tail", f.srv.URL}) }()
	pipelinetest.Eventually(t, func() bool { return out.String() != "" }, "tail printed nothing")
	cancel()
	select {
	case code := <-done:
		if code != exitOK || out.String() != tapPretty[0]+"\n" {
			t.Fatalf("exit %d: %q %s", code, out.String(), errb.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("tail did not stop when interrupted")
	}
}

// TestTailRealPipeline tails a real pipeline's /tap while messages are
// delivered to its router.
func TestTailRealPipeline(t *testing.T) {
	addr := pipelinetest.FreePort(t, "tcp")
	p := pipelinetest.Run(t, fmt.Sprintf(`
[metlogd]
data_dir = %q
http_listen = %q

[out]
type = "capture_output"
message_matcher = "TRUE"
`, t.TempDir(), addr))
	for _, tc := range []struct {
		name string
		args []string
		want func(line string) bool
	}{
		{"json", []string{"-json"}, func(l string) bool {
			var m message.Message
			return message.DecodeJSON([]byte(l), &m) == nil && m.Type == "wanted" && m.Payload == "x\ny"
		}},
		{"pretty", nil, func(l string) bool { return strings.Contains(l, " info    wanted cli-test: x\\ny {k=v}") }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out, errb syncBuffer
			e := &env{ctx: t.Context(), stdin: strings.NewReader(""), stdout: &out, stderr: &errb, getenv: func(string) string { return "" }}
			done := make(chan int, 1)
			args := append([]string{"tail", "-n", "2", "-match", "Type == 'wanted'"}, tc.args...)
			go func() { done <- run(e, append(args, "http://"+addr)) }()
			d := p.Deliverer("test")
			deadline := time.After(10 * time.Second)
			var code int
		loop:
			for {
				for _, typ := range []string{"other", "wanted"} {
					m := &message.Message{Type: typ, Logger: "cli-test", Severity: message.Info, Payload: "x\ny"}
					m.AddString("k", "v")
					if err := d.Deliver(t.Context(), m); err != nil {
						t.Fatal(err)
					}
				}
				select {
				case code = <-done:
					break loop
				case <-deadline:
					t.Fatalf("tail got no messages; stderr: %s", errb.String())
				case <-time.After(20 * time.Millisecond):
				}
			}
			lines := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
			if code != exitOK || len(lines) != 2 {
				t.Fatalf("exit %d, %d lines: %q %s", code, len(lines), out.String(), errb.String())
			}
			for _, l := range lines {
				if !tc.want(l) {
					t.Errorf("unexpected line %q", l)
				}
			}
		})
	}
}

func TestAppendPretty(t *testing.T) {
	m := &message.Message{Timestamp: time.Date(2026, 1, 2, 3, 4, 5, 678999999, time.UTC).UnixNano(), Type: "t\x01",
		Logger: "l", Severity: 9, Payload: "a\\b\tc\r\n\xff é"}
	m.AddBytes("raw", []byte{0, 0xff})
	m.AddDouble("tiny", 1e-9)
	m.AddDouble("big", 1e300)
	m.AddString("q", `say "hi"`)
	m.AddField("none", message.Integer)
	got := string(appendPretty(nil, m, false))
	want := `2026-01-02T03:04:05.678Z 9       t\x01 l: a\\b\tc\r\n\xff é {raw=0x00ff tiny=1e-09 big=1e+300 q="say \"hi\"" none=[]}`
	if got != want {
		t.Fatalf("got  %s\nwant %s", got, want)
	}
	if got, want := string(appendPretty(nil, &message.Message{}, false)), "-"+strings.Repeat(" ", 23)+" emergency - -:"; got != want {
		t.Fatalf("zero message: %q, want %q", got, want)
	}
}
