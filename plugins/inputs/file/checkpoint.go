package filein

import (
	"bytes"
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
)

// checkpointVersion is the version of the checkpoint file's layout.
const checkpointVersion = 1

// checkpointFile is the checkpoint file: where each file's delivered lines
// end.
type checkpointFile struct {
	Version int `json:"version"`
	// Patterns are the paths patterns of the run that wrote it.
	Patterns []string          `json:"patterns"`
	Files    []checkpointEntry `json:"files"`
}

type checkpointEntry struct {
	Path  string `json:"path"`
	Dev   uint64 `json:"dev,omitempty"`
	Inode uint64 `json:"inode,omitempty"`
	// FingerprintBytes and Fingerprint are the FNV-1a 64 hash, in hex, of
	// the file's first bytes.
	FingerprintBytes int    `json:"fingerprint_bytes"`
	Fingerprint      string `json:"fingerprint"`
	// Offset is where the lines not yet delivered start.
	Offset int64 `json:"offset"`
}

// saved is a checkpoint entry, checked.
type saved struct {
	path   string
	id     fileID
	fp     fingerprint
	offset int64
}

// parseCheckpoint reads a checkpoint file. Entries that make no sense are
// reported in bad and left out.
func parseCheckpoint(b []byte) (patterns []string, entries []saved, bad []string, err error) {
	var cf checkpointFile
	if err := json.Unmarshal(b, &cf); err != nil {
		return nil, nil, nil, err
	}
	if cf.Version != checkpointVersion {
		return nil, nil, nil, fmt.Errorf("version %d is not %d", cf.Version, checkpointVersion)
	}
	for _, e := range cf.Files {
		sum, perr := strconv.ParseUint(e.Fingerprint, 16, 64)
		switch {
		case e.Path == "":
			bad = append(bad, "an entry without a path")
		case e.FingerprintBytes < 0 || e.FingerprintBytes > fpMax || perr != nil:
			bad = append(bad, e.Path+": a malformed fingerprint")
		case e.Offset < 0:
			bad = append(bad, e.Path+": a negative offset")
		default:
			id := fileID{dev: e.Dev, ino: e.Inode}
			if !haveInodes {
				id = fileID{path: e.Path}
			}
			entries = append(entries, saved{path: e.Path, id: id, fp: fingerprint{n: e.FingerprintBytes, sum: sum}, offset: e.Offset})
		}
	}
	return cf.Patterns, entries, bad, nil
}

// loadCheckpoint reads the checkpoint file, if there is one, and decides
// what each entry applies to: a file still at its path (resumed when the
// scan finds it), a file renamed within its directory while metlogd was
// stopped (opened now, to be read to its end), or nothing (dropped). A
// checkpoint that cannot be parsed is set aside, as if there were none.
func (st *state) loadCheckpoint(now time.Time) error {
	b, err := os.ReadFile(st.ckptPath)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil
	case err != nil:
		return fmt.Errorf("read the checkpoint file: %w", err)
	}
	patterns, entries, bad, err := parseCheckpoint(b)
	if err != nil {
		aside := st.ckptPath + ".bad"
		_ = os.Rename(st.ckptPath, aside)
		st.metrics.Errors.Add(1)
		st.log.Error("the checkpoint file is unreadable and set aside; files are read as on a first start",
			"file", aside, "err", err)
		return nil
	}
	for _, b := range bad {
		st.log.Warn("checkpoint entry dropped: " + b)
	}
	st.oldPatterns = patterns
	for _, e := range entries {
		st.resolve(e, now)
	}
	st.lastWritten = b
	return nil
}

func (st *state) resolve(e saved, now time.Time) {
	if _, dup := st.resume[e.id]; dup || st.files[e.id] != nil {
		return
	}
	if fi, err := os.Stat(e.path); err == nil && fi.Mode().IsRegular() && idOf(e.path, fi) == e.id {
		f, err := os.Open(e.path)
		if err != nil {
			st.metrics.Errors.Add(1)
			st.log.Warn("checkpoint not applied: cannot open the file", "path", e.path, "err", err)
			return
		}
		why := st.verify(f, e)
		f.Close()
		if why != "" {
			st.log.Warn("checkpoint not applied: "+why+"; the file is read from its start", "path", e.path, "offset", e.offset)
			return
		}
		st.resume[e.id] = e
		return
	}
	if haveInodes {
		if p := findInode(filepath.Dir(e.path), e.id); p != "" {
			if st.openMoved(p, e, now) {
				return
			}
		}
	}
	st.log.Warn("checkpoint dropped: the file is gone", "path", e.path, "offset", e.offset)
}

