// Package filein is metlog's file_input plugin: it tails log files found by
// glob patterns and hands the router one message per line, or per
// multi-line record when a start-of-record regular expression is set.
//
// It follows files across rotation: a file is known by its device and inode
// (on systems that have them) plus a fingerprint of its first bytes, so a
// file renamed away by logrotate is read to its end through the descriptor
// already open while the new file at the same path is read from its start;
// a file truncated in place (copytruncate) is read again from its start; a
// deleted file is finished and forgotten. How far each file has been
// delivered is kept in a checkpoint file in the plugin's data directory, so
// that a restart continues where the last run stopped: lines may be read
// twice after a crash, never skipped.
//
// Everything runs on the goroutine of Run, by polling: one pass every
// poll_interval looks for new files, new data, rotation and truncation.
// See docs/plugins/file_input.md.
package filein

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/metlog/metlog/internal/ratelog"
	"github.com/metlog/metlog/message"
	"github.com/metlog/metlog/pipeline"
	"github.com/metlog/metlog/plugins/codecs"
)

func init() {
	pipeline.Register(pipeline.Plugin{
		Type:    "file_input",
		Kind:    pipeline.KindInput,
		New:     func() any { return New() },
		Summary: "tails log files found by glob, across rotation, truncation and restarts",
	})
}

// Defaults of the settings.
const (
	DefaultPollInterval       = 250 * time.Millisecond
	DefaultRotateWait         = 5 * time.Second
	DefaultMultilineTimeout   = time.Second
	DefaultCheckpointInterval = time.Second
	DefaultMaxOpenFiles       = 256
)

const (
	readSize       = 128 << 10 // bytes read from a file at once
	passBudget     = 4 << 20   // bytes read from one file in one pass, so that a big file does not starve the others
	checkpointName = "checkpoints.json"
)

// Input is the file_input plugin. Its exported fields are its
// configuration; New fills in the defaults.
type Input struct {
	// Paths are the glob patterns of the files to tail (filepath.Glob
	// syntax, plus ** as a whole path element for any number of
	// directories). Required.
	Paths []string `toml:"paths"`
	// Exclude are glob patterns of files not to tail. A pattern without a
	// path separator is matched against the file's base name, one with a
	// separator against its whole path. The default leaves out compressed
	// files (*.gz, *.bz2, *.xz, *.zst, *.zip), as logrotate makes them;
	// setting exclude replaces it.
	Exclude []string `toml:"exclude"`
	// Format is how lines become messages: plain (the line is the
	// payload), metlog, json or auto_json (one JSON message per line).
	Format string `toml:"format"`
	// MessageType is the Type of plain messages (default "plain").
	MessageType string `toml:"message_type"`
	// Logger is the Logger of plain messages (default: the section name).
	Logger string `toml:"logger"`
	// StartAt is where files found on the very first start are read from:
	// "end" (default) or "beginning". Files that appear later, and files
	// found on a later start without a checkpoint, are read from their
	// beginning.
	StartAt string `toml:"start_at"`
	// PollInterval is how often files are checked for new data, new files,
	// rotation and truncation.
	PollInterval time.Duration `toml:"poll_interval"`
	// RotateWait is how long a file that was renamed away or deleted is
	// still read after its last new data, for writers that have not
	// reopened their log yet. 0 closes it as soon as it has been read to
	// its end.
	RotateWait time.Duration `toml:"rotate_wait"`
	// MultilineStart is a regular expression: a line matching it starts a
	// new record, and the lines that follow without matching are appended
	// to that record, joined by "\n". Empty: one message per line.
	MultilineStart string `toml:"multiline_start"`
	// MultilineTimeout flushes a record after this long without new data
	// in its file.
	MultilineTimeout time.Duration `toml:"multiline_timeout"`
	// MaxLine bounds a line or record, in bytes (0: [metlogd]
	// max_message_size). Longer ones are dropped and counted.
	MaxLine pipeline.ByteSize `toml:"max_line"`
	// CheckpointInterval is how often the checkpoint file is written (when
	// something changed). It is also written when the input stops.
	CheckpointInterval time.Duration `toml:"checkpoint_interval"`
	// MaxOpenFiles bounds the files open at once; files found beyond it
	// wait, with a warning, until others are closed.
	MaxOpenFiles int `toml:"max_open_files"`

	// quit stops Run from Stop, without waiting for the pipeline's context.
	qmu  sync.Mutex
	quit context.CancelFunc

	mu sync.Mutex // held by Run for as long as it runs, and by Start and Stop
	st *state

	// Observed by tests, which cannot take mu while Run holds it.
	passes atomic.Uint64 // polling passes completed
	nopen  atomic.Int32  // files open
}

