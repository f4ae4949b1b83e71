//go:build unix

package filein

import (
	"os"
	"syscall"
)

// haveInodes says whether files are identified by device and inode.
const haveInodes = true

// inode returns the device and inode number of fi.
func inode(fi os.FileInfo) (dev, ino uint64, ok bool) {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return 0, 0, false
	}
	return uint64(st.Dev), uint64(st.Ino), true //nolint:unconvert // Dev is int32 on some systems
}
