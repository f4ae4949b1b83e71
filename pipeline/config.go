package pipeline

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/BurntSushi/toml"
	"github.com/metlog/metlog/matcher"
)

// Global is the [metlogd] section: settings of the router as a whole.
type Global struct {
	// MaxMessageSize bounds every message an input accepts, in bytes
	// (default 64 KiB, as Heka).
	MaxMessageSize ByteSize `toml:"max_message_size"`
	// QueueSize is the default capacity, in messages, of each filter's and
	// output's queue (default 10000).
	QueueSize int `toml:"queue_size"`
	// BatchSize is the default number of messages an output is handed at
	// once (default 1000).
	BatchSize int `toml:"batch_size"`
	// DataDir holds files and state (default ./metlog-data).
	DataDir string `toml:"data_dir"`
	// Hostname names this router in its own messages (default the
	// machine's host name).
	Hostname string `toml:"hostname"`
	// HTTPListen is where metrics, status, the live tap and HTTP inputs
	// are served (default 127.0.0.1:4352; "" turns the listener off).
	HTTPListen string `toml:"http_listen"`
	// ShutdownTimeout bounds how long SIGTERM waits for queues to drain
	// (default 10s).
	ShutdownTimeout time.Duration `toml:"shutdown_timeout"`
	// MaxLoops is how many filters a message may pass through, injected
	// from one to the next, before it is dropped (default 4).
	MaxLoops int `toml:"max_loops"`
	// LogLevel is debug, info, warn or error (default info); LogFormat is
	// text or json (default text).
	LogLevel  string `toml:"log_level"`
	LogFormat string `toml:"log_format"`
}

func defaultGlobal() Global {
	host, _ := os.Hostname()
	return Global{
		MaxMessageSize:  64 << 10,
		QueueSize:       10000,
		BatchSize:       1000,
		DataDir:         "./metlog-data",
		Hostname:        host,
		HTTPListen:      "127.0.0.1:4352",
		ShutdownTimeout: 10 * time.Second,
		MaxLoops:        4,
		LogLevel:        "info",
		LogFormat:       "text",
	}
}

// common holds the keys of a section that the pipeline, not the plugin,
// interprets.
type common struct {
	Type           string        `toml:"type"`
	MessageMatcher string        `toml:"message_matcher"`
	Encoder        string        `toml:"encoder"`
	QueueSize      int           `toml:"queue_size"`
	WhenFull       string        `toml:"when_full"`
	BatchSize      int           `toml:"batch_size"`
	BatchWait      time.Duration `toml:"batch_wait"`
	RetryMin       time.Duration `toml:"retry_min"`
	RetryMax       time.Duration `toml:"retry_max"`
	TickerInterval time.Duration `toml:"ticker_interval"`
}

// which kinds take each common key, for error messages.
var commonKeys = map[string][]Kind{
	"type":            {KindInput, KindFilter, KindOutput},
	"message_matcher": {KindFilter, KindOutput},
	"encoder":         {KindOutput},
	"queue_size":      {KindFilter, KindOutput},
	"when_full":       {KindFilter, KindOutput},
	"batch_size":      {KindFilter, KindOutput},
	"batch_wait":      {KindFilter, KindOutput},
	"retry_min":       {KindOutput},
	"retry_max":       {KindOutput},
	"ticker_interval": {KindFilter},
}

// Config is a loaded and validated configuration.
type Config struct {
	Global   Global
	Sections []*Section // in the order they were written
	Files    []string   // the files it came from
}

// Section is one plugin instance of a configuration.
type Section struct {
	Name   string
	Type   string
	Kind   Kind
	File   string
	Line   int
	Plugin any              // the plugin instance, decoded, validated, not started
	Match  *matcher.Matcher // filters and outputs
	common common
	print  string // the configuration in canonical form, to tell changes on reload
}

// EncoderUser is implemented by outputs that write bytes and so take an
// encoder; DefaultEncoder names the one used when the section sets none.
type EncoderUser interface {
	DefaultEncoder() string
}

