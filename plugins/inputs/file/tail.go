package filein

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"os"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/metlog/metlog/internal/ratelog"
	"github.com/metlog/metlog/message"
	"github.com/metlog/metlog/pipeline"
)

// fpMax is how many bytes from the start of a file its fingerprint covers.
const fpMax = 1024

// keepBuf is the capacity above which an emptied line or record buffer is
// released rather than kept for the next line.
const keepBuf = 64 << 10

// state is a started input: what Start set up and Run works on. Only the
// goroutine holding Input.mu touches it.
type state struct {
	in       *Input
	log      *slog.Logger
	warn     *ratelog.Limiter
	metrics  *pipeline.Metrics
	hostname string
	logger   string
	maxLine  int
	decoder  pipeline.Decoder // nil: plain
	startRE  *regexp.Regexp   // nil: one message per line
	patterns []string         // absolute
	excludes []string
	quitCtx  context.Context

	// oldPatterns are the patterns of the run that wrote the checkpoint.
	oldPatterns []string
	dataDir     string
	ckptPath    string
	lastCkpt    time.Time
	lastScan    time.Time
	lastWritten []byte // the checkpoint file's contents, to skip writing it unchanged

	files   map[fileID]*tailed
	resume  map[fileID]saved  // checkpoint entries not yet matched to an open file
	waiting map[string]bool   // paths found beyond max_open_files: whether to start at their end
	broken  map[string]fileID // paths that failed to open, so each failure is counted once
	seen    map[fileID]bool   // scratch for scan
	order   []*tailed         // scratch for pass
	found   []string          // scratch for scan

	rbuf  []byte // the read buffer, shared by all files
	fpbuf [fpMax]byte
	msgs  []message.Message // block of messages not handed out yet
	spare *message.Message  // a message the decoder rejected, to reuse

	sinceCheck int // messages delivered since the checkpoint time was last looked at
}

// fingerprint identifies a file's content: a hash of its first n bytes.
type fingerprint struct {
	n   int
	sum uint64
}

// tailed is one open file.
type tailed struct {
	id     fileID
	path   string          // where it was last seen
	fields []message.Field // {file.path: path}, shared by the messages of the file
	f      *os.File
	fp     fingerprint
	size   int64     // at the last check; -1 forces one
	mtime  time.Time // at the last check

	offset    int64 // where the next read starts
	committed int64 // everything before is delivered (or deliberately dropped): what the checkpoint records
	pend      []byte
	skipping  bool // discarding the rest of an over-long line

	lastData  time.Time // when data last arrived (or the file was opened)
	rotated   bool      // no longer found at any path: finish and close
	rotatedAt time.Time

	rec        []byte // the multi-line record being assembled
	recOpen    bool
	recEnd     int64 // the file offset after the record's last line
	recTooLong bool
}

// setPath records where t is, and makes the Fields its plain messages
// share. Sharing is safe because delivered messages are immutable, and the
// slice's capacity of one makes an append copy; a rename makes new Fields,
// so that messages already delivered keep the old path.
func (t *tailed) setPath(p string) {
	t.path = p
	t.fields = []message.Field{{Name: "file.path", Type: message.String, Strings: []string{p}}}[:1:1]
}

// fnv64 returns the FNV-1a hash of b continuing from h (start with
// fnvOffset).
func fnv64(h uint64, b []byte) uint64 {
	for _, c := range b {
		h ^= uint64(c)
		h *= 1099511628211
	}
	return h
}

const fnvOffset = 14695981039346656037

// readPrefix reads the first min(size, fpMax) bytes of f into st.fpbuf.
func (st *state) readPrefix(f *os.File, size int64) []byte {
	n := int(min(size, fpMax))
	got, _ := f.ReadAt(st.fpbuf[:n], 0)
	return st.fpbuf[:got]
}

// checkFingerprint reports whether f still starts with the bytes fp was
// made of, and returns the fingerprint extended to the file's size now.
func (st *state) checkFingerprint(f *os.File, fp fingerprint, size int64) (fingerprint, bool) {
	b := st.readPrefix(f, size)
	if len(b) < fp.n {
		return fp, false
	}
	h := fnv64(fnvOffset, b[:fp.n])
	if h != fp.sum {
		return fp, false
	}
	return fingerprint{n: len(b), sum: fnv64(h, b[fp.n:])}, true
}

