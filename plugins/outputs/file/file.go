// Package fileout is the file_output plugin: it writes messages, encoded
// (canonical JSON lines by default), to a file whose path may hold time
// placeholders, rotates it by size and on a schedule, keeps a bounded number
// of old files (optionally gzipped in the background), reopens it on SIGHUP
// for an external logrotate, and syncs it to disk by a chosen policy.
//
// Each delivered batch is encoded into one reused buffer and written with
// one write (a few when the batch straddles a size rotation); Deliver
// returns nil only once the bytes are in the file, and, with fsync =
// "batch", on disk. See docs/plugins/file_output.md.
package fileout

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/metlog/metlog/internal/ratelog"
	"github.com/metlog/metlog/message"
	"github.com/metlog/metlog/pipeline"
)

func init() {
	pipeline.Register(pipeline.Plugin{
		Type:    "file_output",
		Kind:    pipeline.KindOutput,
		New:     func() any { return New() },
		Summary: "writes messages to a file, rotated by size or time, reopened on SIGHUP",
	})
}

// The fsync policies.
const (
	FsyncNever    = "never"    // rely on the operating system's write-back
	FsyncBatch    = "batch"    // fsync after every delivered batch
	FsyncInterval = "interval" // fsync every fsync_interval when something was written
)

// maxKeptBuffer is the largest encode buffer kept between batches; a
// larger one (a batch of huge messages) is let go after use.
const maxKeptBuffer = 16 << 20

// File is the file_output plugin.
type File struct {
	// Path is the file to write. It may hold the time placeholders %Y %m
	// %d %H %M %S %j (and %% for a percent sign), expanded at write time
	// in UTC, or local time with LocalTime.
	Path string `toml:"path"`
	// LocalTime expands placeholders, and aligns rotate_interval, in the
	// local time zone instead of UTC.
	LocalTime bool `toml:"local_time"`
	// RotateSize rotates the file before it would grow past this size
	// (0: never).
	RotateSize pipeline.ByteSize `toml:"rotate_size"`
	// RotateInterval rotates the file at the first write after each
	// multiple of the interval (aligned to midnight UTC; 0: never).
	RotateInterval time.Duration `toml:"rotate_interval"`
	// Keep is how many old files (rotated, and earlier expansions of a
	// path with placeholders) are kept; older ones are deleted. 0 keeps
	// all.
	Keep int `toml:"keep"`
	// Compress gzips old files in the background.
	Compress bool `toml:"compress"`
	// Fsync is when written data is synced to disk: "never", "batch" or
	// "interval".
	Fsync string `toml:"fsync"`
	// FsyncInterval is the period of fsync = "interval".
	FsyncInterval time.Duration `toml:"fsync_interval"`
	// FileMode and DirMode are the octal permissions of the files and
	// directories the output creates (the process umask applies).
	FileMode string `toml:"file_mode"`
	DirMode  string `toml:"dir_mode"`

	tmpl     *template
	fileMode os.FileMode
	dirMode  os.FileMode
	enc      pipeline.Encoder
	log      *slog.Logger
	metrics  *pipeline.Metrics
	rl       *ratelog.Limiter

	mu        sync.Mutex
	now       func() time.Time // the clock; tests replace it
	f         *os.File         // the open file, nil after a failure until the next attempt
	cur       string           // f's path
	size      int64            // f's size
	created   bool             // f was created by this output and not yet written to
	periodEnd time.Time        // rotate_interval: f is rotated at the first write from then
	lastStamp time.Time        // the time in the last rotated file's name
	pathBuf   []byte
	nameBuf   []byte
	buf       []byte // the encoded batch
	ends      []int  // where each message of buf ends (rotate_size)
	started   bool
	stopped   bool

	dirty atomic.Bool   // written since the last fsync (fsync = "interval")
	syncs atomic.Uint64 // successful fsyncs of the file, for tests
	kick  chan struct{} // asks the housekeeper for a pass
	quit  chan struct{} // closed by Stop
	wg    sync.WaitGroup
}