// verify returns why the checkpoint e does not apply to f, or "".
func (st *state) verify(f *os.File, e saved) string {
	fi, err := f.Stat()
	if err != nil {
		return err.Error()
	}
	if e.offset > fi.Size() {
		return "the file is shorter than the checkpoint's offset (truncated)"
	}
	if _, ok := st.checkFingerprint(f, e.fp, fi.Size()); !ok {
		return "the file's first bytes differ (a different file)"
	}
	return ""
}

// openMoved opens a file that was renamed while metlogd was stopped, to
// read the rest of it.
func (st *state) openMoved(path string, e saved, now time.Time) bool {
	f, err := os.Open(path)
	if err != nil {
		return false
	}
	fi, err := f.Stat()
	if err != nil || idOf(path, fi) != e.id || st.verify(f, e) != "" {
		f.Close()
		return false
	}
	if len(st.files) >= st.in.MaxOpenFiles {
		f.Close()
		st.log.Warn("checkpoint dropped: too many open files to finish a file rotated while stopped", "path", path)
		return true
	}
	st.log.Info("a file was renamed while stopped; reading the rest of it", "from", e.path, "to", path, "offset", e.offset)
	st.add(f, path, e.id, fi.Size(), e.offset, now)
	return true
}

// findInode returns the path of the file in dir with identity id, or "".
func findInode(dir string, id fileID) string {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return ""
	}
	for i, de := range ents {
		if i >= maxWalk {
			break
		}
		if de.IsDir() {
			continue
		}
		p := filepath.Join(dir, de.Name())
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() && idOf(p, fi) == id {
			return p
		}
	}
	return ""
}

// saveCheckpoint writes the checkpoint file when it changed: the delivered
// offset of every open file and of every checkpoint still waiting for its
// file to be opened.
func (st *state) saveCheckpoint() error {
	cf := checkpointFile{Version: checkpointVersion, Patterns: st.patterns, Files: []checkpointEntry{}}
	add := func(path string, id fileID, fp fingerprint, offset int64) {
		cf.Files = append(cf.Files, checkpointEntry{
			Path: path, Dev: id.dev, Inode: id.ino,
			FingerprintBytes: fp.n, Fingerprint: strconv.FormatUint(fp.sum, 16),
			Offset: offset,
		})
	}
	for _, t := range st.files {
		add(t.path, t.id, t.fp, t.committed)
	}
	for _, r := range st.resume {
		add(r.path, r.id, r.fp, r.offset)
	}
	slices.SortFunc(cf.Files, func(a, b checkpointEntry) int {
		if c := strings.Compare(a.Path, b.Path); c != 0 {
			return c
		}
		return cmp.Compare(a.Inode, b.Inode)
	})
	b, err := json.MarshalIndent(cf, "", "  ")
	if err != nil {
		return err
	}
	b = append(b, '\n')
	if bytes.Equal(b, st.lastWritten) {
		return nil
	}
	if err := writeAtomic(st.ckptPath, b); err != nil {
		return err
	}
	st.lastWritten = b
	return nil
}

// writeAtomic replaces the file at path with b: written to a temporary
// file, synced, renamed over path, and the directory synced, so that a
// crash leaves the old file or the new one, never a mix.
func writeAtomic(path string, b []byte) error {
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return fmt.Errorf("write checkpoint: %w", err)
	}
	_, err = f.Write(b)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("write checkpoint %s: %w", path, err)
	}
	if d, err := os.Open(filepath.Dir(path)); err == nil {
		_ = d.Sync() // not supported everywhere; the rename is done either way
		d.Close()
	}
	return nil
}