var (
	_ pipeline.Input     = (*Input)(nil)
	_ pipeline.Validator = (*Input)(nil)
	_ pipeline.Starter   = (*Input)(nil)
	_ pipeline.Stopper   = (*Input)(nil)
)

// New returns an Input holding the defaults.
func New() *Input {
	return &Input{
		Exclude:            []string{"*.gz", "*.bz2", "*.xz", "*.zst", "*.zip"},
		Format:             "plain",
		MessageType:        "plain",
		StartAt:            "end",
		PollInterval:       DefaultPollInterval,
		RotateWait:         DefaultRotateWait,
		MultilineTimeout:   DefaultMultilineTimeout,
		CheckpointInterval: DefaultCheckpointInterval,
		MaxOpenFiles:       DefaultMaxOpenFiles,
	}
}

// Validate implements pipeline.Validator.
func (in *Input) Validate() error {
	var errs []string
	bad := func(key, format string, args ...any) {
		errs = append(errs, key+": "+fmt.Sprintf(format, args...))
	}
	if len(in.Paths) == 0 {
		bad("paths", `no files to tail; set paths = ["/var/log/app/*.log"]`)
	}
	for _, p := range in.Paths {
		if err := checkPattern(p); err != nil {
			bad("paths", "%v", err)
		}
	}
	for _, p := range in.Exclude {
		if err := checkPattern(p); err != nil {
			bad("exclude", "%v", err)
		}
	}
	if _, err := decoderFor(in.Format); err != nil {
		bad("format", "%v", err)
	}
	if in.Format == "plain" && in.MessageType == "" {
		bad("message_type", "must not be empty")
	}
	if in.StartAt != "end" && in.StartAt != "beginning" {
		bad("start_at", "%q is not end or beginning", in.StartAt)
	}
	if in.PollInterval <= 0 {
		bad("poll_interval", "must be positive")
	}
	if in.RotateWait < 0 {
		bad("rotate_wait", "must not be negative")
	}
	if in.MultilineStart != "" {
		if _, err := regexp.Compile(in.MultilineStart); err != nil {
			bad("multiline_start", "not a valid regular expression: %v", err)
		}
	}
	if in.MultilineTimeout <= 0 {
		bad("multiline_timeout", "must be positive")
	}
	if in.MaxLine < 0 || in.MaxLine > 64<<20 {
		bad("max_line", "%d bytes is outside 1 B .. 64 MiB (0: [metlogd] max_message_size)", in.MaxLine)
	}
	if in.CheckpointInterval <= 0 {
		bad("checkpoint_interval", "must be positive")
	}
	if in.MaxOpenFiles < 1 {
		bad("max_open_files", "must be at least 1")
	}
	if len(errs) > 0 {
		return errors.New(strings.Join(errs, "\n"))
	}
	return nil
}

// decoderFor returns the decoder of a JSON format, or nil for plain.
func decoderFor(format string) (pipeline.Decoder, error) {
	switch format {
	case "plain":
		return nil, nil
	case "metlog":
		return codecs.MetlogDecoder{}, nil
	case "json":
		return codecs.JSONDecoder{}, nil
	case "auto_json":
		return codecs.AutoJSONDecoder{}, nil
	}
	return nil, fmt.Errorf("%q is not plain, metlog, json or auto_json", format)
}

