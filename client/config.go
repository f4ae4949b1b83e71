package client

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/BurntSushi/toml"
	"github.com/metlog/metlog/message"
)

// Config configures a Client. The zero value is valid: it sends framed
// protobuf over UDP to a router on 127.0.0.1:5565, names the logger after
// the program, and filters nothing.
//
// A Config can be written in TOML (ParseConfig, LoadConfig) and overridden
// from the environment (ConfigFromEnv):
//
//	logger = "myapp"
//	disabled_timers = ["noisy.timer"]
//
//	[sender]
//	url = "tcp://127.0.0.1:5565"
//	encoder = "protobuf"
//	queue_bytes = 4194304
//
//	[sender.hmac]
//	signer = "ops"
//	key_version = 1
//	hash = "sha256"
//	# key: from METLOG_HMAC_KEY, read by ConfigFromEnv
//
//	[filter]
//	max_severity = "info"
//	types_deny = ["debugging"]
//	type_max_severity = { timer = 6 }
type Config struct {
	// Logger names the application or component; default: the program name.
	Logger string `toml:"logger"`
	// Hostname is sent in every message; default: os.Hostname().
	Hostname string `toml:"hostname"`
	// EnvVersion is the envelope version; default "0.8", as metlog-py sent.
	EnvVersion string `toml:"env_version"`
	// MaxMessageSize is the largest encoded message sent; larger ones are
	// dropped and counted. Default 64 KiB, the router's default limit.
	MaxMessageSize int `toml:"max_message_size"`
	// DisabledTimers lists timer names that send nothing; "*" disables all.
	DisabledTimers []string `toml:"disabled_timers"`
	// LeaveTimestamp sends messages built without a time (slog records with
	// a zero Time) with timestamp 0, for the router to stamp on receipt.
	// By default the client stamps them when they are sent.
	LeaveTimestamp bool `toml:"leave_timestamp"`

	Sender SenderConfig `toml:"sender"`
	Filter FilterConfig `toml:"filter"`

	// Output, when set, is used instead of building a sender from
	// Sender.URL. Sender.Encoder still chooses the encoding.
	Output Sender `toml:"-"`
	// Filters are called, in order, for each message that passes the
	// configured filters; any returning false drops it.
	Filters []FilterFunc `toml:"-"`
	// OnError, when set, is told about messages that could not be sent
	// (too large, queue full, write failures). It must not block.
	OnError func(error) `toml:"-"`
}

// SenderConfig says where and how messages are sent.
type SenderConfig struct {
	// URL is the destination:
	//   udp://host:port[,host:port...]  one datagram per message to each destination
	//   tcp://host:port                 a stream, reconnecting with backoff
	//   unix:///path/to.sock            a unix stream socket
	//   unixgram:///path/to.sock        a unix datagram socket
	//   stdout                          the process's standard output
	//   file:///path/to/file            appended to a file (file:relative/path too)
	// Default udp://127.0.0.1:5565. Tests capture messages in memory with
	// Config.Output and NewCapture instead.
	URL string `toml:"url"`
	// Encoder is "protobuf" (Heka framing, the default) or "json" (the
	// metlog-py envelope; a newline ends each message on streams).
	Encoder string `toml:"encoder"`
	// QueueBytes bounds the queue between the application and the network
	// writer; when it is full, messages are dropped and counted, unless
	// Block is set. Default 4 MiB.
	QueueBytes int `toml:"queue_bytes"`
	// Block makes a call wait for room in a full queue, up to BlockTimeout
	// (zero: without limit), instead of dropping.
	Block        bool          `toml:"block"`
	BlockTimeout time.Duration `toml:"block_timeout"`
	// ReconnectMin and ReconnectMax bound the exponential backoff, with
	// jitter, between connection attempts. Defaults 100ms and 10s.
	ReconnectMin time.Duration `toml:"reconnect_min"`
	ReconnectMax time.Duration `toml:"reconnect_max"`
	// Linger is how long the writer lets the queue fill after writing a
	// small batch, trading that much latency for larger writes and cheaper
	// calls under load. Default 1ms.
	Linger time.Duration `toml:"linger"`
	// WriteTimeout bounds one network write. Default 10s.
	WriteTimeout time.Duration `toml:"write_timeout"`
	// CloseTimeout bounds how long Close waits for the queue to drain.
	// Default 5s.
	CloseTimeout time.Duration `toml:"close_timeout"`
	// HMAC signs every framed message when Signer is set.
	HMAC HMACConfig `toml:"hmac"`
}

