//go:build !race

package message

// raceEnabled reports that the tests run without the race detector.
const raceEnabled = false
