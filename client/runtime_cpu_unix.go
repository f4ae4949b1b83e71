//go:build unix

package client

import (
	"syscall"
	"time"
)

// processCPU returns the user and system CPU time of the process since it
// started, from getrusage(2).
func processCPU() (user, sys time.Duration, ok bool) {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0, 0, false
	}
	return time.Duration(ru.Utime.Nano()), time.Duration(ru.Stime.Nano()), true
}