// pass is one polling pass: find files, read each (up to passBudget),
// flush multi-line records that timed out, close rotated files that are
// finished. It reports whether a file has more to read at once.
func (st *state) pass(ctx context.Context, d pipeline.Deliverer, now time.Time) (busy bool, err error) {
	if now.Sub(st.lastScan) >= st.in.PollInterval { // not on every pass of a busy loop
		st.scan(now, false)
		st.lastScan = now
	}
	st.order = st.order[:0]
	for _, t := range st.files {
		st.order = append(st.order, t)
	}
	// Rotated files first, oldest rotation first, so that the old file's
	// lines come before the new one's as far as they can.
	slices.SortFunc(st.order, func(a, b *tailed) int {
		if a.rotated != b.rotated {
			if a.rotated {
				return -1
			}
			return 1
		}
		if a.rotated && !a.rotatedAt.Equal(b.rotatedAt) {
			return a.rotatedAt.Compare(b.rotatedAt)
		}
		return strings.Compare(a.path, b.path)
	})
	for _, t := range st.order {
		if ctx.Err() != nil {
			return false, ctx.Err()
		}
		more, err := st.read(ctx, d, t, now)
		if err != nil {
			return false, err
		}
		if more {
			busy = true
			continue
		}
		if st.startRE != nil && (t.recOpen || len(t.pend) > 0 && !t.skipping) && now.Sub(t.lastData) >= st.in.MultilineTimeout {
			if err := st.flushAll(ctx, d, t, false); err != nil {
				return false, err
			}
		}
		if t.rotated && now.Sub(later(t.lastData, t.rotatedAt)) >= st.in.RotateWait {
			if err := st.finish(ctx, d, t); err != nil {
				return false, err
			}
		}
	}
	clear(st.order)
	return busy, nil
}

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// read reads what is new in t, up to passBudget bytes, and reports whether
// there is more. It first checks the file was not truncated or rewritten.
func (st *state) read(ctx context.Context, d pipeline.Deliverer, t *tailed, now time.Time) (more bool, err error) {
	fi, err := t.f.Stat()
	if err != nil {
		st.fileError(t, "stat", err)
		return false, nil
	}
	if size, mtime := fi.Size(), fi.ModTime(); size != t.size || !mtime.Equal(t.mtime) {
		t.mtime = mtime
		switch {
		case size < t.offset:
			err = st.truncated(ctx, d, t, size, "its size dropped below the read position")
		default:
			if fp, ok := st.checkFingerprint(t.f, t.fp, size); ok {
				t.fp = fp
			} else {
				err = st.truncated(ctx, d, t, size, "its first bytes changed")
			}
		}
		if err != nil {
			st.rewind(t)
			return false, err
		}
		t.size = size
	}
	for read := 0; read < passBudget; {
		n, rerr := t.f.ReadAt(st.rbuf, t.offset)
		if n > 0 {
			base := t.offset
			read += n
			t.offset += int64(n)
			t.lastData = now
			st.metrics.Bytes.Add(uint64(n))
			if err := st.consume(ctx, d, t, st.rbuf[:n], base); err != nil {
				st.rewind(t)
				return false, err
			}
		}
		if rerr != nil {
			if rerr != io.EOF {
				st.fileError(t, "read", rerr)
			}
			return false, nil
		}
	}
	return true, nil
}

func (st *state) fileError(t *tailed, op string, err error) {
	st.metrics.Errors.Add(1)
	st.warn.Warn(op+" "+t.path, "cannot "+op+" a file", "path", t.path, "err", err)
}

// truncated starts t again from its beginning, after delivering the
// complete lines of a pending multi-line record.
func (st *state) truncated(ctx context.Context, d pipeline.Deliverer, t *tailed, size int64, why string) error {
	if err := st.flushRecord(ctx, d, t); err != nil {
		return err
	}
	st.log.Warn("file truncated or rewritten; reading it again from its start",
		"path", t.path, "why", why, "read_position", t.offset, "size", size)
	t.offset, t.committed = 0, 0
	t.resetLine()
	b := st.readPrefix(t.f, size)
	t.fp = fingerprint{n: len(b), sum: fnv64(fnvOffset, b)}
	return nil
}

func (t *tailed) resetLine() {
	t.pend = t.pend[:0]
	if cap(t.pend) > keepBuf {
		t.pend = nil
	}
	t.skipping = false
}

func (t *tailed) resetRecord() {
	t.rec = t.rec[:0]
	if cap(t.rec) > keepBuf {
		t.rec = nil
	}
	t.recOpen, t.recTooLong = false, false
}

// rewind forgets what was read after the last delivered line, to read it
// again (a delivery was interrupted).
func (st *state) rewind(t *tailed) {
	t.offset = t.committed
	t.resetLine()
	t.resetRecord()
}

