package fileout

import (
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

// staleTemp is the age after which a compression's temporary file, left by
// a crash, is removed.
const staleTemp = time.Hour

// An oldFile is a file the output wrote and has left: rotated, or an
// earlier expansion of the path, maybe gzipped.
type oldFile struct {
	path  string
	mtime time.Time
}

// housekeeper runs a pass over the old files whenever kicked (after a
// rotation, a switch to a new path, and once at start), until Stop.
func (f *File) housekeeper() {
	defer f.wg.Done()
	for {
		select {
		case <-f.quit:
			return
		case <-f.kick:
			f.housekeep()
		}
	}
}

// housekeep deletes the old files beyond the newest Keep, then gzips the
// rest when Compress is set.
func (f *File) housekeep() {
	files := f.oldFiles()
	if f.Keep > 0 && len(files) > f.Keep {
		for _, o := range files[f.Keep:] {
			if err := f.removeOld(o.path); err != nil {
				f.metrics.Errors.Add(1)
				f.rl.Warn("remove", "cannot delete an old file", "err", err)
			}
		}
		files = files[:f.Keep]
	}
	if !f.Compress {
		return
	}
	for _, o := range files {
		if strings.HasSuffix(o.path, ".gz") {
			continue
		}
		if err := f.compress(o.path); err != nil {
			if errors.Is(err, errStopped) {
				return
			}
			f.metrics.Errors.Add(1)
			f.rl.Warn("compress", "cannot compress an old file", "err", err)
		}
	}
	f.removeStaleTemps()
}

// oldFiles lists the old files, newest first (by modification time, then
// name): rotated files, and when the path has placeholders, its earlier
// expansions; each plain or gzipped. The open file is not one.
func (f *File) oldFiles() []oldFile {
	var patterns []string
	if f.tmpl.hasVerbs {
		g := f.tmpl.glob()
		patterns = append(patterns, g, g+".gz")
	}
	r := f.tmpl.rotatedGlob()
	patterns = append(patterns, r, r+".gz")
	f.mu.Lock()
	cur := f.cur
	f.mu.Unlock()
	seen := map[string]bool{}
	var out []oldFile
	for _, p := range patterns {
		matches, _ := filepath.Glob(p) // the patterns are escaped: no ErrBadPattern
		for _, m := range matches {
			if m == cur || seen[m] {
				continue
			}
			seen[m] = true
			st, err := os.Lstat(m)
			if err != nil || !st.Mode().IsRegular() {
				continue
			}
			out = append(out, oldFile{path: m, mtime: st.ModTime()})
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if !out[i].mtime.Equal(out[j].mtime) {
			return out[i].mtime.After(out[j].mtime)
		}
		return out[i].path > out[j].path
	})
	return out
}

// removeOld deletes an old file unless it has become the open one (the
// clock went back to its period).
func (f *File) removeOld(path string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if path == f.cur {
		return nil
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return nil
}

var errStopped = errors.New("stopped")

// compress writes path.gz through a temporary file, then removes path. The
// gzipped file keeps path's modification time, so that it keeps its place
// among the old files, and its permissions.
func (f *File) compress(path string) (err error) {
	in, err := os.Open(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		return err
	}
	defer in.Close()
	st, err := in.Stat()
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), filepath.Base(path)+".gz.tmp-*")
	if err != nil {
		return fmt.Errorf("compress %s: %w", path, err)
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	zw := gzip.NewWriter(tmp)
	if err := f.copyUntilStopped(zw, in); err != nil {
		return err
	}
	if err := zw.Close(); err != nil {
		return fmt.Errorf("compress %s: %w", path, err)
	}
	// On disk before the original goes, whatever the fsync policy.
	if err := tmp.Sync(); err != nil {
		return fmt.Errorf("compress %s: %w", path, err)
	}
	if err := tmp.Chmod(st.Mode().Perm()); err != nil {
		return fmt.Errorf("compress %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("compress %s: %w", path, err)
	}
	if err := os.Chtimes(tmp.Name(), st.ModTime(), st.ModTime()); err != nil {
		return fmt.Errorf("compress %s: %w", path, err)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if path == f.cur {
		return fmt.Errorf("compress %s: it is the open file again", path)
	}
	if err := os.Rename(tmp.Name(), path+".gz"); err != nil {
		return fmt.Errorf("compress %s: %w", path, err)
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("compress %s: %w", path, err)
	}
	syncDir(filepath.Dir(path))
	return nil
}

// copyUntilStopped copies r to w, giving up with errStopped when Stop is
// called, so that stopping never waits for a large file.
func (f *File) copyUntilStopped(w io.Writer, r io.Reader) error {
	buf := make([]byte, 256<<10)
	for {
		select {
		case <-f.quit:
			return errStopped
		default:
		}
		n, err := r.Read(buf)
		if n > 0 {
			if _, werr := w.Write(buf[:n]); werr != nil {
				return werr
			}
		}
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

// removeStaleTemps removes temporary files a crash left in the middle of a
// compression.
func (f *File) removeStaleTemps() {
	var patterns []string
	if f.tmpl.hasVerbs {
		patterns = append(patterns, f.tmpl.glob()+".gz.tmp-*")
	}
	patterns = append(patterns, f.tmpl.rotatedGlob()+".gz.tmp-*")
	for _, p := range patterns {
		matches, _ := filepath.Glob(p)
		for _, m := range matches {
			if st, err := os.Lstat(m); err == nil && st.Mode().IsRegular() && time.Since(st.ModTime()) > staleTemp {
				os.Remove(m)
			}
		}
	}
}
