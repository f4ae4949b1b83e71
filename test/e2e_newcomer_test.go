package test

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// The README's first steps: metlogd with no flags in an empty directory
// (its default configuration: UDP and TCP on 127.0.0.1:5565, HTTP on
// 127.0.0.1:4352, files under ./metlog-data), `metlog tail` in a second
// terminal, `metlog send` in a third, and the messages flow to both.
func TestNewcomerFirstSteps(t *testing.T) {
	needBinaries(t)
	t.Parallel()
	requireDefaultPortsFree(t)

	dir := t.TempDir()
	d := newDaemon(t, dir)
	d.start(nil) // no flags at all
	if d.http != "127.0.0.1:4352" {
		t.Fatalf("the default configuration serves HTTP on %s", d.http)
	}

	tail := startMetlog(t, dir, "tail", "-n", "3")
	waitConnected(t, tail.cmd.Process.Pid, 4352)

	for _, args := range [][]string{
		{"send", "log", "hello"},                                // UDP, framed: the defaults
		{"send", "-to", "tcp://127.0.0.1:5565", "log", "hello"}, // TCP
		{"send", "-encoder", "json", "log", "hello"},            // UDP, metlog JSON
	} {
		if code, out, errOut := runMetlog(t, dir, nil, args...); code != 0 || out != "" || errOut != "" {
			t.Fatalf("metlog %q: exit %d %s %s", args, code, out, errOut)
		}
	}
	if err := tail.wait(t, waitTimeout); err != nil {
		t.Fatalf("metlog tail -n 3: %v\n%s%s", err, tail.stdout, tail.stderr)
	}
	lines := tail.stdout.lines()
	tailLine := regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z info +oldstyle metlog: hello$`)
	if len(lines) != 3 || tail.stderr.String() != "" {
		t.Fatalf("metlog tail printed %d lines:\n%s%s", len(lines), tail.stdout, tail.stderr)
	}
	for _, l := range lines {
		if !tailLine.MatchString(l) {
			t.Errorf("tail line %q", l)
		}
	}

	// The README's next command, then the files.
	if code, out, errOut := runMetlog(t, dir, nil, "send", "incr", "requests", "-count", "3"); code != 0 {
		t.Fatalf("metlog send incr: %d %s %s", code, out, errOut)
	}
	files, _ := filepath.Glob(filepath.Join(dir, "metlog-data", "messages-*.jsonl"))
	if len(files) != 1 {
		t.Fatalf("files in ./metlog-data: %v", files)
	}
	name := filepath.Base(files[0])
	if !regexp.MustCompile(`^messages-\d{4}-\d\d-\d\d\.jsonl$`).MatchString(name) {
		t.Errorf("the file is named %s", name)
	}
	if today := time.Now().UTC().Format("messages-2006-01-02.jsonl"); name != today {
		t.Logf("the file is %s, not %s (the date changed during the test?)", name, today)
	}
	msgs := waitMessages(t, 4, files[0])
	if len(msgs) != 4 {
		t.Fatalf("%d messages in %s:\n%s", len(msgs), name, show(msgs))
	}
	for i, m := range msgs[:3] {
		if m.Type != "oldstyle" || m.Logger != "metlog" || m.Payload != "hello" || m.Severity != 6 {
			t.Errorf("message %d: %s", i+1, canonical(m))
		}
	}
	if m := msgs[3]; m.Type != "counter" || m.Payload != "3" {
		t.Errorf("the counter: %s", canonical(m))
	}
}

// requireDefaultPortsFree skips the test (fails it under CI=true) when
// another program holds the ports of the default configuration.
func requireDefaultPortsFree(t *testing.T) {
	var busy []string
	for _, p := range []struct{ network, addr string }{
		{"tcp", "127.0.0.1:5565"}, {"udp", "127.0.0.1:5565"}, {"tcp", "127.0.0.1:4352"},
	} {
		var err error
		if p.network == "udp" {
			var c net.PacketConn
			if c, err = net.ListenPacket("udp", p.addr); err == nil {
				c.Close()
			}
		} else {
			var l net.Listener
			if l, err = net.Listen("tcp", p.addr); err == nil {
				l.Close()
			}
		}
		if err != nil {
			busy = append(busy, p.network+" "+p.addr)
		}
	}
	if len(busy) == 0 {
		return
	}
	msg := fmt.Sprintf("\n*** The newcomer test runs metlogd with no flags, on the default ports, and %s\n"+
		"*** is in use by another program (a metlogd you are running?). Stop it to run this test. ***",
		strings.Join(busy, " and "))
	if os.Getenv("CI") == "true" {
		t.Fatal(msg)
	}
	t.Skip(msg)
}

// waitConnected waits until process pid has an established TCP connection
// to the local port, so that what is sent next is not missed by a client
// that is still connecting. It reads /proc (Linux); elsewhere it only
// waits a little.
func waitConnected(t *testing.T, pid, port int) {
	t.Helper()
	if _, err := os.Stat("/proc/net/tcp"); err != nil {
		time.Sleep(500 * time.Millisecond)
		return
	}
	waitFor(t, fmt.Sprintf("process %d to connect to port %d", pid, port), func() bool {
		inodes := map[string]bool{}
		fds, _ := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
		for _, fd := range fds {
			link, err := os.Readlink(fmt.Sprintf("/proc/%d/fd/%s", pid, fd.Name()))
			if err == nil && strings.HasPrefix(link, "socket:[") {
				inodes[strings.TrimSuffix(strings.TrimPrefix(link, "socket:["), "]")] = true
			}
		}
		for _, table := range []string{"/proc/net/tcp", "/proc/net/tcp6"} {
			f, err := os.Open(table)
			if err != nil {
				continue
			}
			sc := bufio.NewScanner(f)
			for sc.Scan() {
				// sl local_address rem_address st tx:rx tr:when retrnsmt uid timeout inode
				fields := strings.Fields(sc.Text())
				if len(fields) < 10 || fields[3] != "01" { // ESTABLISHED
					continue
				}
				_, remPort, _ := strings.Cut(fields[2], ":")
				if p, err := strconv.ParseUint(remPort, 16, 16); err == nil && int(p) == port && inodes[fields[9]] {
					f.Close()
					return true
				}
			}
			f.Close()
		}
		return false
	}, nil)
}
