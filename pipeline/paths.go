package pipeline

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
)

// CheckDir reports, without creating anything, whether files could be
// created in dir: dir must be a directory, or not exist yet below an
// existing directory (it is then created when the plugin starts). Plugins
// call it from Validate so that `metlogd -check` finds unreachable paths.
func CheckDir(dir string) error {
	if dir == "" {
		dir = "."
	}
	for p := filepath.Clean(dir); ; p = filepath.Dir(p) {
		st, err := os.Stat(p)
		switch {
		case err == nil && st.IsDir():
			return nil
		case err == nil:
			if p == filepath.Clean(dir) {
				return fmt.Errorf("%s is not a directory", p)
			}
			return fmt.Errorf("%s is a file, so %s cannot be created", p, dir)
		case !errors.Is(err, fs.ErrNotExist) && !errors.Is(err, syscall.ENOTDIR): // a file above it: look further up
			return fmt.Errorf("%s: %w", p, err)
		}
		if parent := filepath.Dir(p); parent == p {
			return nil // nothing exists up to the root: let Start report it
		}
	}
}