// LoadConfig reads a configuration from a TOML file, or from every *.toml
// file of a directory, merged in name order. It reports every problem it
// finds, as ConfigErrors.
func LoadConfig(path string) (*Config, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, ConfigErrors{{File: path, Msg: "cannot read the configuration: " + plainError(err)}}
	}
	files := []string{path}
	if st.IsDir() {
		files, err = filepath.Glob(filepath.Join(path, "*.toml"))
		if err != nil {
			return nil, err
		}
		sort.Strings(files)
		if len(files) == 0 {
			return nil, ConfigErrors{{File: path, Msg: "the directory holds no *.toml files"}}
		}
	}
	texts := make([]string, len(files))
	for i, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, ConfigErrors{{File: f, Msg: "cannot read the configuration: " + plainError(err)}}
		}
		texts[i] = string(b)
	}
	return ParseConfig(files, texts)
}

// ParseConfig reads a configuration from TOML texts, as if from the named
// files in that order.
func ParseConfig(files, texts []string) (*Config, error) {
	c := &Config{Global: defaultGlobal(), Files: files}
	var errs ConfigErrors
	seen := map[string]*Section{}
	globalSeen := ""
	globalLoc := func(section, key string) *ConfigError { return &ConfigError{Section: section, Key: key} }
	for i, text := range texts {
		file := files[i]
		text, envErrs := substituteEnv(file, text)
		errs = append(errs, envErrs...)
		var sections map[string]toml.Primitive
		md, err := toml.Decode(text, &sections)
		if err != nil {
			errs = append(errs, syntaxError(file, err))
			continue
		}
		lines := indexLines(text)
		loc := func(section, key string) *ConfigError {
			line := lines[section]
			if key != "" {
				if l, ok := lines[section+"."+key]; ok {
					line = l
				}
			}
			return &ConfigError{File: file, Line: line, Section: section, Key: key}
		}
		for _, name := range tableOrder(md) {
			if md.Type(name) != "Hash" {
				e := loc("", "")
				e.Line, e.Key = lines[name], name
				e.Msg = "settings must be inside a [section]; this key is at the top of the file"
				errs = append(errs, e)
				continue
			}
			if name == "metlogd" {
				if globalSeen != "" {
					e := loc(name, "")
					e.Msg = "the [metlogd] section is also in " + globalSeen
					errs = append(errs, e)
				}
				globalSeen, globalLoc = file, loc
				errs = append(errs, decodeKeys(md, sections[name], name, "the [metlogd] section", loc, &c.Global)...)
				continue
			}
			if prev, dup := seen[name]; dup {
				e := loc(name, "")
				e.Msg = fmt.Sprintf("a section of this name is already in %s:%d", prev.File, prev.Line)
				errs = append(errs, e)
				continue
			}
			s, serrs := parseSection(md, sections[name], name, file, lines[name], loc)
			errs = append(errs, serrs...)
			if s != nil {
				seen[name] = s
				c.Sections = append(c.Sections, s)
			}
		}
	}
	errs = append(errs, c.Global.validate(globalLoc)...)
	if len(errs) > 0 {
		sortErrors(errs, files)
		return nil, errs
	}
	return c, nil
}

// parseSection decodes and validates one plugin section.
func parseSection(md toml.MetaData, prim toml.Primitive, name, file string, line int, loc func(section, key string) *ConfigError) (*Section, ConfigErrors) {
	s := &Section{Name: name, File: file, Line: line}
	var head struct {
		Type string `toml:"type"`
	}
	var errs ConfigErrors
	if err := md.PrimitiveDecode(prim, &head); err != nil {
		e := loc(name, "type")
		e.Msg = "type must be a string naming a plugin"
		return nil, append(errs, e)
	}
	s.Type = head.Type
	if s.Type == "" {
		e := loc(name, "")
		e.Msg = `the section has no type; add type = "..." naming a plugin (metlogd -plugins lists them)`
		return nil, append(errs, e)
	}
	p, ok := Lookup(s.Type)
	if !ok {
		e := loc(name, "type")
		e.Msg = fmt.Sprintf("there is no plugin of type %q%s", s.Type, suggest(s.Type, pluginTypes()))
		return nil, append(errs, e)
	}
	s.Kind = p.Kind
	s.Plugin = p.New()
	derrs := decodeKeys(md, prim, name, s.Type, loc, &s.common, s.Plugin)
	errs = append(errs, derrs...)
	if badValues(derrs) {
		return nil, errs // the plugin's values are incomplete: it cannot be validated
	}
	for _, key := range sortedCommonKeys() {
		if kinds := commonKeys[key]; md.IsDefined(name, key) && !containsKind(kinds, s.Kind) {
			e := loc(name, key)
			e.Msg = fmt.Sprintf("%ss do not take %s; it is for %s", s.Kind, key, kindList(kinds))
			errs = append(errs, e)
		}
	}
	errs = append(errs, s.validate(loc)...)
	if len(errs) > 0 {
		return nil, errs
	}
	s.print = fingerprint(s)
	return s, nil
}

