package test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/metlog/metlog/pipeline"
)

// waitTimeout bounds every wait for something a daemon should do soon.
// Waits poll and return as soon as the condition holds; the bound only
// matters when the test is about to fail (or the machine is very loaded,
// as under -race with other packages' tests).
const waitTimeout = 20 * time.Second

// daemon is a running metlogd process.
type daemon struct {
	t       testing.TB
	dir     string // its working directory, holding its configuration and data
	cfgPath string
	cmd     *exec.Cmd
	stdout  *syncBuffer
	stderr  *syncBuffer
	http    string // host:port of its HTTP listener
	done    chan struct{}
	code    int // exit code, once done is closed
	client  *http.Client

	// wantExit is the exit code the cleanup expects (default 0).
	wantExit int
	stopped  bool
}

// globals is a [metlogd] section for a test daemon: data in its directory,
// HTTP on a free port, and any extra lines.
func globals(extra ...string) string {
	return "[metlogd]\ndata_dir = \"@DIR@/data\"\nhttp_listen = \"127.0.0.1:0\"\n" + strings.Join(extra, "\n") + "\n\n"
}

// startDaemon writes cfg (where @DIR@ stands for the daemon's directory) to
// metlogd.toml in a new temporary directory and runs `metlogd -config` on
// it there, waiting until it serves /status. The daemon is stopped with
// SIGTERM when the test ends, and must then exit 0.
func startDaemon(t testing.TB, cfg string, env ...string) *daemon {
	t.Helper()
	d := newDaemon(t, t.TempDir())
	d.writeConfig(cfg)
	d.start(env, "-config", d.cfgPath)
	return d
}

// newDaemon prepares a daemon working in dir, without starting it.
func newDaemon(t testing.TB, dir string) *daemon {
	needBinaries(t)
	return &daemon{t: t, dir: dir, cfgPath: filepath.Join(dir, "metlogd.toml"),
		client: &http.Client{Timeout: 10 * time.Second}}
}

// writeConfig (re)writes the configuration file, replacing @DIR@.
func (d *daemon) writeConfig(cfg string) {
	d.t.Helper()
	cfg = strings.ReplaceAll(cfg, "@DIR@", d.dir)
	if err := os.WriteFile(d.cfgPath, []byte(cfg), 0o644); err != nil {
		d.t.Fatal(err)
	}
}

// path returns a path under the daemon's directory.
func (d *daemon) path(elem ...string) string {
	return filepath.Join(append([]string{d.dir}, elem...)...)
}

var httpLine = regexp.MustCompile(`(?m)^  http +http://(\S+) `)

