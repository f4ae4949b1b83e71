//go:build !race

package client

// raceEnabled reports that the tests run without the race detector.
const raceEnabled = false