// consume splits data, read from t at file offset base, into lines.
func (st *state) consume(ctx context.Context, d pipeline.Deliverer, t *tailed, data []byte, base int64) error {
	for len(data) > 0 {
		i := bytes.IndexByte(data, '\n')
		if i < 0 {
			if t.skipping {
				return nil
			}
			if len(t.pend)+len(data) > st.maxLine+1 { // +1: room for a \r before the newline
				st.tooLong(t, len(t.pend)+len(data))
				t.resetLine()
				t.skipping = true
				return nil
			}
			t.pend = append(t.pend, data...)
			return nil
		}
		end := base + int64(i) + 1
		n := len(t.pend) + i // the line's length, without \n or \r\n
		if i > 0 && data[i-1] == '\r' || i == 0 && len(t.pend) > 0 && t.pend[len(t.pend)-1] == '\r' {
			n--
		}
		var err error
		switch {
		case t.skipping:
			t.skipping = false
			st.lineDone(t, end)
		case n > st.maxLine:
			st.tooLong(t, n)
			st.lineDone(t, end)
		case len(t.pend) > 0:
			t.pend = append(t.pend, data[:i]...)
			err = st.line(ctx, d, t, t.pend, end)
		default:
			err = st.line(ctx, d, t, data[:i], end)
		}
		if err != nil {
			return err
		}
		t.resetLine()
		data, base = data[i+1:], end
	}
	return nil
}

// tooLong counts a line of n bytes that is over max_line: at once, or with
// the record it belongs to when that is flushed.
func (st *state) tooLong(t *tailed, n int) {
	if t.recOpen {
		t.recTooLong = true
		return
	}
	st.metrics.Drop(pipeline.DropTooLarge, 1)
	st.warn.Warn("too long "+t.path, "a line is over max_line; it is dropped",
		"path", t.path, "offset", t.committed, "bytes_at_least", n, "max_line", st.maxLine)
}

// lineDone records that the line ending at end was dealt with without a
// message (dropped).
func (st *state) lineDone(t *tailed, end int64) {
	if t.recOpen {
		t.recEnd = end
	} else {
		t.committed = end
	}
}

// line handles one complete line (without its newline) ending at file
// offset end.
func (st *state) line(ctx context.Context, d pipeline.Deliverer, t *tailed, b []byte, end int64) error {
	if n := len(b); n > 0 && b[n-1] == '\r' {
		b = b[:n-1]
	}
	if len(b) > st.maxLine { // an unfinished last line can be one byte over
		st.tooLong(t, len(b))
		st.lineDone(t, end)
		return nil
	}
	if st.startRE == nil {
		// Empty lines are skipped; in the JSON formats, lines of white space too.
		if len(b) > 0 && (st.decoder == nil || len(bytes.TrimSpace(b)) > 0) {
			if err := st.emit(ctx, d, t, b); err != nil {
				return err
			}
		}
		t.committed = end
		return nil
	}
	switch {
	case !t.recOpen && len(b) == 0:
		t.committed = end
		return nil
	case t.recOpen && !st.startRE.Match(b):
		if !t.recTooLong && len(t.rec)+1+len(b) <= st.maxLine {
			t.rec = append(t.rec, '\n')
			t.rec = append(t.rec, b...)
		} else {
			t.recTooLong = true
		}
		t.recEnd = end
		return nil
	case t.recOpen:
		if err := st.flushRecord(ctx, d, t); err != nil {
			return err
		}
	}
	t.rec = append(t.rec[:0], b...)
	t.recOpen, t.recTooLong, t.recEnd = true, false, end
	return nil
}

// flushRecord delivers the pending multi-line record, if any.
func (st *state) flushRecord(ctx context.Context, d pipeline.Deliverer, t *tailed) error {
	if !t.recOpen {
		return nil
	}
	if t.recTooLong {
		st.metrics.Drop(pipeline.DropTooLarge, 1)
		st.warn.Warn("too long "+t.path, "a multi-line record is over max_line; it is dropped",
			"path", t.path, "offset", t.committed, "max_line", st.maxLine)
	} else if err := st.emit(ctx, d, t, t.rec); err != nil {
		return err
	}
	t.committed = t.recEnd
	t.resetRecord()
	return nil
}

// flushAll delivers the unfinished last line as a line, then the pending
// record: for a file that is quiet, or finished (final). An over-long line
// being skipped stays skipped unless the file is finished.
func (st *state) flushAll(ctx context.Context, d pipeline.Deliverer, t *tailed, final bool) error {
	switch {
	case t.skipping && final:
		st.lineDone(t, t.offset)
		t.resetLine()
	case !t.skipping && len(t.pend) > 0:
		if err := st.line(ctx, d, t, t.pend, t.offset); err != nil {
			st.rewind(t)
			return err
		}
		t.resetLine()
	}
	if err := st.flushRecord(ctx, d, t); err != nil {
		st.rewind(t)
		return err
	}
	return nil
}

// finish delivers what is left of a rotated file and closes it.
func (st *state) finish(ctx context.Context, d pipeline.Deliverer, t *tailed) error {
	if err := st.flushAll(ctx, d, t, true); err != nil {
		return err
	}
	st.log.Info("finished reading a rotated or deleted file", "path", t.path, "bytes", t.offset)
	st.close(t)
	return nil
}

func (st *state) close(t *tailed) {
	t.f.Close()
	delete(st.files, t.id)
	st.in.nopen.Add(-1)
}

func (st *state) closeAll() {
	for _, t := range st.files {
		st.close(t)
	}
}
