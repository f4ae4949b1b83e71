//go:build !race

package matcher

// raceEnabled reports that the tests run without the race detector.
const raceEnabled = false
