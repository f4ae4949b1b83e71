package test

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// runMetlogd runs metlogd to completion (for -check and start failures).
func runMetlogd(t *testing.T, dir string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	needBinaries(t)
	cmd := exec.Command(bin.metlogd, args...)
	cmd.Dir = dir
	cmd.Env = cleanEnv()
	var out, errb strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	return exitCode(err), out.String(), errb.String()
}

// `metlog check` and `metlogd -check` agree on good and bad configurations:
// the same "ok" line and exit 0, or every problem with its file and line
// and exit 1. A configuration that does not load, or does not start,
// keeps metlogd from running (exit 1, saying why).
func TestCheckConfigurations(t *testing.T) {
	t.Parallel()
	needBinaries(t)
	dir := t.TempDir()
	write := func(name, text string) string {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	certs := makePKI(t, dir, "")
	good := write("good.toml", fmt.Sprintf(`[metlogd]
data_dir = "./data"

[tcp]
type = "tcp_input"
address = "127.0.0.1:0"

[tcp.tls]
cert_file = %q
key_file = %q

[udp]
type = "udp_input"

[out]
type = "file_output"
message_matcher = "Severity <= 4"
path = "./data/out.jsonl"
`, certs.serverCert, certs.serverKey))
	bad := write("bad.toml", `[metlogd]
log_level = "loud"

[a]
type = "file_outptu"

[b]
type = "file_output"
path = "out.jsonl"
message_matcher = "Severity < "

[c]
type = "tcp_input"
adress = "127.0.0.1:5565"

[d]
type = "tcp_output"
message_matcher = "TRUE"
address = "127.0.0.1:5565"

[d.tls]
ca_file = "/nonexistent/ca.crt"
`)
	write("conf.d/10-in.toml", "[in]\ntype = \"udp_input\"\n")
	write("conf.d/20-out.toml", "[out]\ntype = \"stdout_output\"\nmessage_matcher = \"TRUE\"\n")
	confDir := filepath.Join(dir, "conf.d")

	for _, tc := range []struct {
		path string
		ok   string
	}{
		{good, good + ": ok (2 inputs, 0 filters, 1 outputs)\n"},
		{confDir, confDir + ": ok (1 inputs, 0 filters, 1 outputs)\n"},
	} {
		code, out, errOut := runMetlog(t, dir, nil, "check", tc.path)
		if code != 0 || out != tc.ok || errOut != "" {
			t.Errorf("metlog check %s: exit %d\nstdout %q\nstderr %q\nwant %q", tc.path, code, out, errOut, tc.ok)
		}
		code, out, errOut = runMetlogd(t, dir, "-check", tc.path)
		if code != 0 || out != tc.ok || errOut != "" {
			t.Errorf("metlogd -check %s: exit %d\nstdout %q\nstderr %q\nwant %q", tc.path, code, out, errOut, tc.ok)
		}
	}
	if code, out, errOut := runMetlog(t, dir, nil, "check", "-q", good); code != 0 || out+errOut != "" {
		t.Errorf("metlog check -q: %d %q %q", code, out, errOut)
	}

	problems := []string{
		bad + `:2: [metlogd] log_level: "loud" is not debug, info, warn or error`,
		bad + `:5: [a] type: there is no plugin of type "file_outptu" (did you mean "file_output"?)`,
		bad + `:10: [b] message_matcher: matcher: column 12: expected a value after '<', found end of input`,
		bad + `:14: [c] adress: unknown key (did you mean "address"?)`,
		bad + `:22: [d] tls.ca_file: open /nonexistent/ca.crt: no such file or directory`,
	}
	for _, run := range []func() (int, string, string){
		func() (int, string, string) { return runMetlog(t, dir, nil, "check", bad) },
		func() (int, string, string) { return runMetlogd(t, dir, "-check", bad) },
		func() (int, string, string) { return runMetlogd(t, dir, "-config", bad) },
	} {
		code, out, errOut := run()
		if code != 1 || out != "" {
			t.Errorf("bad configuration: exit %d, stdout %q; want 1 and nothing", code, out)
		}
		for _, p := range problems {
			if !strings.Contains(errOut, p) {
				t.Errorf("stderr does not report %q:\n%s", p, errOut)
			}
		}
		if n := len(regexp.MustCompile(`(?m)^`+regexp.QuoteMeta(bad)+`:\d+: `).FindAllString(errOut, -1)); n != len(problems) {
			t.Errorf("%d problems reported, want %d:\n%s", n, len(problems), errOut)
		}
	}
	_, _, errOut := runMetlogd(t, dir, "-config", bad)
	if !strings.HasPrefix(errOut, "metlogd: the configuration is not valid:\n") {
		t.Errorf("metlogd -config with a bad file says:\n%s", errOut)
	}
	_, _, errOut = runMetlog(t, dir, nil, "check", bad)
	if !strings.HasSuffix(errOut, bad+": 5 problems\n") {
		t.Errorf("metlog check does not end with the count:\n%s", errOut)
	}

	// A missing file; several files, one bad.
	code, _, errOut := runMetlog(t, dir, nil, "check", filepath.Join(dir, "missing.toml"))
	if code != 1 || !strings.Contains(errOut, "missing.toml: cannot read the configuration") {
		t.Errorf("missing file: %d %s", code, errOut)
	}
	code, out, errOut := runMetlog(t, dir, nil, "check", good, bad)
	if code != 1 || !strings.Contains(out, good+": ok") || !strings.Contains(errOut, problems[0]) {
		t.Errorf("good and bad: %d\n%s\n%s", code, out, errOut)
	}

	// A valid configuration that cannot start (its port is taken): exit 1,
	// saying which plugin and why.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	taken := write("taken.toml", fmt.Sprintf("[metlogd]\ndata_dir = \"./data\"\nhttp_listen = \"127.0.0.1:0\"\n\n[tcp]\ntype = \"tcp_input\"\naddress = %q\n", ln.Addr()))
	if code, out, _ := runMetlogd(t, dir, "-check", taken); code != 0 {
		t.Errorf("-check of a configuration whose port is taken: %d %s (check must not listen)", code, out)
	}
	code, _, errOut = runMetlogd(t, dir, "-config", taken)
	if code != 1 || !strings.Contains(errOut, "metlogd: start [tcp] (tcp_input):") || !strings.Contains(errOut, "address already in use") {
		t.Errorf("metlogd on a taken port: exit %d\n%s", code, errOut)
	}
}
