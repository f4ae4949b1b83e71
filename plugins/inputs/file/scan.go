package filein

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// fileID identifies a file: by device and inode where the system has them,
// else by path.
type fileID struct {
	dev, ino uint64
	path     string // only without inodes
}

func idOf(path string, fi os.FileInfo) fileID {
	if dev, ino, ok := inode(fi); ok {
		return fileID{dev: dev, ino: ino}
	}
	return fileID{path: path}
}

// maxWalk bounds the directory entries one ** pattern visits in one scan.
const maxWalk = 100000

const sep = string(filepath.Separator)

// checkPattern reports a glob pattern filepath.Match rejects, or a **
// that is not a whole path element.
func checkPattern(p string) error {
	if p == "" {
		return errors.New("an empty pattern")
	}
	if _, err := filepath.Match(p, ""); err != nil {
		return fmt.Errorf("%q is not a valid glob pattern", p)
	}
	for _, seg := range strings.Split(p, sep) {
		if strings.Contains(seg, "**") && seg != "**" {
			return fmt.Errorf("%q: ** must be a whole path element, as in /var/log/**/*.log", p)
		}
	}
	return nil
}

func hasDoubleStar(p string) bool {
	return slices.Contains(strings.Split(p, sep), "**")
}

func hasMeta(s string) bool {
	magic := `*?[`
	if filepath.Separator != '\\' {
		magic = `*?[\`
	}
	return strings.ContainsAny(s, magic)
}

// expandPattern returns the paths matching p.
func expandPattern(p string) ([]string, error) {
	if !hasDoubleStar(p) {
		return filepath.Glob(p)
	}
	segs := strings.Split(p, sep)
	i := 0
	for i < len(segs) && !hasMeta(segs[i]) && segs[i] != "**" {
		i++
	}
	root := strings.Join(segs[:i], sep)
	if root == "" {
		root = sep
	}
	var out []string
	var err error
	visited := 0
	_ = filepath.WalkDir(root, func(path string, d fs.DirEntry, werr error) error {
		if werr != nil {
			return nil // unreadable: skip it
		}
		if visited++; visited > maxWalk {
			err = fmt.Errorf("pattern %q: stopped after %d directory entries", p, maxWalk)
			return filepath.SkipAll
		}
		if !d.IsDir() && matchPath(p, path) {
			out = append(out, path)
		}
		return nil
	})
	return out, err
}

// matchPath reports whether path matches pattern element by element, **
// matching any number of elements (none included).
func matchPath(pattern, path string) bool {
	ps, ss := strings.Split(pattern, sep), strings.Split(path, sep)
	// prev[j]: the pattern's elements so far match ss[:j].
	prev := make([]bool, len(ss)+1)
	cur := make([]bool, len(ss)+1)
	prev[0] = true
	for _, p := range ps {
		if p == "**" {
			acc := false
			for j := range cur {
				acc = acc || prev[j]
				cur[j] = acc
			}
		} else {
			cur[0] = false
			for j := 1; j <= len(ss); j++ {
				cur[j] = false
				if prev[j-1] {
					cur[j], _ = filepath.Match(p, ss[j-1])
				}
			}
		}
		prev, cur = cur, prev
	}
	return prev[len(ss)]
}

func (st *state) excluded(path string) bool {
	if st.dataDir != "" && strings.HasPrefix(path, st.dataDir+sep) { // never tail our own checkpoints
		return true
	}
	for _, x := range st.excludes {
		if strings.Contains(x, sep) {
			if matchPath(x, path) {
				return true
			}
		} else if ok, _ := filepath.Match(x, filepath.Base(path)); ok {
			return true
		}
	}
	return false
}

// coveredByOld reports whether a pattern of the previous run matched path:
// then the file appeared while metlogd was stopped, and is read from its
// beginning rather than as start_at says.
func (st *state) coveredByOld(path string) bool {
	for _, p := range st.oldPatterns {
		if matchPath(p, path) {
			return true
		}
	}
	return false
}

// scan finds the files the patterns match now: it opens new ones, notes
// renames within the patterns, and marks files no longer found at any path
// as rotated. initial is the first scan after Start.
func (st *state) scan(now time.Time, initial bool) {
	st.found = st.found[:0]
	for _, p := range st.patterns {
		paths, err := expandPattern(p)
		if err != nil {
			st.warn.Warn("glob "+p, "cannot expand a pattern", "pattern", p, "err", err)
		}
		for _, path := range paths {
			if !st.excluded(path) {
				st.found = append(st.found, path)
			}
		}
	}
	slices.Sort(st.found)
	st.found = slices.Compact(st.found)
	clear(st.seen)
	for _, path := range st.found {
		fi, err := os.Stat(path)
		if err != nil || !fi.Mode().IsRegular() {
			continue
		}
		id := idOf(path, fi)
		if t := st.files[id]; t != nil {
			st.seen[id] = true
			if t.path != path {
				st.log.Info("file renamed", "from", t.path, "to", path)
				t.setPath(path)
			}
			t.rotated = false
			continue
		}
		st.open(path, id, initial, now)
	}
	for id, t := range st.files {
		if !st.seen[id] && !t.rotated {
			t.rotated, t.rotatedAt = true, now
			st.log.Info("file renamed away or deleted; reading it to its end", "path", t.path, "rotate_wait", st.in.RotateWait)
		}
	}
	if initial {
		// Checkpoints of files the patterns no longer find are forgotten,
		// except those waiting for a free slot.
		for id, r := range st.resume {
			if !st.waiting[r.path] {
				st.log.Info("checkpoint dropped: the file is not matched by paths any more", "path", r.path)
				delete(st.resume, id)
			}
		}
	}
	for path := range st.waiting {
		if _, ok := slices.BinarySearch(st.found, path); !ok {
			delete(st.waiting, path)
		}
	}
	for path := range st.broken {
		if _, ok := slices.BinarySearch(st.found, path); !ok {
			delete(st.broken, path)
		}
	}
}

// open starts tailing the file at path, known as id by its stat.
func (st *state) open(path string, id fileID, initial bool, now time.Time) {
	atEnd, waited := st.waiting[path]
	if !waited {
		atEnd = initial && st.in.StartAt == "end" && !st.coveredByOld(path)
	}
	if len(st.files) >= st.in.MaxOpenFiles {
		if !waited {
			st.waiting[path] = atEnd
			st.warn.Warn("max_open_files", "too many open files; files wait until others are closed",
				"path", path, "max_open_files", st.in.MaxOpenFiles)
		}
		return
	}
	f, err := os.Open(path)
	if err != nil {
		if prev, ok := st.broken[path]; !ok || prev != id {
			st.broken[path] = id
			st.metrics.Errors.Add(1)
			st.warn.Warn("open "+path, "cannot open a file", "path", path, "err", err)
		}
		return
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return
	}
	if id = idOf(path, fi); st.files[id] != nil { // replaced between stat and open by a file we have
		f.Close()
		st.seen[id] = true
		return
	}
	delete(st.broken, path)
	delete(st.waiting, path)
	var offset int64
	switch r, ok := st.resume[id]; {
	case ok:
		delete(st.resume, id)
		offset = r.offset
		st.log.Info("resuming a file from its checkpoint", "path", path, "offset", offset)
	case atEnd:
		offset = st.endOffset(f, fi.Size())
	}
	st.add(f, path, id, fi.Size(), offset, now)
}

// add starts tailing the open file f at offset.
func (st *state) add(f *os.File, path string, id fileID, size, offset int64, now time.Time) {
	t := &tailed{id: id, f: f, size: -1, offset: offset, committed: offset, lastData: now}
	t.setPath(path)
	prefix := st.readPrefix(f, size)
	t.fp = fingerprint{n: len(prefix), sum: fnv64(fnvOffset, prefix)}
	st.files[id] = t
	st.seen[id] = true
	st.in.nopen.Add(1)
	st.log.Debug("tailing a file", "path", path, "offset", offset)
}

// endOffset is where start_at = "end" reads a file of size bytes from: its
// end, or the start of an unfinished last line, so that the line is
// delivered whole once its newline comes.
func (st *state) endOffset(f *os.File, size int64) int64 {
	w := min(size, int64(len(st.rbuf)), int64(st.maxLine)+1)
	if w <= 0 {
		return size
	}
	buf := st.rbuf[:w]
	n, _ := f.ReadAt(buf, size-w)
	if i := bytes.LastIndexByte(buf[:n], '\n'); i >= 0 {
		return size - w + int64(i) + 1
	}
	if w == size {
		return 0 // the whole file is one unfinished line
	}
	return size
}