// validate checks what the pipeline interprets and runs the plugin's own
// Validate.
func (s *Section) validate(loc func(section, key string) *ConfigError) ConfigErrors {
	var errs ConfigErrors
	bad := func(key, msg string) {
		e := loc(s.Name, key)
		e.Msg = msg
		errs = append(errs, e)
	}
	var want string
	switch s.Kind {
	case KindInput:
		if _, ok := s.Plugin.(Input); !ok {
			want = "Input"
		}
	case KindFilter:
		if _, ok := s.Plugin.(Filter); !ok {
			want = "Filter"
		}
	case KindOutput:
		if _, ok := s.Plugin.(Output); !ok {
			want = "Output"
		}
	}
	if want != "" { // a programming error in the plugin, reported rather than panicking
		bad("type", fmt.Sprintf("plugin %s does not implement pipeline.%s", s.Type, want))
		return errs
	}
	if s.Kind != KindInput {
		if s.common.MessageMatcher == "" {
			bad("", fmt.Sprintf(`the %s has no message_matcher; add message_matcher = "TRUE" to give it every message`, s.Kind))
		} else if m, err := matcher.Compile(s.common.MessageMatcher); err != nil {
			bad("message_matcher", plainError(err))
		} else {
			s.Match = m
		}
		switch s.common.WhenFull {
		case "", "drop", "block":
		default:
			bad("when_full", fmt.Sprintf("%q is not drop or block", s.common.WhenFull))
		}
		if s.common.QueueSize < 0 {
			bad("queue_size", "must not be negative")
		}
		if s.common.BatchSize < 0 {
			bad("batch_size", "must not be negative")
		}
		if s.common.BatchWait < 0 {
			bad("batch_wait", "must not be negative")
		}
	}
	if s.Kind == KindOutput {
		eu, takes := s.Plugin.(EncoderUser)
		switch {
		case s.common.Encoder != "" && !takes:
			bad("encoder", fmt.Sprintf("output %s takes no encoder", s.Type))
		case takes:
			name := s.common.Encoder
			if name == "" {
				name = eu.DefaultEncoder()
			}
			if _, ok := NewEncoder(name); !ok {
				bad("encoder", fmt.Sprintf("there is no encoder %q%s", name, suggest(name, EncoderNames())))
			}
		}
		if s.common.RetryMin < 0 || s.common.RetryMax < 0 {
			bad("retry_min", "retry_min and retry_max must not be negative")
		} else if s.common.RetryMin > 0 && s.common.RetryMax > 0 && s.common.RetryMin > s.common.RetryMax {
			bad("retry_min", fmt.Sprintf("retry_min %v is above retry_max %v", s.common.RetryMin, s.common.RetryMax))
		}
	}
	if dt, ok := s.Plugin.(DefaultTicker); ok && s.Kind == KindFilter && s.common.TickerInterval == 0 {
		s.common.TickerInterval = dt.DefaultTickerInterval()
	}
	if s.Kind == KindFilter && s.common.TickerInterval != 0 {
		if _, ok := s.Plugin.(Ticker); !ok {
			bad("ticker_interval", fmt.Sprintf("filter %s does not run on a ticker", s.Type))
		} else if s.common.TickerInterval < 0 {
			bad("ticker_interval", "must be positive")
		}
	}
	if v, ok := s.Plugin.(Validator); ok {
		if err := v.Validate(); err != nil {
			for _, line := range strings.Split(plainError(err), "\n") {
				key := ""
				// A plugin may name the key: "key: sentence".
				if k, rest, found := strings.Cut(line, ": "); found && isKeyName(k) {
					key, line = k, rest
				}
				bad(key, line)
			}
		}
	}
	return errs
}