var (
	_ pipeline.Output      = (*File)(nil)
	_ pipeline.Validator   = (*File)(nil)
	_ pipeline.Starter     = (*File)(nil)
	_ pipeline.Stopper     = (*File)(nil)
	_ pipeline.Reopener    = (*File)(nil)
	_ pipeline.EncoderUser = (*File)(nil)
)

// New returns a file output with the default settings.
func New() *File {
	return &File{
		Keep:          7,
		Fsync:         FsyncNever,
		FsyncInterval: time.Second,
		FileMode:      "0644",
		DirMode:       "0755",
		now:           time.Now,
	}
}

// DefaultEncoder implements pipeline.EncoderUser: canonical JSON lines.
func (*File) DefaultEncoder() string { return "json" }

// Validate implements pipeline.Validator.
func (f *File) Validate() error {
	_, _, _, err := f.parse()
	return err
}

// parse checks the configuration and returns its parsed values.
func (f *File) parse() (t *template, fileMode, dirMode os.FileMode, err error) {
	var errs []string
	bad := func(key string, err error) { errs = append(errs, key+": "+err.Error()) }
	t, err = parseTemplate(f.Path)
	if err != nil {
		bad("path", err)
	} else if err := pipeline.CheckDir(staticDir(f.Path)); err != nil {
		bad("path", err)
	}
	if f.RotateInterval < 0 {
		bad("rotate_interval", errors.New("must not be negative"))
	} else if f.RotateInterval > 0 && f.RotateInterval < time.Second {
		bad("rotate_interval", fmt.Errorf("%v is under the minimum of 1s", f.RotateInterval))
	}
	if f.Keep < 0 {
		bad("keep", errors.New("must not be negative (0 keeps every old file)"))
	}
	switch f.Fsync {
	case FsyncNever, FsyncBatch:
	case FsyncInterval:
		if f.FsyncInterval <= 0 {
			bad("fsync_interval", errors.New("must be positive"))
		}
	default:
		bad("fsync", fmt.Errorf("%q is not never, batch or interval", f.Fsync))
	}
	if fileMode, err = parseMode(f.FileMode); err != nil {
		bad("file_mode", err)
	}
	if dirMode, err = parseMode(f.DirMode); err != nil {
		bad("dir_mode", err)
	}
	if len(errs) > 0 {
		return nil, 0, 0, errors.New(strings.Join(errs, "\n"))
	}
	return t, fileMode, dirMode, nil
}

// staticDir is the directory part of a path template up to its first
// placeholder: what must be creatable whatever the date.
func staticDir(path string) string {
	if i := strings.IndexByte(path, '%'); i >= 0 {
		path = path[:i]
		if j := strings.LastIndexByte(path, filepath.Separator); j >= 0 {
			return path[:j+1]
		}
		return "."
	}
	return filepath.Dir(path)
}

// parseMode reads permissions written in octal, such as "0640".
func parseMode(s string) (os.FileMode, error) {
	v, err := strconv.ParseUint(s, 8, 32)
	if err != nil || v > 0o777 {
		return 0, fmt.Errorf("%q is not octal permissions such as \"0644\"", s)
	}
	return os.FileMode(v), nil
}

// Start implements pipeline.Starter: it opens (creating) the file, so that
// a path that cannot be written stops the configuration from starting.
func (f *File) Start(ctx context.Context, s *pipeline.Settings) error {
	t, fileMode, dirMode, err := f.parse()
	if err != nil {
		return err
	}
	f.tmpl, f.fileMode, f.dirMode = t, fileMode, dirMode
	f.enc = s.Encoder
	if f.enc == nil {
		f.enc, _ = pipeline.NewEncoder(f.DefaultEncoder())
		if f.enc == nil {
			return errors.New("no encoder: import plugins/codecs")
		}
	}
	f.log, f.metrics = s.Logger, s.Metrics
	if f.log == nil {
		f.log = slog.Default()
	}
	if f.metrics == nil {
		f.metrics = &pipeline.Metrics{}
	}
	f.rl = ratelog.New(f.log, time.Minute)
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.now == nil {
		f.now = time.Now
	}
	if err := f.openLocked(f.now()); err != nil {
		return err
	}
	f.started = true
	f.quit = make(chan struct{})
	if f.Keep > 0 || f.Compress {
		f.kick = make(chan struct{}, 1)
		f.kick <- struct{}{} // a first pass: old files left by an earlier run
		f.wg.Add(1)
		go f.housekeeper()
	}
	if f.Fsync == FsyncInterval {
		f.wg.Add(1)
		go f.syncer()
	}
	return nil
}

