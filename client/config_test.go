package client

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

// fullTOML sets every key a Config reads.
const fullTOML = `
logger = "myapp"
hostname = "web1"
env_version = "0.9"
max_message_size = 32768
disabled_timers = ["noisy", "db.query"]
leave_timestamp = true

[sender]
url = "tcp://127.0.0.1:5566"
encoder = "json"
queue_bytes = 1048576
block = true
block_timeout = "250ms"
reconnect_min = "50ms"
reconnect_max = "30s"
write_timeout = "2s"
linger = "250us"
close_timeout = "1m"

[sender.hmac]
signer = "ops"
key_version = 2
hash = "sha256"
key = "s3cret"

[filter]
max_severity = 6
types_allow = ["counter", "timer", "oldstyle"]
types_deny = ["debugging"]
type_max_severity = { timer = 4, counter = "warning" }
`

// fullConfig is fullTOML as a Config.
var fullConfig = Config{
	Logger:         "myapp",
	Hostname:       "web1",
	EnvVersion:     "0.9",
	MaxMessageSize: 32768,
	DisabledTimers: []string{"noisy", "db.query"},
	LeaveTimestamp: true,
	Sender: SenderConfig{
		URL:          "tcp://127.0.0.1:5566",
		Encoder:      "json",
		QueueBytes:   1 << 20,
		Block:        true,
		BlockTimeout: 250 * time.Millisecond,
		ReconnectMin: 50 * time.Millisecond,
		ReconnectMax: 30 * time.Second,
		Linger:       250 * time.Microsecond,
		WriteTimeout: 2 * time.Second,
		CloseTimeout: time.Minute,
		HMAC:         HMACConfig{Signer: "ops", KeyVersion: 2, Hash: "sha256", Key: "s3cret"},
	},
	Filter: FilterConfig{
		MaxSeverity:     LevelOf(6),
		TypesAllow:      []string{"counter", "timer", "oldstyle"},
		TypesDeny:       []string{"debugging"},
		TypeMaxSeverity: map[string]Level{"timer": LevelOf(4), "counter": LevelOf(4)},
	},
}