// TickerInterval is how often a filter's Tick runs; 0 for never.
func (s *Section) TickerInterval() time.Duration { return s.common.TickerInterval }

// encoderName is the encoder an output uses.
func (s *Section) encoderName() string {
	if s.common.Encoder != "" {
		return s.common.Encoder
	}
	if eu, ok := s.Plugin.(EncoderUser); ok {
		return eu.DefaultEncoder()
	}
	return ""
}

func (g *Global) validate(loc func(section, key string) *ConfigError) ConfigErrors {
	var errs ConfigErrors
	bad := func(key, msg string) {
		e := loc("metlogd", key)
		e.Msg = msg
		errs = append(errs, e)
	}
	if g.MaxMessageSize < 256 || g.MaxMessageSize > 64<<20 {
		bad("max_message_size", fmt.Sprintf("%d bytes is outside 256 B .. 64 MiB", g.MaxMessageSize))
	}
	if g.QueueSize < 1 {
		bad("queue_size", "must be at least 1")
	}
	if g.BatchSize < 1 {
		bad("batch_size", "must be at least 1")
	}
	if g.MaxLoops < 0 || g.MaxLoops > 255 {
		bad("max_loops", "must be between 0 and 255")
	}
	if g.ShutdownTimeout <= 0 {
		bad("shutdown_timeout", "must be positive")
	}
	switch g.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		bad("log_level", fmt.Sprintf("%q is not debug, info, warn or error", g.LogLevel))
	}
	switch g.LogFormat {
	case "text", "json":
	default:
		bad("log_format", fmt.Sprintf("%q is not text or json", g.LogFormat))
	}
	if g.DataDir == "" {
		bad("data_dir", "must name a directory")
	}
	return errs
}

// decodeKeys decodes the section prim key by key into the first of
// targets with a field of that key's toml tag, in the order the keys were
// written, so that every bad value and unknown key is reported, always in
// the same order.
func decodeKeys(md toml.MetaData, prim toml.Primitive, section, what string, loc func(section, key string) *ConfigError, targets ...any) ConfigErrors {
	var keys map[string]toml.Primitive
	if err := md.PrimitiveDecode(prim, &keys); err != nil {
		e := loc(section, "")
		e.Msg = plainError(err)
		return ConfigErrors{e}
	}
	fields := map[string]reflect.Value{}
	var known []string
	for i := len(targets) - 1; i >= 0; i-- { // the first target wins a shared tag
		for tag, f := range tomlFields(targets[i]) {
			fields[tag] = f
		}
	}
	// A plugin section lists the common keys its kind takes.
	kind := kindOf(targets[len(targets)-1])
	for tag := range fields {
		if kinds, isCommon := commonKeys[tag]; kind == 0 || !isCommon || containsKind(kinds, kind) && tag != "type" {
			known = append(known, tag)
		}
	}
	sort.Strings(known)
	var errs ConfigErrors
	for _, key := range sectionKeys(md, section) {
		f, ok := fields[key]
		if !ok {
			e := loc(section, key)
			e.Msg = fmt.Sprintf("unknown key%s; %s takes %s", suggest(key, known), what, strings.Join(known, ", "))
			errs = append(errs, e)
			continue
		}
		if err := md.PrimitiveDecode(keys[key], f.Addr().Interface()); err != nil {
			errs = append(errs, decodeError(err, section, key, loc))
		}
	}
	// Keys of sub-tables ([name.tls] cert_fle = ...) that nothing took.
	for _, k := range md.Undecoded() {
		if len(k) > 2 && k[0] == section {
			if _, ok := fields[k[1]]; ok {
				e := loc(section, strings.Join(k[1:], "."))
				e.Msg = fmt.Sprintf("unknown key in the %s table", k[1])
				errs = append(errs, e)
			}
		}
	}
	return errs
}

