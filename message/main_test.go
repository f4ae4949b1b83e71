package message

import (
	"flag"
	"runtime/debug"
)

// update makes golden tests rewrite their expected files in testdata
// instead of comparing against them: go test ./message -update.
var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// raceEnabled reports whether the tests run under the race detector, which
// makes sync.Pool drop items at random: allocation counts of code that
// pools mean nothing then.
var raceEnabled = func() bool {
	info, ok := debug.ReadBuildInfo()
	if ok {
		for _, s := range info.Settings {
			if s.Key == "-race" {
				return s.Value == "true"
			}
		}
	}
	return false
}()
