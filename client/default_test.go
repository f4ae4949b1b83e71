package client

import (
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/metlog/metlog/message"
)

// resetDefault forgets the default client and the registered clients, so
// that a test starts from a fresh process's state.
func resetDefault() {
	defaultMu.Lock()
	defaultClient.Store(nil)
	defaultMu.Unlock()
	registryMu.Lock()
	registry = nil
	registryMu.Unlock()
}

// defaultTestEnv clears every METLOG_ variable for the test, sets those
// given as name, value pairs, and resets the package's clients before and
// after the test, closing the default client it built.
func defaultTestEnv(t *testing.T, pairs ...string) {
	t.Helper()
	for _, name := range []string{EnvConfig, EnvSender, EnvEncoder, EnvLogger, EnvHostname, EnvQueueBytes,
		EnvBlock, EnvMaxSeverity, EnvTypesAllow, EnvTypesDeny, EnvDisabledTimers, EnvHMACSigner,
		EnvHMACKeyVersion, EnvHMACHash, EnvHMACKey} {
		t.Setenv(name, "") // restores the variable after the test
		os.Unsetenv(name)
	}
	for i := 0; i < len(pairs); i += 2 {
		t.Setenv(pairs[i], pairs[i+1])
	}
	resetDefault()
	t.Cleanup(func() {
		if c := defaultClient.Load(); c != nil {
			_ = c.Close()
		}
		resetDefault()
	})
}