// badValues reports whether errs include a value that did not decode, as
// opposed to unknown keys only.
func badValues(errs ConfigErrors) bool {
	for _, e := range errs {
		if !strings.HasPrefix(e.Msg, "unknown key") {
			return true
		}
	}
	return false
}

// decodeError turns the library's error for one key into a ConfigError.
func decodeError(err error, section, key string, loc func(section, key string) *ConfigError) *ConfigError {
	msg := plainError(err)
	var pe toml.ParseError
	if errors.As(err, &pe) {
		msg = pe.Message
		if k := strings.TrimPrefix(pe.LastKey, section+"."); k != "" && k != pe.LastKey {
			key = k
		}
	} else if m := badType.FindStringSubmatch(err.Error()); m != nil {
		msg = fmt.Sprintf("want %s, got %s", goTypeName(m[3]), tomlTypeName(m[2]))
		if k := strings.TrimPrefix(m[1], section+"."); k != m[1] {
			key = k
		}
	}
	e := loc(section, key)
	e.Msg = msg
	return e
}

// sectionKeys returns the keys directly inside section, in written order.
func sectionKeys(md toml.MetaData, section string) []string {
	var out []string
	seen := map[string]bool{}
	for _, k := range md.Keys() {
		if len(k) >= 2 && k[0] == section && !seen[k[1]] {
			seen[k[1]] = true
			out = append(out, k[1])
		}
	}
	return out
}

// kindOf returns the kind of a plugin instance, or 0.
func kindOf(v any) Kind {
	switch v.(type) {
	case Input:
		return KindInput
	case Filter:
		return KindFilter
	case Output:
		return KindOutput
	}
	return 0
}

var badType = regexp.MustCompile(`last key "([^"]*)"\): incompatible types: TOML value has type (\S+); destination has type (\S+)`)

func tomlTypeName(t string) string {
	switch t {
	case "int64":
		return "a number"
	case "float64":
		return "a decimal number"
	case "string":
		return "a string"
	case "bool":
		return "true or false"
	case "[]interface", "[]interface{}", "[]any":
		return "a list"
	case "map[string]interface", "map[string]interface{}", "map[string]any":
		return "a table"
	}
	return t
}

func goTypeName(t string) string {
	switch {
	case strings.HasPrefix(t, "int"), strings.HasPrefix(t, "uint"):
		return "a whole number"
	case strings.HasPrefix(t, "float"):
		return "a number"
	case t == "string":
		return "a string"
	case t == "bool":
		return "true or false"
	case strings.HasPrefix(t, "[]") || strings.HasPrefix(t, "slice"):
		return "a list"
	case strings.HasPrefix(t, "map") || strings.HasPrefix(t, "struct"):
		return "a table"
	}
	return t
}

