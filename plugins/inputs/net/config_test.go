package netin

import (
	"os"
	"strings"
	"testing"

	"github.com/metlog/metlog/pipeline/pipelinetest"
)

// TestConfigErrors checks that bad settings fail at load, naming the key.
func TestConfigErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  string
		want string
	}{
		{"tcp-format", "type = \"tcp_input\"\nformat = \"xml\"", `[in] format: "xml" is not heka, auto, metlog, json, auto_json or plain`},
		{"udp-format", "type = \"udp_input\"\nformat = \"auto_xml\"", `[in] format: "auto_xml" is not auto`},
		{"tcp-address", "type = \"tcp_input\"\naddress = \"localhost\"", `[in] address: "localhost" is not host:port`},
		{"tcp-port", "type = \"tcp_input\"\naddress = \"localhost:http\"", `[in] address: port "http"`},
		{"udp-address", "type = \"udp_input\"\naddress = \"\"", `[in] address: must be host:port`},
		{"max-line-heka", "type = \"tcp_input\"\nmax_line = 100", "[in] max_line: only the line formats"},
		{"max-size", "type = \"tcp_input\"\nmax_message_size = 10", "[in] max_message_size: 10 bytes is outside 256 B .. 64 MiB"},
		{"udp-max-size", "type = \"udp_input\"\nmax_message_size = \"1GiB\"", "[in] max_message_size: 1073741824 bytes is outside"},
		{"max-connections", "type = \"tcp_input\"\nmax_connections = 0", "[in] max_connections: 0 is not between 1 and"},
		{"idle-timeout", "type = \"tcp_input\"\nidle_timeout = \"-1s\"", "[in] idle_timeout: must not be negative"},
		{"readers", "type = \"udp_input\"\nreaders = 0", "[in] readers: 0 is not between 1 and 64"},
		{"receive-buffer", "type = \"udp_input\"\nreceive_buffer = \"2GiB\"", "[in] receive_buffer: 2147483648 bytes is outside"},
		{"signer-name", "type = \"tcp_input\"\n[in.signers]\nops = \"k\"", `[in] signers: "ops" is not "<signer>_<version>"`},
		{"signer-version", "type = \"udp_input\"\n[in.signers]\nops_x = \"k\"", `[in] signers: "ops_x" is not`},
		{"signer-version-range", "type = \"udp_input\"\n[in.signers]\nops_4294967296 = \"k\"", `[in] signers: "ops_4294967296" is not`},
		{"signer-empty-key", "type = \"tcp_input\"\n[in.signers]\nops_1 = \"\"", `[in] signers: the key of "ops_1" is empty`},
		{"signer-table-key", "type = \"tcp_input\"\n[in.signers.ops_1]\nkey = \"k\"", `a signer table takes only hmac_key, not "key"`},
		{"signer-number", "type = \"tcp_input\"\n[in.signers]\nops_1 = 5", "a signer's key must be a string"},
		{"signers-lines", "type = \"tcp_input\"\nformat = \"json\"\n[in.signers]\nops_1 = \"k\"", `[in] signers: only Heka frames are signed; format "json"`},
		{"require-signed-lines", "type = \"unix_input\"\naddress = \"/tmp/x.sock\"\nformat = \"plain\"\nrequire_signed = true", "[in] require_signed: only Heka frames are signed"},
		{"require-signed-udp", "type = \"udp_input\"\nformat = \"metlog\"\nrequire_signed = true", "[in] require_signed: only framed messages are signed"},
		{"tls-key", "type = \"tcp_input\"\n[in.tls]\ncert_file = \"/x.crt\"", "[in] tls.cert_file: a server needs cert_file and key_file"},
		{"tls-missing-file", "type = \"tcp_input\"\n[in.tls]\ncert_file = \"/nonexistent.crt\"\nkey_file = \"/nonexistent.key\"", "[in] tls.cert_file: open /nonexistent.crt"},
		{"tls-client-auth", "type = \"tcp_input\"\n[in.tls]\ncert_file = \"/x.crt\"\nkey_file = \"/x.key\"\nclient_auth = \"require\"", `[in] tls.client_auth: "require" needs ca_file`},
		{"unix-address", "type = \"unix_input\"", "[in] address: a unix_input needs the path of its socket"},
		{"unix-long-path", "type = \"unix_input\"\naddress = \"/" + strings.Repeat("x", 200) + "\"", "[in] address: a unix socket path is at most 103 bytes"},
		{"unix-mode", "type = \"unix_input\"\naddress = \"/tmp/x.sock\"\nsocket_mode = \"999\"", `[in] socket_mode: "999" is not octal`},
		{"tcp-socket-mode", "type = \"tcp_input\"\nsocket_mode = \"0600\"", "[in] socket_mode: unknown key"},
		{"udp-tls", "type = \"udp_input\"\n[in.tls]\ncert_file = \"x\"", "[in] tls: unknown key"},
		{"typo", "type = \"udp_input\"\nadress = \"127.0.0.1:1\"", `[in] adress: unknown key (did you mean "address"?)`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := pipelinetest.Parse(t, "[in]\n"+tc.cfg+"\n")
			if err == nil {
				t.Fatal("the configuration loaded")
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error:\n%v\nwant it to contain:\n%s", err, tc.want)
			}
		})
	}
}

// TestDefaults checks that every input listens on loopback by default and
// that the defaults load.
func TestDefaults(t *testing.T) {
	if a := NewUDP().Address; a != "127.0.0.1:5565" {
		t.Fatal(a)
	}
	if a := NewTCP().Address; a != "127.0.0.1:5565" {
		t.Fatal(a)
	}
	for _, typ := range []string{"udp_input", "tcp_input"} {
		if _, err := pipelinetest.Parse(t, "[in]\ntype = \""+typ+"\"\n"); err != nil {
			t.Fatal(err)
		}
	}
}

// TestSample checks that sample.toml loads and starts (on free ports and
// a temporary socket path) and receives on each input.
func TestSample(t *testing.T) {
	b, err := os.ReadFile("sample.toml")
	if err != nil {
		t.Fatal(err)
	}
	cfg := string(b)
	sock := socketPath(t)
	cfg = strings.ReplaceAll(cfg, "127.0.0.1:5565", "127.0.0.1:0")
	cfg = strings.ReplaceAll(cfg, "127.0.0.1:5566", "127.0.0.1:0")
	cfg = strings.ReplaceAll(cfg, "/run/metlog/metlogd.sock", sock)
	if _, err := pipelinetest.Parse(t, cfg); err != nil {
		t.Fatal(err)
	}
	p, out := runInput(t, cfg)
	n := 0
	for _, s := range p.Config().Sections {
		switch s.Type {
		case "udp_input", "tcp_input":
			network := strings.TrimSuffix(s.Type, "_input")
			msg := sentinel()
			if tcp, ok := s.Plugin.(*TCP); ok && tcp.Format != formatHeka {
				msg = sentinelLine()
			}
			write(t, dial(t, network, addrOf(t, p, s.Name)), msg)
			n++
		case "unix_input":
			write(t, dial(t, "unix", sock), sentinel())
			n++
		}
	}
	if n < 3 {
		t.Fatalf("the sample has %d inputs", n)
	}
	out.Wait(t, n)
}