// HMACConfig names the key framed messages are signed with, as the
// router's verification expects: a signer name, a key version and a key.
type HMACConfig struct {
	Signer     string `toml:"signer"`
	KeyVersion uint32 `toml:"key_version"`
	Hash       string `toml:"hash"` // md5 (default, as Heka), sha1 or sha256
	Key        string `toml:"key"`
}

// FilterConfig drops messages on the client, before they are encoded.
type FilterConfig struct {
	// MaxSeverity drops messages less severe than it (numerically greater).
	MaxSeverity Level `toml:"max_severity"`
	// TypesAllow, when not empty, drops every type not listed.
	TypesAllow []string `toml:"types_allow"`
	// TypesDeny drops the types listed.
	TypesDeny []string `toml:"types_deny"`
	// TypeMaxSeverity sets a MaxSeverity per message type.
	TypeMaxSeverity map[string]Level `toml:"type_max_severity"`
}

// A Level is an optional severity, written in TOML as a number 0..7 or a
// name such as "warning".
type Level struct {
	Set   bool
	Value int32
}

// LevelOf returns a Level set to s.
func LevelOf(s int32) Level { return Level{Set: true, Value: s} }

// UnmarshalTOML reads a severity number or name.
func (l *Level) UnmarshalTOML(v any) error {
	switch v := v.(type) {
	case int64:
		if v < 0 || v > 7 {
			return fmt.Errorf("severity %d is not between 0 and 7", v)
		}
		*l = LevelOf(int32(v))
		return nil
	case string:
		s, err := message.ParseSeverity(v)
		if err != nil {
			return err
		}
		*l = LevelOf(s)
		return nil
	}
	return fmt.Errorf("severity must be a number 0..7 or a name, not %T", v)
}

// UnmarshalText reads a severity number or name.
func (l *Level) UnmarshalText(b []byte) error { return l.UnmarshalTOML(string(b)) }

// ParseConfig reads a Config from TOML text and validates it. Unknown keys
// are errors.
func ParseConfig(text string) (Config, error) {
	c, err := parseConfig(text)
	if err != nil {
		return Config{}, fmt.Errorf("client config: %w", err)
	}
	return c, nil
}

// LoadConfig reads a Config from a TOML file and validates it. Errors name
// the file, and syntax errors the line.
func LoadConfig(path string) (Config, error) {
	c, err := readConfig(path)
	if err == nil {
		if err = c.Validate(); err != nil {
			err = fmt.Errorf("%s: %w", path, err)
		}
	}
	if err != nil {
		return Config{}, fmt.Errorf("client config: %w", err)
	}
	return c, nil
}

// readConfig decodes a TOML file without validating it.
func readConfig(path string) (Config, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return Config{}, err // names the path
	}
	c, err := decodeConfig(string(b))
	if err != nil {
		return Config{}, fmt.Errorf("%s: %w", path, err)
	}
	return c, nil
}

func parseConfig(text string) (Config, error) {
	c, err := decodeConfig(text)
	if err != nil {
		return Config{}, err
	}
	if err := c.Validate(); err != nil {
		return Config{}, err
	}
	return c, nil
}

// decodeConfig decodes TOML text without validating it.
func decodeConfig(text string) (Config, error) {
	var c Config
	md, err := toml.Decode(text, &c)
	if err != nil {
		return Config{}, err
	}
	if und := md.Undecoded(); len(und) > 0 {
		keys := make([]string, len(und))
		for i, k := range und {
			keys[i] = k.String()
		}
		if len(keys) == 1 {
			return Config{}, fmt.Errorf("unknown key %s", keys[0])
		}
		return Config{}, fmt.Errorf("unknown keys %s", strings.Join(keys, ", "))
	}
	return c, nil
}

// The environment variables ConfigFromEnv reads.
const (
	EnvConfig         = "METLOG_CONFIG"          // a TOML file read first
	EnvSender         = "METLOG_SENDER"          // Sender.URL
	EnvEncoder        = "METLOG_ENCODER"         // Sender.Encoder
	EnvLogger         = "METLOG_LOGGER"          // Logger
	EnvHostname       = "METLOG_HOSTNAME"        // Hostname
	EnvQueueBytes     = "METLOG_QUEUE_BYTES"     // Sender.QueueBytes
	EnvBlock          = "METLOG_BLOCK"           // Sender.Block (true/false)
	EnvMaxSeverity    = "METLOG_MAX_SEVERITY"    // Filter.MaxSeverity
	EnvTypesAllow     = "METLOG_TYPES_ALLOW"     // Filter.TypesAllow, comma separated
	EnvTypesDeny      = "METLOG_TYPES_DENY"      // Filter.TypesDeny, comma separated
	EnvDisabledTimers = "METLOG_DISABLED_TIMERS" // DisabledTimers, comma separated
	EnvHMACSigner     = "METLOG_HMAC_SIGNER"     // Sender.HMAC.Signer
	EnvHMACKeyVersion = "METLOG_HMAC_KEY_VERSION"
	EnvHMACHash       = "METLOG_HMAC_HASH"
	EnvHMACKey        = "METLOG_HMAC_KEY"
)