func sortedCommonKeys() []string {
	keys := make([]string, 0, len(commonKeys))
	for k := range commonKeys {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// sortErrors orders errors by file (in load order), then line.
func sortErrors(errs ConfigErrors, files []string) {
	order := map[string]int{}
	for i, f := range files {
		order[f] = i
	}
	sort.SliceStable(errs, func(i, j int) bool {
		a, b := errs[i], errs[j]
		if order[a.File] != order[b.File] {
			return order[a.File] < order[b.File]
		}
		return a.Line < b.Line
	})
}

func containsKind(kinds []Kind, k Kind) bool {
	for _, x := range kinds {
		if x == k {
			return true
		}
	}
	return false
}

func kindList(kinds []Kind) string {
	var names []string
	for _, k := range kinds {
		names = append(names, k.String()+"s")
	}
	return strings.Join(names, " and ")
}

// tableOrder returns the top-level keys in the order they were written.
func tableOrder(md toml.MetaData) []string {
	var out []string
	seen := map[string]bool{}
	for _, k := range md.Keys() {
		if len(k) > 0 && !seen[k[0]] {
			seen[k[0]] = true
			out = append(out, k[0])
		}
	}
	return out
}

var envRef = regexp.MustCompile(`\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)\}`)

// substituteEnv replaces ${NAME} with the environment variable NAME ($$
// writes a dollar), except in comment lines. An unset variable is an error.
func substituteEnv(file, text string) (string, ConfigErrors) {
	var errs ConfigErrors
	lines := strings.Split(text, "\n")
	for i, line := range lines {
		if strings.HasPrefix(strings.TrimSpace(line), "#") || !strings.Contains(line, "$") {
			continue
		}
		lines[i] = envRef.ReplaceAllStringFunc(line, func(ref string) string {
			if ref == "$$" {
				return "$"
			}
			name := ref[2 : len(ref)-1]
			v, ok := os.LookupEnv(name)
			if !ok {
				errs = append(errs, &ConfigError{File: file, Line: i + 1, Msg: fmt.Sprintf("environment variable %s is not set", name)})
			}
			return v
		})
	}
	return strings.Join(lines, "\n"), errs
}

// syntaxError turns a TOML parse error into a ConfigError.
func syntaxError(file string, err error) *ConfigError {
	var pe toml.ParseError
	if errors.As(err, &pe) {
		msg := pe.Message
		if pe.Usage != "" {
			msg += " (" + strings.TrimSpace(strings.SplitN(pe.Usage, "\n", 2)[0]) + ")"
		}
		return &ConfigError{File: file, Line: pe.Position.Line, Msg: "TOML syntax error: " + msg}
	}
	return &ConfigError{File: file, Msg: "TOML syntax error: " + plainError(err)}
}

// indexLines maps "section" and "section.key" to the line they are written
// on, to locate errors. It understands what configurations use: [table]
// headers, [a.b] sub-tables, and key = value lines.
func indexLines(text string) map[string]int {
	idx := map[string]int{}
	table := ""
	for i, raw := range strings.Split(text, "\n") {
		line := strings.TrimSpace(raw)
		switch {
		case line == "" || line[0] == '#':
		case strings.HasPrefix(line, "["):
			name := strings.Trim(strings.SplitN(line, "#", 2)[0], "[] \t")
			table = unquoteKey(name)
			if _, ok := idx[table]; !ok {
				idx[table] = i + 1
			}
		default:
			k, _, ok := strings.Cut(line, "=")
			if !ok {
				continue
			}
			key := unquoteKey(strings.TrimSpace(k))
			full := key
			if table != "" {
				full = table + "." + key
			}
			if _, ok := idx[full]; !ok {
				idx[full] = i + 1
			}
		}
	}
	return idx
}

func unquoteKey(k string) string {
	parts := strings.Split(k, ".")
	for i, p := range parts {
		p = strings.TrimSpace(p)
		if u, err := strconv.Unquote(p); err == nil {
			p = u
		} else {
			p = strings.Trim(p, "'")
		}
		parts[i] = p
	}
	return strings.Join(parts, ".")
}

func isKeyName(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for _, r := range s {
		if !(r == '_' || r == '.' || r >= 'a' && r <= 'z' || r >= '0' && r <= '9') {
			return false
		}
	}
	return true
}

// plainError is err's text without the "toml: " prefix.
func plainError(err error) string {
	return strings.TrimPrefix(err.Error(), "toml: ")
}

func pluginTypes() []string {
	var out []string
	for _, p := range Plugins() {
		out = append(out, p.Type)
	}
	return out
}

// Suggest returns ` (did you mean "x"?)` for the known name closest to s,
// when one is within two edits, and "" otherwise: for error messages about
// misspelt names.
func Suggest(s string, known []string) string { return suggest(s, known) }

func suggest(s string, known []string) string {
	best, bestD := "", 3
	for _, k := range known {
		if d := editDistance(s, k); d < bestD {
			best, bestD = k, d
		}
	}
	if best == "" || best == s {
		return ""
	}
	return fmt.Sprintf(" (did you mean %q?)", best)
}

func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