// Deliver implements pipeline.Output: it encodes the batch and writes it
// to the file of the current time, rotating it as configured. A failed
// write or sync is returned to be retried: the file is closed, so the next
// attempt opens it again (its directory too). Messages the encoder rejects
// are dropped and counted; they cannot be written in any attempt.
func (f *File) Deliver(ctx context.Context, batch []*message.Message) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.started || f.stopped {
		return errors.New("the file output is not running")
	}
	buf, ends := f.buf[:0], f.ends[:0]
	rejected := 0
	for _, m := range batch {
		start := len(buf)
		b, err := f.enc.Append(buf, m)
		if err != nil {
			buf = buf[:start]
			rejected++
			f.rl.Warn("encode", "a message the encoder cannot write is dropped", "err", err)
			continue
		}
		buf = b
		ends = append(ends, len(buf))
	}
	if rejected > 0 {
		f.metrics.Drop(pipeline.DropPermanent, rejected)
	}
	err := f.writeLocked(f.now(), buf, ends)
	if cap(buf) > maxKeptBuffer {
		buf = nil
	}
	f.buf, f.ends = buf[:0], ends[:0]
	return err
}

// writeLocked writes the encoded messages in buf, which end at ends, to the
// file for now.
func (f *File) writeLocked(now time.Time, buf []byte, ends []int) error {
	if err := f.targetLocked(now); err != nil {
		return err
	}
	if len(buf) == 0 {
		return nil
	}
	mark := f.size // where this batch starts in the current file
	limit := int64(f.RotateSize)
	for off, i := 0, 0; off < len(buf); {
		end := len(buf)
		if limit > 0 {
			// The messages that fit; at least one in an empty file.
			j := i
			for j < len(ends) && f.size+int64(ends[j]-off) <= limit {
				j++
			}
			if j == i {
				if f.size > 0 {
					if err := f.rotateLocked(now); err != nil {
						return err
					}
					mark = f.size
					continue
				}
				j = i + 1
			}
			end, i = ends[j-1], j
		}
		n, err := f.f.Write(buf[off:end])
		f.size += int64(n)
		f.created = false
		if err != nil {
			// Leave no part of the batch in this file, so that its retry
			// writes every line once, whole.
			if f.f.Truncate(mark) == nil {
				f.size = mark
			}
			path := f.cur
			f.closeLocked(false)
			return fmt.Errorf("write %s: %w", path, err)
		}
		off = end
	}
	switch f.Fsync {
	case FsyncBatch:
		if err := f.f.Sync(); err != nil {
			path := f.cur
			f.closeLocked(false)
			return fmt.Errorf("sync %s: %w", path, err)
		}
		f.syncs.Add(1)
	case FsyncInterval:
		f.dirty.Store(true)
	}
	return nil
}

// targetLocked makes f the file for now: opening it after a failure,
// switching to a new expansion of the path, rotating it when its interval
// is over.
func (f *File) targetLocked(now time.Time) error {
	f.pathBuf = f.tmpl.appendPath(f.pathBuf[:0], f.zoned(now))
	if f.f != nil && string(f.pathBuf) != f.cur {
		f.leaveLocked()
	}
	if f.f == nil {
		return f.openLocked(now)
	}
	if f.RotateInterval > 0 && !now.Before(f.periodEnd) {
		if f.size == 0 {
			f.periodEnd = f.periodStart(now).Add(f.RotateInterval)
			return nil
		}
		return f.rotateLocked(now)
	}
	return nil
}

