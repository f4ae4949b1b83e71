//go:build !unix

package client

import "time"

// processCPU reports no CPU times where getrusage(2) is missing; the cpu.*
// gauges are then left out of each sample.
func processCPU() (user, sys time.Duration, ok bool) { return 0, 0, false }