// ConfigFromEnv builds a Config from the environment: the TOML file named by
// METLOG_CONFIG, if any, then the METLOG_* variables over it, and validates
// the result, so that the file may leave a value, such as the HMAC key, to a
// variable. A variable set to the empty string counts as unset. Errors name
// the variable.
func ConfigFromEnv() (Config, error) {
	return configFromLookup(os.LookupEnv)
}

func configFromLookup(lookup func(string) (string, bool)) (Config, error) {
	get := func(name string) (string, bool) {
		v, ok := lookup(name)
		return v, ok && v != ""
	}
	var c Config
	if path, ok := get(EnvConfig); ok {
		var err error
		if c, err = readConfig(path); err != nil {
			return Config{}, fmt.Errorf("client config: %s: %w", EnvConfig, err)
		}
	}
	var errs []error
	str := func(name string, dst *string) {
		if v, ok := get(name); ok {
			*dst = v
		}
	}
	list := func(name string, dst *[]string) {
		if v, ok := get(name); ok {
			*dst = nil
			for _, s := range strings.Split(v, ",") {
				if s = strings.TrimSpace(s); s != "" {
					*dst = append(*dst, s)
				}
			}
		}
	}
	str(EnvSender, &c.Sender.URL)
	str(EnvEncoder, &c.Sender.Encoder)
	str(EnvLogger, &c.Logger)
	str(EnvHostname, &c.Hostname)
	str(EnvHMACSigner, &c.Sender.HMAC.Signer)
	str(EnvHMACHash, &c.Sender.HMAC.Hash)
	str(EnvHMACKey, &c.Sender.HMAC.Key)
	list(EnvTypesAllow, &c.Filter.TypesAllow)
	list(EnvTypesDeny, &c.Filter.TypesDeny)
	list(EnvDisabledTimers, &c.DisabledTimers)
	if v, ok := get(EnvSender); ok {
		if _, err := parseSenderURL(v); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", EnvSender, err))
		}
	}
	if v, ok := get(EnvEncoder); ok && v != "protobuf" && v != "json" {
		errs = append(errs, fmt.Errorf("%s=%q: want protobuf or json", EnvEncoder, v))
	}
	if v, ok := get(EnvHMACHash); ok {
		if _, err := message.ParseHashFunction(v); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", EnvHMACHash, err))
		}
	}
	if v, ok := get(EnvQueueBytes); ok {
		n, err := strconv.Atoi(strings.TrimSpace(v))
		if err != nil || n <= 0 {
			errs = append(errs, fmt.Errorf("%s=%q: want a positive number of bytes", EnvQueueBytes, v))
		}
		c.Sender.QueueBytes = n
	}
	if v, ok := get(EnvBlock); ok {
		b, err := strconv.ParseBool(strings.TrimSpace(v))
		if err != nil {
			errs = append(errs, fmt.Errorf("%s=%q: want true or false", EnvBlock, v))
		}
		c.Sender.Block = b
	}
	if v, ok := get(EnvMaxSeverity); ok {
		if err := c.Filter.MaxSeverity.UnmarshalText([]byte(v)); err != nil {
			errs = append(errs, fmt.Errorf("%s=%q: %w", EnvMaxSeverity, v, err))
		}
	}
	if v, ok := get(EnvHMACKeyVersion); ok {
		n, err := strconv.ParseUint(strings.TrimSpace(v), 10, 32)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s=%q: want a key version number 0..4294967295", EnvHMACKeyVersion, v))
		}
		c.Sender.HMAC.KeyVersion = uint32(n)
	}
	if err := errors.Join(errs...); err != nil {
		return Config{}, fmt.Errorf("client config: %w", err)
	}
	if err := c.Validate(); err != nil {
		return Config{}, fmt.Errorf("client config: %w", err)
	}
	return c, nil
}