// openLocked opens the file for now, creating it and its directories. With
// rotate_interval, a file last written before the current period is
// rotated first (say, yesterday's, found after a restart).
func (f *File) openLocked(now time.Time) error {
	f.pathBuf = f.tmpl.appendPath(f.pathBuf[:0], f.zoned(now))
	path := string(f.pathBuf)
	if f.RotateInterval > 0 {
		start := f.periodStart(now)
		f.periodEnd = start.Add(f.RotateInterval)
		if st, err := os.Stat(path); err == nil && st.Mode().IsRegular() && st.Size() > 0 && st.ModTime().Before(start) {
			if err := f.renameAway(path, now); err != nil {
				return err
			}
		}
	}
	// A FIFO or device is refused before it is opened: opening a FIFO
	// blocks until it has a reader, and neither can be rotated.
	if st, err := os.Stat(path); err == nil && !st.Mode().IsRegular() {
		return fmt.Errorf("open %s: not a regular file (for standard output, use stdout_output)", path)
	}
	const flags = os.O_WRONLY | os.O_APPEND | os.O_CREATE
	fl, err := os.OpenFile(path, flags|os.O_EXCL, f.fileMode)
	created := err == nil
	if errors.Is(err, fs.ErrExist) {
		fl, err = os.OpenFile(path, flags, f.fileMode)
	}
	if errors.Is(err, fs.ErrNotExist) {
		if merr := os.MkdirAll(filepath.Dir(path), f.dirMode); merr != nil {
			return fmt.Errorf("create the directory of %s: %w", path, merr)
		}
		fl, err = os.OpenFile(path, flags|os.O_EXCL, f.fileMode)
		created = err == nil
	}
	if err != nil {
		return fmt.Errorf("open %s: %w", path, err)
	}
	st, err := fl.Stat()
	if err != nil {
		fl.Close()
		return fmt.Errorf("open %s: %w", path, err)
	}
	if !st.Mode().IsRegular() {
		fl.Close()
		return fmt.Errorf("open %s: not a regular file", path)
	}
	f.f, f.cur, f.size, f.created = fl, path, st.Size(), created
	if created && f.Fsync != FsyncNever {
		syncDir(filepath.Dir(path))
	}
	return nil
}

// leaveLocked closes the file when the path moves on to a new expansion,
// removing it if this output created it and wrote nothing there.
func (f *File) leaveLocked() {
	path, empty := f.cur, f.created && f.size == 0
	f.closeLocked(true)
	if empty {
		os.Remove(path)
		return
	}
	f.kickHousekeeper()
}

// rotateLocked closes the file, renames it with the time of now, and opens
// a new one at its path.
func (f *File) rotateLocked(now time.Time) error {
	path := f.cur
	f.closeLocked(true)
	if err := f.renameAway(path, now); err != nil {
		return err
	}
	return f.openLocked(now)
}

// renameAway renames the file at path to its rotated name for now. The
// time in the name is moved on a millisecond past the previous rotation's
// and past names already taken, so that the names of rotated files sort
// in the order they were rotated.
func (f *File) renameAway(path string, now time.Time) error {
	now = now.Truncate(time.Millisecond)
	if !now.After(f.lastStamp) {
		now = f.lastStamp.Add(time.Millisecond)
	}
	for range 1000 {
		f.lastStamp = now
		f.nameBuf = f.tmpl.rotatedName(f.nameBuf[:0], path, now)
		to := string(f.nameBuf)
		if !exists(to) && !exists(to+".gz") {
			if err := os.Rename(path, to); err != nil {
				if errors.Is(err, fs.ErrNotExist) {
					return nil // moved away by someone else: nothing to rotate
				}
				return fmt.Errorf("rotate %s: %w", path, err)
			}
			if f.Fsync != FsyncNever {
				syncDir(filepath.Dir(path))
			}
			f.log.Info("rotated the file", "path", path, "to", to)
			f.kickHousekeeper()
			return nil
		}
		now = now.Add(time.Millisecond)
	}
	return fmt.Errorf("rotate %s: no free name for the rotated file", path)
}