func TestParseConfig(t *testing.T) {
	sender := func(s SenderConfig) Config { return Config{Sender: s} }
	maxSev := func(l int32) Config { return Config{Filter: FilterConfig{MaxSeverity: LevelOf(l)}} }
	for _, tc := range []struct {
		name, toml string
		want       Config
	}{
		{"empty", "", Config{}},
		{"comments only", "# nothing\n\n", Config{}},
		{"every key", fullTOML, fullConfig},
		{"max_severity 0", "[filter]\nmax_severity = 0", maxSev(0)},
		{"max_severity 7", "[filter]\nmax_severity = 7", maxSev(7)},
		{"max_severity name", `filter.max_severity = "notice"`, maxSev(5)},
		{"max_severity upper case", `filter.max_severity = "WARNING"`, maxSev(4)},
		{"max_severity syslog name", `filter.max_severity = "err"`, maxSev(3)},
		{"max_severity number as text", `filter.max_severity = "2"`, maxSev(2)},
		{"durations as nanoseconds", "[sender]\nblock_timeout = 1000000\nclose_timeout = 0",
			sender(SenderConfig{BlockTimeout: time.Millisecond})},
		{"udp fan-out", `sender.url = "udp://10.0.0.1:5565,10.0.0.2:5565,[::1]:5565"`,
			sender(SenderConfig{URL: "udp://10.0.0.1:5565,10.0.0.2:5565,[::1]:5565"})},
		{"unix", `sender.url = "unix:///run/metlog.sock"`, sender(SenderConfig{URL: "unix:///run/metlog.sock"})},
		{"unixgram", `sender.url = "unixgram:///run/metlog.dgram"`, sender(SenderConfig{URL: "unixgram:///run/metlog.dgram"})},
		{"file", `sender.url = "file:///var/log/app.metlog"`, sender(SenderConfig{URL: "file:///var/log/app.metlog"})},
		{"file relative", `sender.url = "file:logs/app.metlog"`, sender(SenderConfig{URL: "file:logs/app.metlog"})},
		{"stdout", `sender.url = "stdout"`, sender(SenderConfig{URL: "stdout"})},
		{"hmac with the default hash", "[sender.hmac]\nsigner = \"ops\"\nkey = \"k\"",
			sender(SenderConfig{HMAC: HMACConfig{Signer: "ops", Key: "k"}})},
		{"disable every timer", `disabled_timers = ["*"]`, Config{DisabledTimers: []string{"*"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseConfig(tc.toml)
			if err != nil {
				t.Fatalf("ParseConfig: %v", err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("ParseConfig:\n got %+v\nwant %+v", got, tc.want)
			}
		})
	}
}

func TestParseConfigErrors(t *testing.T) {
	const prefix = "client config: "
	for _, tc := range []struct{ toml, want string }{
		// Unknown keys are named in full.
		{"[sender]\nurll = \"udp://x:1\"", "unknown key sender.urll"},
		{"loger = \"x\"\n[sender.hmac]\nsignr = \"x\"", "unknown keys loger, sender.hmac.signr"},
		{"[filters]\nmax_severity = 3", "unknown keys filters, filters.max_severity"},
		// Wrong types.
		{"[sender]\nqueue_bytes = \"big\"", `toml: line 2 (last key "sender.queue_bytes"): incompatible types: TOML value has type string; destination has type integer`},
		{"[sender]\nblock = \"yes\"", `toml: line 2 (last key "sender.block"): incompatible types: TOML value has type string; destination has type boolean`},
		{`disabled_timers = "x"`, `toml: line 1 (last key "disabled_timers"): incompatible types: TOML value has type string; destination has type slice`},
		{"[filter]\ntypes_allow = [1, 2]", `toml: line 2 (last key "filter.types_allow"): incompatible types: TOML value has type int64; destination has type string`},
		{"[sender]\nblock_timeout = true", `toml: line 2 (last key "sender.block_timeout"): incompatible types: TOML value has type bool; destination has type integer`},
		{"[sender]\nblock_timeout = \"5 parsecs\"", `toml: line 2 (last key "sender.block_timeout"): invalid duration: "5 parsecs"`},
		{"[sender.hmac]\nkey_version = -1", `toml: line 2 (last key "sender.hmac.key_version"): -1 is out of range for uint32`},
		// Severities.
		{"[filter]\nmax_severity = 9", `toml: line 2 (last key "filter.max_severity"): severity 9 is not between 0 and 7`},
		{"[filter]\nmax_severity = -1", `toml: line 2 (last key "filter.max_severity"): severity -1 is not between 0 and 7`},
		{"[filter]\nmax_severity = \"loud\"", `toml: line 2 (last key "filter.max_severity"): severity "loud" is not a number 0..7 or one of emergency, alert, critical, error, warning, notice, info, debug`},
		{"[filter]\nmax_severity = 2.5", `toml: line 2 (last key "filter.max_severity"): severity must be a number 0..7 or a name, not float64`},
		{"[filter]\ntype_max_severity = { timer = 8 }", `toml: line 2 (last key "filter.type_max_severity.timer"): severity 8 is not between 0 and 7`},
		// Sender URLs.
		{`sender.url = "http://x"`, `sender url "http://x": scheme must be udp, tcp, unix, unixgram, file or stdout`},
		{`sender.url = "127.0.0.1:5565"`, `sender url "127.0.0.1:5565": scheme must be udp, tcp, unix, unixgram, file or stdout`},
		{`sender.url = "udp://nohostport"`, `sender url "udp://nohostport": "nohostport" is not host:port`},
		{`sender.url = "udp://a:1,nohostport"`, `sender url "udp://a:1,nohostport": "nohostport" is not host:port`},
		{`sender.url = "udp://"`, `sender url "udp://": want udp://host:port`},
		{`sender.url = "udp://h:99999"`, `sender url "udp://h:99999": "h:99999": port "99999" is not a number 1..65535`},
		{`sender.url = "tcp://h:"`, `sender url "tcp://h:": "h:": port "" is not a number 1..65535`},
		{`sender.url = "udp://h:1/x"`, `sender url "udp://h:1/x": a udp url takes only host:port pairs`},
		{`sender.url = "tcp://a:1,b:2"`, `sender url "tcp://a:1,b:2": tcp takes one destination; use several clients or udp for fan-out`},
		{`sender.url = "unix://"`, `sender url "unix://": no path`},
		{`sender.url = "unixgram://"`, `sender url "unixgram://": no path`},
		{`sender.url = "file://host/x"`, `sender url "file://host/x": want file:///absolute/path or file:relative/path`},
		// Other values.
		{`sender.encoder = "xml"`, `sender encoder "xml" is not protobuf or json`},
		{"max_message_size = -1\n[sender]\nqueue_bytes = -1", "sender queue_bytes -1 is negative\nmax_message_size -1 is negative"},
		{"[sender]\nblock_timeout = \"-1s\"\nclose_timeout = \"-2ms\"\nreconnect_min = -5\nwrite_timeout = \"-1h\"\nreconnect_max = \"-3s\"\nlinger = \"-1ms\"",
			"sender block_timeout -1s is negative\nsender reconnect_min -5ns is negative\nsender reconnect_max -3s is negative\n" +
				"sender write_timeout -1h0m0s is negative\nsender linger -1ms is negative\nsender close_timeout -2ms is negative"},
		{"[sender]\nreconnect_min = \"2s\"\nreconnect_max = \"1s\"", "sender reconnect_min 2s is above reconnect_max 1s"},
		// HMAC.
		{"[sender.hmac]\nsigner = \"ops\"", "sender hmac needs both a signer and a key"},
		{"[sender.hmac]\nkey = \"k\"", "sender hmac needs both a signer and a key"},
		{"[sender.hmac]\nhash = \"sha256\"\nkey_version = 2", "sender hmac needs both a signer and a key"},
		{"[sender.hmac]\nsigner = \"ops\"\nkey = \"k\"\nhash = \"sha512\"", `sender hmac: hash function "sha512" is not md5, sha1 or sha256`},
		{"[sender.hmac]\nsigner = \"" + strings.Repeat("s", 201) + "\"\nkey = \"k\"", "sender hmac: signer name is 201 bytes; at most 200 fit in a frame header"},
		// Every problem at once, in a fixed order.
		{"[sender]\nurl = \"http://x\"\nencoder = \"xml\"\n[filter]\ntype_max_severity = {}",
			"sender url \"http://x\": scheme must be udp, tcp, unix, unixgram, file or stdout\nsender encoder \"xml\" is not protobuf or json"},
		// Syntax.
		{"logger = \"a\"\nhostname = \"b", `toml: line 2 (last key "hostname"): unexpected EOF; expected '"'`},
	} {
		got, err := ParseConfig(tc.toml)
		if err == nil || err.Error() != prefix+tc.want {
			t.Errorf("ParseConfig(%q):\n got error %v\nwant %q", tc.toml, err, prefix+tc.want)
		}
		if !reflect.DeepEqual(got, Config{}) {
			t.Errorf("ParseConfig(%q) returned %+v with its error", tc.toml, got)
		}
	}
}

// Validate checks configs built in Go too, which TOML decoding cannot.
func TestValidate(t *testing.T) {
	for _, tc := range []struct {
		cfg  Config
		want string
	}{
		{Config{}, ""},
		{Config{Output: NewCapture(), Sender: SenderConfig{URL: "not a url"}}, ""}, // the URL is not used
		{Config{Filter: FilterConfig{MaxSeverity: Level{Set: true, Value: 8}}}, "filter max_severity 8 is not a severity 0..7"},
		{Config{Filter: FilterConfig{MaxSeverity: Level{Value: 8}}}, ""}, // not set
		{Config{Filter: FilterConfig{TypeMaxSeverity: map[string]Level{"b": {}, "a": LevelOf(-1), "c": LevelOf(3)}}},
			"filter type_max_severity for \"a\" is not a severity 0..7\nfilter type_max_severity for \"b\" is not a severity 0..7"},
	} {
		err := tc.cfg.Validate()
		if got := errString(err); got != tc.want {
			t.Errorf("Validate(%+v) = %q, want %q", tc.cfg, got, tc.want)
		}
	}
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// New fills in every value a Config leaves unset.
func TestConfigDefaults(t *testing.T) {
	host, _ := os.Hostname()
	got := Config{}.withDefaults()
	want := Config{
		Logger:         filepath.Base(os.Args[0]),
		Hostname:       host,
		EnvVersion:     "0.8",
		MaxMessageSize: 64 << 10,
		Sender: SenderConfig{
			URL: "udp://127.0.0.1:5565", Encoder: "protobuf", QueueBytes: 4 << 20,
			ReconnectMin: 100 * time.Millisecond, ReconnectMax: 10 * time.Second,
			WriteTimeout: 10 * time.Second, CloseTimeout: 5 * time.Second, Linger: time.Millisecond,
		},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Config{}.withDefaults():\n got %+v\nwant %+v", got, want)
	}
	if again := fullConfig.withDefaults(); !reflect.DeepEqual(again, fullConfig) {
		t.Errorf("withDefaults changed a full config:\n got %+v\nwant %+v", again, fullConfig)
	}
}

// The sender New builds follows the config.
func TestConfigSender(t *testing.T) {
	cfg := fullConfig
	cfg.Sender.URL = "tcp://127.0.0.1:1"
	cfg.Sender.CloseTimeout = time.Millisecond
	c, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	s := c.sender.(*asyncSender)
	if s.limit != 1<<20 || !s.block || s.blockTO != 250*time.Millisecond || s.minWait != 50*time.Millisecond ||
		s.maxWait != 30*time.Second || s.closeTO != time.Millisecond {
		t.Errorf("sender %+v does not follow %+v", s, cfg.Sender)
	}
	if tr := s.t.(*streamTransport); tr.network != "tcp" || tr.addr != "127.0.0.1:1" || tr.timeout != 2*time.Second {
		t.Errorf("transport %+v does not follow %+v", tr, cfg.Sender)
	}
	if c.signer == nil || c.signer.Name() != "ops" || c.encoding != encJSONStream || c.logger != "myapp" ||
		c.hostname != "web1" || c.envVersion != "0.9" || !c.leaveTS || !c.filter.active {
		t.Errorf("client does not follow the config: %+v", c)
	}
	_ = c.Close()
}

func writeFile(t *testing.T, name, text string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestLoadConfig(t *testing.T) {
	got, err := LoadConfig(writeFile(t, "full.toml", fullTOML))
	if err != nil || !reflect.DeepEqual(got, fullConfig) {
		t.Errorf("LoadConfig = %+v, %v; want %+v", got, err, fullConfig)
	}

	missing := filepath.Join(t.TempDir(), "missing.toml")
	for _, tc := range []struct{ path, want string }{
		{missing, "client config: open " + missing + ": no such file or directory"},
	} {
		if _, err := LoadConfig(tc.path); errString(err) != tc.want {
			t.Errorf("LoadConfig(%s) = %v, want %q", tc.path, err, tc.want)
		}
	}
	for _, tc := range []struct{ text, want string }{
		{"logger = \"a\"\n\n[sender]\nurl = udp://x:1\n", `toml: line 4 (last key "sender.url"): expected value but found "udp" instead`},
		{"logger = \"a\"\nlogger = \"b\"\n", `toml: line 2 (last key "logger"): Key 'logger' has already been defined.`},
		{"[sender]\nurll = \"x\"\n", "unknown key sender.urll"},
		{"[sender]\nencoder = \"xml\"\n", `sender encoder "xml" is not protobuf or json`},
	} {
		path := writeFile(t, "bad.toml", tc.text)
		want := "client config: " + path + ": " + tc.want
		if _, err := LoadConfig(path); errString(err) != want {
			t.Errorf("LoadConfig(%q) = %v, want %q", tc.text, err, want)
		}
	}
}

var envVars = []string{
	EnvConfig, EnvSender, EnvEncoder, EnvLogger, EnvHostname, EnvQueueBytes, EnvBlock, EnvMaxSeverity,
	EnvTypesAllow, EnvTypesDeny, EnvDisabledTimers, EnvHMACSigner, EnvHMACKeyVersion, EnvHMACHash, EnvHMACKey,
}

// setEnv clears every METLOG_ variable, then sets those in vars, for the
// duration of the test.
func setEnv(t *testing.T, vars map[string]string) {
	t.Helper()
	for _, k := range envVars {
		t.Setenv(k, "") // restored after the test
		os.Unsetenv(k)
	}
	for k, v := range vars {
		t.Setenv(k, v)
	}
}

func TestConfigFromEnv(t *testing.T) {
	file := writeFile(t, "metlog.toml", fullTOML)
	every := map[string]string{
		EnvSender:         "udp://10.0.0.1:5565,10.0.0.2:5565",
		EnvEncoder:        "protobuf",
		EnvLogger:         "envapp",
		EnvHostname:       "envhost",
		EnvQueueBytes:     " 65536 ",
		EnvBlock:          "false",
		EnvMaxSeverity:    "warning",
		EnvTypesAllow:     "counter, timer,,gauge ",
		EnvTypesDeny:      "sentry",
		EnvDisabledTimers: "a,b",
		EnvHMACSigner:     "envsigner",
		EnvHMACKeyVersion: "7",
		EnvHMACHash:       "sha1",
		EnvHMACKey:        "envkey",
	}
	// What every variable sets, over fullConfig or the zero Config.
	override := func(c Config) Config {
		c.Sender.URL = "udp://10.0.0.1:5565,10.0.0.2:5565"
		c.Sender.Encoder = "protobuf"
		c.Logger = "envapp"
		c.Hostname = "envhost"
		c.Sender.QueueBytes = 65536
		c.Sender.Block = false
		c.Filter.MaxSeverity = LevelOf(4)
		c.Filter.TypesAllow = []string{"counter", "timer", "gauge"}
		c.Filter.TypesDeny = []string{"sentry"}
		c.DisabledTimers = []string{"a", "b"}
		c.Sender.HMAC = HMACConfig{Signer: "envsigner", KeyVersion: 7, Hash: "sha1", Key: "envkey"}
		return c
	}
	with := func(m map[string]string, kv ...string) map[string]string {
		out := map[string]string{}
		for k, v := range m {
			out[k] = v
		}
		for i := 0; i < len(kv); i += 2 {
			out[kv[i]] = kv[i+1]
		}
		return out
	}
	keyless := writeFile(t, "keyless.toml", "logger = \"fromfile\"\n[sender.hmac]\nsigner = \"ops\"\nhash = \"sha256\"\n")
	fileURL := fullConfig
	fileURL.Sender.URL = "unix:///run/metlog.sock"

	for _, tc := range []struct {
		name string
		env  map[string]string
		want Config
	}{
		{"nothing", nil, Config{}},
		{"every variable", every, override(Config{})},
		{"file only", map[string]string{EnvConfig: file}, fullConfig},
		{"variables over the file", with(every, EnvConfig, file), override(fullConfig)},
		{"one variable over the file", map[string]string{EnvConfig: file, EnvSender: "unix:///run/metlog.sock"}, fileURL},
		{"empty variables are unset", map[string]string{EnvConfig: file, EnvSender: "", EnvBlock: "", EnvTypesDeny: "", EnvQueueBytes: ""}, fullConfig},
		{"a list of separators is empty", map[string]string{EnvConfig: file, EnvTypesDeny: " , "},
			func() Config { c := fullConfig; c.Filter.TypesDeny = nil; return c }()},
		{"severity by number", map[string]string{EnvMaxSeverity: "3"}, Config{Filter: FilterConfig{MaxSeverity: LevelOf(3)}}},
		{"block", map[string]string{EnvBlock: "1"}, Config{Sender: SenderConfig{Block: true}}},
		{"the key from the environment completes the file", map[string]string{EnvConfig: keyless, EnvHMACKey: "k"},
			Config{Logger: "fromfile", Sender: SenderConfig{HMAC: HMACConfig{Signer: "ops", Hash: "sha256", Key: "k"}}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			setEnv(t, tc.env)
			got, err := ConfigFromEnv()
			if err != nil {
				t.Fatalf("ConfigFromEnv: %v", err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("ConfigFromEnv:\n got %+v\nwant %+v", got, tc.want)
			}
		})
	}
}

func TestConfigFromEnvErrors(t *testing.T) {
	bad := writeFile(t, "bad.toml", "[sender]\nurll = \"x\"\n")
	missing := filepath.Join(t.TempDir(), "missing.toml")
	keyless := writeFile(t, "keyless.toml", "[sender.hmac]\nsigner = \"ops\"\n")
	for _, tc := range []struct {
		env  map[string]string
		want string
	}{
		{map[string]string{EnvQueueBytes: "abc"}, `METLOG_QUEUE_BYTES="abc": want a positive number of bytes`},
		{map[string]string{EnvQueueBytes: "0"}, `METLOG_QUEUE_BYTES="0": want a positive number of bytes`},
		{map[string]string{EnvQueueBytes: "-5"}, `METLOG_QUEUE_BYTES="-5": want a positive number of bytes`},
		{map[string]string{EnvBlock: "maybe"}, `METLOG_BLOCK="maybe": want true or false`},
		{map[string]string{EnvMaxSeverity: "loud"}, `METLOG_MAX_SEVERITY="loud": severity "loud" is not a number 0..7 or one of emergency, alert, critical, error, warning, notice, info, debug`},
		{map[string]string{EnvMaxSeverity: "9"}, `METLOG_MAX_SEVERITY="9": severity "9" is not a number 0..7 or one of emergency, alert, critical, error, warning, notice, info, debug`},
		{map[string]string{EnvHMACKeyVersion: "-1"}, `METLOG_HMAC_KEY_VERSION="-1": want a key version number 0..4294967295`},
		{map[string]string{EnvHMACKeyVersion: "4294967296"}, `METLOG_HMAC_KEY_VERSION="4294967296": want a key version number 0..4294967295`},
		{map[string]string{EnvSender: "http://x"}, `METLOG_SENDER: sender url "http://x": scheme must be udp, tcp, unix, unixgram, file or stdout`},
		{map[string]string{EnvEncoder: "xml"}, `METLOG_ENCODER="xml": want protobuf or json`},
		{map[string]string{EnvHMACHash: "sha512", EnvHMACSigner: "s", EnvHMACKey: "k"}, `METLOG_HMAC_HASH: hash function "sha512" is not md5, sha1 or sha256`},
		{map[string]string{EnvConfig: bad}, "METLOG_CONFIG: " + bad + ": unknown key sender.urll"},
		{map[string]string{EnvConfig: missing}, "METLOG_CONFIG: open " + missing + ": no such file or directory"},
		// The result is validated once the variables are applied.
		{map[string]string{EnvConfig: keyless}, "sender hmac needs both a signer and a key"},
		{map[string]string{EnvHMACSigner: "ops"}, "sender hmac needs both a signer and a key"},
		// Every bad variable is reported.
		{map[string]string{EnvBlock: "maybe", EnvQueueBytes: "abc"}, "METLOG_QUEUE_BYTES=\"abc\": want a positive number of bytes\nMETLOG_BLOCK=\"maybe\": want true or false"},
	} {
		setEnv(t, tc.env)
		got, err := ConfigFromEnv()
		if want := "client config: " + tc.want; errString(err) != want {
			t.Errorf("ConfigFromEnv with %v:\n got error %v\nwant %q", tc.env, err, want)
		}
		if !reflect.DeepEqual(got, Config{}) {
			t.Errorf("ConfigFromEnv with %v returned %+v with its error", tc.env, got)
		}
	}
}