// Validate reports every problem with c in one error, without touching the
// network or the file system.
func (c *Config) Validate() error {
	var errs []error
	if c.Output == nil {
		if _, err := parseSenderURL(c.Sender.URL); err != nil {
			errs = append(errs, err)
		}
	}
	switch c.Sender.Encoder {
	case "", "protobuf", "json":
	default:
		errs = append(errs, fmt.Errorf("sender encoder %q is not protobuf or json", c.Sender.Encoder))
	}
	if c.Sender.QueueBytes < 0 {
		errs = append(errs, fmt.Errorf("sender queue_bytes %d is negative", c.Sender.QueueBytes))
	}
	if c.MaxMessageSize < 0 {
		errs = append(errs, fmt.Errorf("max_message_size %d is negative", c.MaxMessageSize))
	}
	for _, d := range [...]struct {
		name string
		d    time.Duration
	}{
		{"block_timeout", c.Sender.BlockTimeout}, {"reconnect_min", c.Sender.ReconnectMin},
		{"reconnect_max", c.Sender.ReconnectMax}, {"write_timeout", c.Sender.WriteTimeout},
		{"linger", c.Sender.Linger},
		{"close_timeout", c.Sender.CloseTimeout},
	} {
		if d.d < 0 {
			errs = append(errs, fmt.Errorf("sender %s %v is negative", d.name, d.d))
		}
	}
	if lo, hi := c.Sender.ReconnectMin, c.Sender.ReconnectMax; lo > 0 && hi > 0 && lo > hi {
		errs = append(errs, fmt.Errorf("sender reconnect_min %v is above reconnect_max %v", lo, hi))
	}
	if c.Sender.HMAC != (HMACConfig{}) {
		if _, err := c.signer(); err != nil {
			errs = append(errs, err)
		}
	}
	types := make([]string, 0, len(c.Filter.TypeMaxSeverity))
	for t := range c.Filter.TypeMaxSeverity {
		types = append(types, t)
	}
	slices.Sort(types)
	for _, t := range types {
		if l := c.Filter.TypeMaxSeverity[t]; !l.Set || l.Value < 0 || l.Value > 7 {
			errs = append(errs, fmt.Errorf("filter type_max_severity for %q is not a severity 0..7", t))
		}
	}
	if l := c.Filter.MaxSeverity; l.Set && (l.Value < 0 || l.Value > 7) {
		errs = append(errs, fmt.Errorf("filter max_severity %d is not a severity 0..7", l.Value))
	}
	return errors.Join(errs...)
}

// signer builds the HMAC signer the config names, or nil.
func (c *Config) signer() (*message.Signer, error) {
	h := c.Sender.HMAC
	if h == (HMACConfig{}) {
		return nil, nil
	}
	if h.Signer == "" || h.Key == "" {
		return nil, errors.New("sender hmac needs both a signer and a key")
	}
	fn := message.MD5
	if h.Hash != "" {
		var err error
		if fn, err = message.ParseHashFunction(h.Hash); err != nil {
			return nil, fmt.Errorf("sender hmac: %w", err)
		}
	}
	s, err := message.NewSigner(h.Signer, h.KeyVersion, fn, []byte(h.Key))
	if err != nil {
		return nil, fmt.Errorf("sender hmac: %w", err)
	}
	return s, nil
}

// withDefaults returns c with every unset value at its default.
func (c Config) withDefaults() Config {
	if c.Logger == "" {
		c.Logger = filepath.Base(os.Args[0])
	}
	if c.Hostname == "" {
		c.Hostname, _ = os.Hostname()
	}
	if c.EnvVersion == "" {
		c.EnvVersion = "0.8"
	}
	if c.MaxMessageSize == 0 {
		c.MaxMessageSize = message.DefaultMaxMessageSize
	}
	s := &c.Sender
	if s.URL == "" {
		s.URL = DefaultSenderURL
	}
	if s.Encoder == "" {
		s.Encoder = "protobuf"
	}
	if s.QueueBytes == 0 {
		s.QueueBytes = 4 << 20
	}
	if s.ReconnectMin == 0 {
		s.ReconnectMin = 100 * time.Millisecond
	}
	if s.ReconnectMax == 0 {
		s.ReconnectMax = 10 * time.Second
	}
	if s.Linger == 0 {
		s.Linger = time.Millisecond
	}
	if s.WriteTimeout == 0 {
		s.WriteTimeout = 10 * time.Second
	}
	if s.CloseTimeout == 0 {
		s.CloseTimeout = 5 * time.Second
	}
	return c
}

// DefaultSenderURL is where a Client sends when no sender is configured:
// the UDP input of metlogd's default configuration.
const DefaultSenderURL = "udp://127.0.0.1:5565"