// Start implements pipeline.Starter: it reads the checkpoint file, finds
// the files to tail and opens them, at the position each is to be read
// from.
func (in *Input) Start(ctx context.Context, s *pipeline.Settings) error {
	in.mu.Lock()
	defer in.mu.Unlock()
	if in.st != nil {
		return errors.New("file input started twice")
	}
	st := &state{
		in:       in,
		log:      s.Logger,
		metrics:  s.Metrics,
		hostname: s.Global.Hostname,
		logger:   in.Logger,
		maxLine:  int(in.MaxLine),
		files:    make(map[fileID]*tailed),
		resume:   make(map[fileID]saved),
		waiting:  make(map[string]bool),
		broken:   make(map[string]fileID),
		seen:     make(map[fileID]bool),
		rbuf:     make([]byte, readSize),
	}
	if st.log == nil {
		st.log = slog.Default()
	}
	if st.metrics == nil {
		st.metrics = &pipeline.Metrics{}
	}
	st.warn = ratelog.New(st.log, 10*time.Second)
	if st.logger == "" {
		st.logger = s.Name
	}
	if st.maxLine == 0 {
		st.maxLine = int(s.Global.MaxMessageSize)
	}
	if st.maxLine <= 0 {
		st.maxLine = 64 << 10
	}
	var err error
	if st.decoder, err = decoderFor(in.Format); err != nil {
		return err
	}
	if in.MultilineStart != "" {
		if st.startRE, err = regexp.Compile(in.MultilineStart); err != nil {
			return fmt.Errorf("multiline_start: %w", err)
		}
	}
	for _, p := range in.Paths {
		abs, err := filepath.Abs(p)
		if err != nil {
			return fmt.Errorf("pattern %q: %w", p, err)
		}
		st.patterns = append(st.patterns, abs)
	}
	for _, p := range in.Exclude {
		if strings.ContainsRune(p, filepath.Separator) {
			if p, err = filepath.Abs(p); err != nil {
				return fmt.Errorf("exclude pattern %q: %w", p, err)
			}
		}
		st.excludes = append(st.excludes, p)
	}
	dir, err := s.DataDir()
	if err != nil {
		return err
	}
	if st.dataDir, err = filepath.Abs(dir); err != nil {
		return err
	}
	st.ckptPath = filepath.Join(st.dataDir, checkpointName)
	now := time.Now()
	if err := st.loadCheckpoint(now); err != nil {
		return err
	}
	st.scan(now, true)
	st.lastCkpt = now
	in.st = st
	in.qmu.Lock()
	st.quitCtx, in.quit = context.WithCancel(context.Background())
	in.qmu.Unlock()
	return nil
}

// Run implements pipeline.Input: it polls the files until ctx is done or
// the input is stopped.
func (in *Input) Run(ctx context.Context, d pipeline.Deliverer) error {
	in.mu.Lock()
	defer in.mu.Unlock()
	st := in.st
	if st == nil {
		return errors.New("file input is not started")
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	defer context.AfterFunc(st.quitCtx, cancel)()
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-timer.C:
		}
		now := time.Now()
		busy, err := st.pass(ctx, d, now)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		st.maybeCheckpoint(now)
		in.passes.Add(1)
		if busy {
			timer.Reset(0)
		} else {
			timer.Reset(in.PollInterval)
		}
	}
}

// Stop implements pipeline.Stopper: it stops Run, writes the checkpoint
// file and closes the files. It waits for Run to return.
func (in *Input) Stop(ctx context.Context) error {
	in.qmu.Lock()
	if in.quit != nil {
		in.quit()
	}
	in.qmu.Unlock()
	in.mu.Lock()
	defer in.mu.Unlock()
	st := in.st
	if st == nil {
		return nil
	}
	in.st = nil
	err := st.saveCheckpoint()
	st.closeAll()
	return err
}

// newMessage returns a zeroed message for the router to take. Messages and
// their field slots are allocated in blocks: one allocation serves many
// lines.
func (st *state) newMessage() *message.Message {
	if st.spare != nil {
		m := st.spare
		st.spare = nil
		m.Reset()
		return m
	}
	if len(st.msgs) == 0 {
		st.msgs = make([]message.Message, 128)
	}
	m := &st.msgs[0]
	st.msgs = st.msgs[1:]
	return m
}

// emit makes a message of one line or record and delivers it. A line the
// decoder rejects is counted and skipped.
func (st *state) emit(ctx context.Context, d pipeline.Deliverer, t *tailed, b []byte) error {
	m := st.newMessage()
	if st.decoder == nil {
		m.Type = st.in.MessageType
		m.Logger = st.logger
		m.Severity = message.Info
		m.Hostname = st.hostname
		m.Payload = string(b)
		m.Fields = t.fields
	} else if err := st.decoder.Decode(b, m); err != nil {
		st.spare = m
		st.metrics.DecodeErrors.Add(1)
		st.warn.Warn("decode "+t.path, "a line is not a valid "+st.in.Format+" message; it is skipped",
			"path", t.path, "offset", t.committed, "err", err)
		return nil
	}
	if err := d.Deliver(ctx, m); err != nil {
		return err
	}
	// A pass can take long when outputs push back: save progress within it.
	if st.sinceCheck++; st.sinceCheck >= 256 {
		st.sinceCheck = 0
		st.maybeCheckpoint(time.Now())
	}
	return nil
}

// maybeCheckpoint writes the checkpoint file if checkpoint_interval has
// passed since it was last written.
func (st *state) maybeCheckpoint(now time.Time) {
	if now.Sub(st.lastCkpt) < st.in.CheckpointInterval {
		return
	}
	st.lastCkpt = now
	if err := st.saveCheckpoint(); err != nil {
		st.metrics.Errors.Add(1)
		st.warn.Error("checkpoint", "cannot write the checkpoint file", "err", err)
	}
}