// captureStderr returns what f writes to os.Stderr.
func captureStderr(t *testing.T, f func()) string {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	old := os.Stderr
	os.Stderr = w
	defer func() { os.Stderr = old }()
	f()
	os.Stderr = old
	w.Close()
	b, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func newCaptureClient(t *testing.T, logger string) *Client {
	t.Helper()
	c, err := New(Config{Logger: logger, Output: NewCapture()})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestDefaultFromEnv(t *testing.T) {
	conn, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	defaultTestEnv(t,
		EnvSender, fmt.Sprintf("udp://%s", conn.LocalAddr()),
		EnvLogger, "from-env",
		EnvHostname, "envhost")
	var c *Client
	if out := captureStderr(t, func() { c = Default() }); out != "" {
		t.Errorf("stderr: %q", out)
	}
	if Default() != c {
		t.Fatal("a second call returned another client")
	}
	c.Info("hello", String("k", "v"))

	buf := make([]byte, 64<<10)
	if err := conn.SetReadDeadline(time.Now().Add(10 * time.Second)); err != nil {
		t.Fatal(err)
	}
	n, err := conn.Read(buf)
	if err != nil {
		t.Fatal(err)
	}
	_, msg, used, err := message.ParseFrame(buf[:n], 0)
	if err != nil || used != n {
		t.Fatalf("ParseFrame: used %d of %d bytes, %v", used, n, err)
	}
	var m message.Message
	if err := m.Unmarshal(msg); err != nil {
		t.Fatal(err)
	}
	if m.Logger != "from-env" || m.Hostname != "envhost" || m.Type != "oldstyle" || m.Severity != message.Info ||
		m.Payload != "hello" || m.Pid != int32(os.Getpid()) {
		t.Errorf("got %+v", m)
	}
	if v, _ := m.GetString("k"); v != "v" || len(m.Fields) != 1 {
		t.Errorf("fields %+v", m.Fields)
	}
}

func TestDefaultInvalidEnv(t *testing.T) {
	const prefix = "metlog: default client discards all messages: "
	tests := []struct {
		name  string
		env   []string
		wants []string // in the line written to stderr
	}{
		{"bad sender url", []string{EnvSender, "bogus://x"}, []string{`sender url "bogus://x"`}},
		{"two bad values", []string{EnvQueueBytes, "lots", EnvMaxSeverity, "loud"},
			[]string{`METLOG_QUEUE_BYTES="lots"`, `METLOG_MAX_SEVERITY="loud"`}},
		{"missing config file", []string{EnvConfig, "/nonexistent/metlog.toml"}, []string{"/nonexistent/metlog.toml"}},
		{"bad encoder", []string{EnvEncoder, "xml"}, []string{`"xml"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			defaultTestEnv(t, tt.env...)
			var c *Client
			out := captureStderr(t, func() { c = Default() })
			if !strings.HasPrefix(out, prefix) || !strings.HasSuffix(out, "\n") || strings.Count(out, "\n") != 1 {
				t.Errorf("stderr %q: want one line starting %q", out, prefix)
			}
			for _, want := range tt.wants {
				if !strings.Contains(out, want) {
					t.Errorf("stderr %q does not mention %s", out, want)
				}
			}
			if _, ok := c.sender.(discardSender); !ok {
				t.Fatalf("sender is a %T, want discardSender", c.sender)
			}
			// It works, and says nothing more.
			out = captureStderr(t, func() {
				if Default() != c {
					t.Error("a second call returned another client")
				}
				c.Info("into the void", Int("n", 1))
				c.Incr("hits")
				c.Exception(fmt.Errorf("oops"))
			})
			if out != "" {
				t.Errorf("later stderr %q", out)
			}
			if s := c.Stats(); s != (Stats{}) {
				t.Errorf("stats %+v, want zero", s)
			}
		})
	}
}

func TestSetDefault(t *testing.T) {
	defaultTestEnv(t, EnvSender, "bogus://x") // building from env would say so
	c1, c2 := newCaptureClient(t, "one"), newCaptureClient(t, "two")
	out := captureStderr(t, func() {
		SetDefault(c1)
		if got := Default(); got != c1 {
			t.Errorf("Default() = %p, want c1 %p", got, c1)
		}
		SetDefault(c2)
		if got := Default(); got != c2 {
			t.Errorf("Default() = %p, want c2 %p", got, c2)
		}
	})
	if out != "" {
		t.Errorf("stderr %q: Default built a client", out)
	}
	// SetDefault(nil) builds from the environment again.
	out = captureStderr(t, func() {
		SetDefault(nil)
		if got := Default(); got == c1 || got == c2 || got == nil {
			t.Errorf("after SetDefault(nil), Default() = %p", got)
		}
	})
	if strings.Count(out, "\n") != 1 {
		t.Errorf("stderr %q, want one line", out)
	}
}

// TestSetDefaultDuringBuild sets a client while Default is building one,
// held up reading the METLOG_CONFIG file, a named pipe: SetDefault waits,
// and the client it sets is not replaced by the one built.
func TestSetDefaultDuringBuild(t *testing.T) {
	fifo := filepath.Join(t.TempDir(), "metlog.toml")
	if err := exec.Command("mkfifo", fifo).Run(); err != nil {
		t.Skipf("mkfifo: %v", err)
	}
	defaultTestEnv(t, EnvConfig, fifo)
	built := make(chan *Client, 1)
	go func() { built <- Default() }()
	w, err := os.OpenFile(fifo, os.O_WRONLY, 0) // returns once Default opens the file
	if err != nil {
		t.Fatal(err) // cannot happen: mkfifo made it
	}
	defer w.Close() // lets Default finish whatever happens
	c1 := newCaptureClient(t, "one")
	set := make(chan struct{})
	go func() {
		SetDefault(c1)
		close(set)
	}()
	// A correct SetDefault never returns here; give a wrong one the time to.
	select {
	case <-set:
		t.Error("SetDefault returned while Default was building a client")
	case <-time.After(50 * time.Millisecond):
	}
	if _, err := io.WriteString(w, "[sender]\nurl = \"udp://127.0.0.1:9\"\n"); err != nil {
		t.Error(err)
	}
	w.Close()
	lazy := <-built
	defer lazy.Close()
	<-set
	if _, ok := lazy.sender.(discardSender); ok || lazy == c1 {
		t.Errorf("Default built %p with a %T", lazy, lazy.sender)
	}
	if got := Default(); got != c1 {
		t.Errorf("Default() = %p, the client built from the pipe, not c1 %p", got, c1)
	}
}

func TestDefaultConcurrent(t *testing.T) {
	defaultTestEnv(t, EnvSender, "bogus://x")
	const goroutines = 16
	var got []*Client
	// Repeated, so that some goroutines find no client and wait for the
	// first to build it: they must not build another.
	for range 50 {
		resetDefault()
		got = make([]*Client, goroutines)
		out := captureStderr(t, func() {
			start := make(chan struct{})
			var wg sync.WaitGroup
			for i := range goroutines {
				wg.Go(func() {
					<-start
					got[i] = Default()
				})
			}
			close(start)
			wg.Wait()
		})
		if strings.Count(out, "\n") != 1 {
			t.Fatalf("stderr %q: want one line, from building the client once", out)
		}
		for i := range got {
			if got[i] == nil || got[i] != got[0] {
				t.Fatalf("goroutine %d got %p, goroutine 0 %p", i, got[i], got[0])
			}
		}
	}

	c1, c2 := newCaptureClient(t, "one"), newCaptureClient(t, "two")
	// Setters and getters racing: every Default is a client that was set.
	resetDefault()
	SetDefault(got[0])
	var wg sync.WaitGroup
	for i := range goroutines {
		wg.Go(func() {
			for j := range 200 {
				switch {
				case i%4 == 0 && j%2 == 0:
					SetDefault(c1)
				case i%4 == 0:
					SetDefault(c2)
				default:
					if c := Default(); c != got[0] && c != c1 && c != c2 {
						t.Errorf("Default() = %p, not a client that was set", c)
						return
					}
				}
			}
		})
	}
	wg.Wait()
	SetDefault(c2)
	if Default() != c2 {
		t.Error("the last SetDefault did not stick")
	}
}

func TestRegistry(t *testing.T) {
	defaultTestEnv(t)
	a, b := newCaptureClient(t, "a"), newCaptureClient(t, "b")
	steps := []struct {
		do      func()
		name    string
		want    *Client
		comment string
	}{
		{func() {}, "a", nil, "nothing registered"},
		{func() { Register("a", a) }, "a", a, "registered"},
		{func() {}, "b", nil, "another name"},
		{func() { Register("a", b) }, "a", b, "replaced"},
		{func() { Register("", a) }, "", a, "the empty name is a name"},
		{func() { Unregister("a") }, "a", nil, "unregistered"},
		{func() {}, "", a, "others kept"},
		{func() { Unregister("never") }, "never", nil, "unregistering an unknown name"},
		{func() { Register("", nil) }, "", nil, "registering nil unregisters"},
	}
	for _, s := range steps {
		s.do()
		if got := Get(s.name); got != s.want {
			t.Errorf("%s: Get(%q) = %p, want %p", s.comment, s.name, got, s.want)
		}
	}
	if Default() == a || Default() == b {
		t.Error("registering changed the default client")
	}
}

func TestRegistryConcurrent(t *testing.T) {
	defaultTestEnv(t)
	const goroutines, rounds = 8, 300
	clients := make([]*Client, goroutines)
	for i := range clients {
		clients[i] = newCaptureClient(t, fmt.Sprint(i))
	}
	Register("shared", clients[0])
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range goroutines {
		wg.Go(func() {
			<-start
			own := fmt.Sprintf("own-%d", i)
			for j := range rounds {
				Register(own, clients[i])
				if got := Get(own); got != clients[i] {
					t.Errorf("Get(%q) = %p, want %p", own, got, clients[i])
					return
				}
				if j%3 == 0 {
					Register("shared", clients[i])
				}
				if Get("shared") == nil {
					t.Error(`Get("shared") = nil`)
					return
				}
				Unregister(own)
				if got := Get(own); got != nil {
					t.Errorf("Get(%q) = %p after Unregister", own, got)
					return
				}
			}
			Register(own, clients[i])
		})
	}
	close(start)
	wg.Wait()
	for i := range goroutines {
		if got := Get(fmt.Sprintf("own-%d", i)); got != clients[i] {
			t.Errorf("own-%d: %p, want %p", i, got, clients[i])
		}
	}
}
