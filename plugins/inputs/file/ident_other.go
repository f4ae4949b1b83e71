//go:build !unix

package filein

import "os"

// haveInodes says whether files are identified by device and inode: not
// here, where a file is known by its path (and fingerprint), so that a
// renamed file is read again from its start.
const haveInodes = false

func inode(os.FileInfo) (dev, ino uint64, ok bool) { return 0, 0, false }