// start runs metlogd with args and waits until it is ready.
func (d *daemon) start(env []string, args ...string) {
	t := d.t
	t.Helper()
	d.stdout, d.stderr = newSyncBuffer(), newSyncBuffer()
	d.cmd = exec.Command(bin.metlogd, args...)
	d.cmd.Dir = d.dir
	d.cmd.Env = append(cleanEnv(), env...)
	d.cmd.Stdout, d.cmd.Stderr = d.stdout, d.stderr
	if err := d.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	d.done = make(chan struct{})
	go func() {
		err := d.cmd.Wait()
		d.code = exitCode(err)
		close(d.done)
	}()
	t.Cleanup(d.cleanup)

	// Ready: it printed where it listens (after the pipeline started),
	// and /status answers.
	deadline := time.Now().Add(waitTimeout)
	for {
		if m := httpLine.FindStringSubmatch(d.stdout.String()); m != nil {
			d.http = m[1]
			break
		}
		select {
		case <-d.done:
			t.Fatalf("metlogd exited with %d before it was ready\nstdout:\n%s\nstderr:\n%s", d.code, d.stdout, d.stderr)
		case <-time.After(5 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("metlogd did not say where it listens within %v\nstdout:\n%s\nstderr:\n%s", waitTimeout, d.stdout, d.stderr)
		}
	}
	d.status()
}

// cleanup stops the daemon if the test did not, asserts its exit code, and
// shows its output when the test failed.
func (d *daemon) cleanup() {
	t := d.t
	if !d.stopped {
		code := d.stop()
		if code != d.wantExit {
			t.Errorf("metlogd exited with %d, want %d", code, d.wantExit)
		}
	}
	errText := d.stderr.String()
	if strings.Contains(errText, "WARNING: DATA RACE") {
		t.Errorf("metlogd reported a data race:\n%s", errText)
	}
	if strings.Contains(errText, "panic: ") || strings.Contains(errText, "fatal error: ") {
		t.Errorf("metlogd crashed:\n%s", errText)
	}
	if t.Failed() || os.Getenv("E2E_LOGS") != "" {
		t.Logf("metlogd in %s\nstdout:\n%s\nstderr:\n%s", d.dir, d.stdout, errText)
	}
}

// stop sends SIGTERM and returns the exit code.
func (d *daemon) stop() int {
	d.t.Helper()
	d.signal(syscall.SIGTERM)
	return d.wait(30 * time.Second)
}

// wait waits for the process to exit and returns its exit code.
func (d *daemon) wait(timeout time.Duration) int {
	d.t.Helper()
	select {
	case <-d.done:
	case <-time.After(timeout):
		_ = d.cmd.Process.Kill()
		<-d.done
		d.stopped = true
		d.t.Fatalf("metlogd did not exit within %v; killed", timeout)
	}
	d.stopped = true
	return d.code
}

func (d *daemon) signal(sig os.Signal) {
	d.t.Helper()
	if err := d.cmd.Process.Signal(sig); err != nil {
		d.t.Fatalf("signal %v: %v", sig, err)
	}
}

// exited reports whether the process has exited.
func (d *daemon) exited() bool {
	select {
	case <-d.done:
		return true
	default:
		return false
	}
}

// get fetches a path of the HTTP listener.
func (d *daemon) get(path string) (int, []byte, error) {
	resp, err := d.client.Get("http://" + d.http + path)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, b, err
}

// status returns /status.
func (d *daemon) status() pipeline.Status {
	d.t.Helper()
	code, b, err := d.get("/status")
	if err != nil || code != http.StatusOK {
		d.t.Fatalf("GET /status: %d %v %s", code, err, b)
	}
	var st pipeline.Status
	if err := json.Unmarshal(b, &st); err != nil {
		d.t.Fatalf("/status is not JSON: %v\n%s", err, b)
	}
	return st
}

// plugin returns the /status line of the plugin named name.
func (d *daemon) plugin(name string) pipeline.PluginStatus {
	d.t.Helper()
	st := d.status()
	for _, p := range st.Plugins {
		if p.Name == name {
			return p
		}
	}
	d.t.Fatalf("/status has no plugin %q: %+v", name, st.Plugins)
	return pipeline.PluginStatus{}
}

// pipelineStatus is a plugin's line of /status.
type pipelineStatus = pipeline.PluginStatus

// waitPlugin waits until cond holds for the plugin's /status line.
func (d *daemon) waitPlugin(name string, what string, cond func(p pipeline.PluginStatus) bool) pipeline.PluginStatus {
	d.t.Helper()
	var p pipeline.PluginStatus
	waitFor(d.t, "["+name+"] "+what, func() bool {
		p = d.plugin(name)
		return cond(p)
	}, func() string { return fmt.Sprintf("last status: %+v", p) })
	return p
}

var listeningLine = regexp.MustCompile(`msg=listening plugin=(\S+) type=\S+ network=\S+ address=(\S+)`)

// addr returns the address the input named name listens on, from its
// latest "listening" log line (inputs configured on port 0 pick one).
func (d *daemon) addr(name string) string {
	d.t.Helper()
	var addr string
	waitFor(d.t, "a listening line of ["+name+"]", func() bool {
		for _, m := range listeningLine.FindAllStringSubmatch(d.stderr.String(), -1) {
			if m[1] == name {
				addr = m[2]
			}
		}
		return addr != ""
	}, d.stderr.String)
	return addr
}

// listenings counts the "listening" log lines of an input: one per start.
func (d *daemon) listenings(name string) int {
	n := 0
	for _, m := range listeningLine.FindAllStringSubmatch(d.stderr.String(), -1) {
		if m[1] == name {
			n++
		}
	}
	return n
}

// waitLog waits until the log holds n lines containing all of parts, and
// returns those lines.
func (d *daemon) waitLog(n int, parts ...string) []string {
	d.t.Helper()
	var lines []string
	waitFor(d.t, fmt.Sprintf("%d log line(s) with %q", n, parts), func() bool {
		lines = d.logLines(parts...)
		return len(lines) >= n
	}, d.stderr.String)
	return lines
}

// logLines returns the log lines containing all of parts.
func (d *daemon) logLines(parts ...string) []string {
	var out []string
	for _, line := range strings.Split(d.stderr.String(), "\n") {
		ok := true
		for _, p := range parts {
			ok = ok && strings.Contains(line, p)
		}
		if ok && line != "" {
			out = append(out, line)
		}
	}
	return out
}

// waitFor polls cond every 5 ms until it holds, failing the test after
// waitTimeout with what and, if given, detail().
func waitFor(t testing.TB, what string, cond func() bool, detail func() string) {
	t.Helper()
	deadline := time.Now().Add(waitTimeout)
	for !cond() {
		if time.Now().After(deadline) {
			msg := "timed out waiting for " + what
			if detail != nil {
				msg += "\n" + detail()
			}
			t.Fatal(msg)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// runMetlog runs the metlog tool and returns its exit code and output.
func runMetlog(t testing.TB, dir string, stdin io.Reader, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	needBinaries(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin.metlog, args...)
	cmd.Dir = dir
	cmd.Env = cleanEnv()
	cmd.Stdin = stdin
	var out, errb strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	if ctx.Err() != nil {
		t.Fatalf("metlog %q did not end within a minute\nstdout:\n%s\nstderr:\n%s", args, out.String(), errb.String())
	}
	return exitCode(err), out.String(), errb.String()
}

// proc is a metlog command running in the background.
type proc struct {
	cmd            *exec.Cmd
	stdout, stderr *syncBuffer
	done           chan struct{} // closed when it has exited
	err            error         // its exit status, once done
}

// startMetlog starts the metlog tool in the background; it is killed when
// the test ends, if it is still running.
func startMetlog(t testing.TB, dir string, args ...string) *proc {
	t.Helper()
	needBinaries(t)
	p := &proc{cmd: exec.Command(bin.metlog, args...), stdout: newSyncBuffer(), stderr: newSyncBuffer(), done: make(chan struct{})}
	p.cmd.Dir = dir
	p.cmd.Env = cleanEnv()
	p.cmd.Stdout, p.cmd.Stderr = p.stdout, p.stderr
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		p.err = p.cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			_ = p.cmd.Process.Kill()
			<-p.done
		}
	})
	return p
}

// wait waits for the command to exit, failing the test after timeout.
func (p *proc) wait(t testing.TB, timeout time.Duration) error {
	t.Helper()
	select {
	case <-p.done:
		return p.err
	case <-time.After(timeout):
		t.Fatalf("metlog %q still runs after %v\nstdout:\n%s\nstderr:\n%s", p.cmd.Args[1:], timeout, p.stdout, p.stderr)
		return nil
	}
}

// mustMetlog runs the metlog tool and fails the test unless it exits 0.
func mustMetlog(t testing.TB, args ...string) string {
	t.Helper()
	code, out, errOut := runMetlog(t, t.TempDir(), nil, args...)
	if code != 0 {
		t.Fatalf("metlog %q exited %d\nstdout:\n%s\nstderr:\n%s", args, code, out, errOut)
	}
	return out
}

func exitCode(err error) int {
	if err == nil {
		return 0
	}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ExitCode()
	}
	return -1
}

