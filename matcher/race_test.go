//go:build race

package matcher

// raceEnabled reports that the tests run under the race detector, which
// makes sync.Pool drop items at random: allocation counts of code that
// pools mean nothing then.
const raceEnabled = true