// closeLocked closes the file, syncing it first when the fsync policy asks
// for durability (sync) or when it is being stopped.
func (f *File) closeLocked(sync bool) {
	if f.f == nil {
		return
	}
	if sync && f.Fsync != FsyncNever {
		if f.f.Sync() == nil {
			f.syncs.Add(1)
		}
	}
	f.f.Close()
	f.f, f.cur, f.size, f.created = nil, "", 0, false
}

// Reopen implements pipeline.Reopener: it closes the file and opens the one
// at the path again, so that an external logrotate can move it away first.
func (f *File) Reopen() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.started || f.stopped {
		return nil
	}
	f.closeLocked(true)
	return f.openLocked(f.now())
}

// Stop implements pipeline.Stopper: it syncs and closes the file and ends
// the background work. It is idempotent and safe without Start.
func (f *File) Stop(ctx context.Context) error {
	f.mu.Lock()
	if f.stopped || !f.started {
		f.stopped = true
		f.mu.Unlock()
		return nil
	}
	f.stopped = true
	var err error
	if f.f != nil {
		if err = f.f.Sync(); err == nil {
			f.syncs.Add(1)
		} else {
			err = fmt.Errorf("sync %s: %w", f.cur, err)
		}
		if cerr := f.f.Close(); cerr != nil && err == nil {
			err = fmt.Errorf("close %s: %w", f.cur, cerr)
		}
		f.f = nil
	}
	f.mu.Unlock()
	close(f.quit)
	done := make(chan struct{})
	go func() { f.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		return errors.Join(err, errors.New("background compression did not stop in time"))
	}
	return err
}

// zoned returns t in the zone placeholders are expanded in.
func (f *File) zoned(t time.Time) time.Time {
	if f.LocalTime {
		return t.Local()
	}
	return t.UTC()
}

// periodStart returns the start of the rotate_interval period holding t:
// a multiple of the interval since the epoch, in UTC or, with local_time,
// on the local clock.
func (f *File) periodStart(t time.Time) time.Time {
	var offset int64
	if f.LocalTime {
		_, off := t.Local().Zone()
		offset = int64(off) * int64(time.Second)
	}
	ns := t.UnixNano() + offset
	d := int64(f.RotateInterval)
	start := ns - ns%d
	if ns < 0 && ns%d != 0 {
		start -= d
	}
	return time.Unix(0, start-offset)
}

// syncer fsyncs the file every fsync_interval when something was written.
func (f *File) syncer() {
	defer f.wg.Done()
	t := time.NewTicker(f.FsyncInterval)
	defer t.Stop()
	for {
		select {
		case <-f.quit:
			return
		case <-t.C:
		}
		if !f.dirty.Swap(false) {
			continue
		}
		f.mu.Lock()
		fl, path := f.f, f.cur
		f.mu.Unlock()
		if fl == nil {
			continue
		}
		// Outside the lock, so that a slow sync does not hold up writes; a
		// file closed meanwhile was synced as it was closed.
		if err := fl.Sync(); err == nil {
			f.syncs.Add(1)
		} else if !errors.Is(err, os.ErrClosed) {
			f.metrics.Errors.Add(1)
			f.rl.Error("sync", "fsync failed; data written since the last sync may not be on disk", "path", path, "err", err)
		}
	}
}

func (f *File) kickHousekeeper() {
	if f.kick == nil {
		return
	}
	select {
	case f.kick <- struct{}{}:
	default: // a pass is already due
	}
}

// syncDir fsyncs a directory, so that a file created or renamed in it
// survives a crash. It is best effort: some file systems refuse it.
func syncDir(dir string) {
	d, err := os.Open(dir)
	if err != nil {
		return
	}
	d.Sync()
	d.Close()
}

func exists(path string) bool {
	_, err := os.Lstat(path)
	return err == nil
}