// cleanEnv is the test's environment without METLOG_* variables, so that a
// developer's settings do not leak into the processes under test. Race
// binaries would sleep a second at exit (GORACE atexit_sleep_ms defaults
// to 1000); they are told not to.
func cleanEnv() []string {
	var env []string
	gorace := "atexit_sleep_ms=0"
	for _, kv := range os.Environ() {
		switch {
		case strings.HasPrefix(kv, "METLOG_"):
		case strings.HasPrefix(kv, "GORACE="):
			gorace = strings.TrimPrefix(kv, "GORACE=") + " " + gorace
		default:
			env = append(env, kv)
		}
	}
	return append(env, "GORACE="+gorace)
}

// syncBuffer is an io.Writer a process writes to while the test reads it.
type syncBuffer struct {
	mu sync.Mutex
	b  []byte
}

func newSyncBuffer() *syncBuffer { return &syncBuffer{} }

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.b = append(s.b, p...)
	return len(p), nil
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return string(s.b)
}

// lines returns the complete lines written so far.
func (s *syncBuffer) lines() []string {
	text := s.String()
	if i := strings.LastIndexByte(text, '\n'); i >= 0 {
		text = text[:i]
	} else {
		return nil
	}
	var out []string
	sc := bufio.NewScanner(strings.NewReader(text))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		out = append(out, sc.Text())
	}
	return out
}
