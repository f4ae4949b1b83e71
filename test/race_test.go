//go:build race

package test

// raceEnabled builds the binaries under test with -race too, so that a data
// race inside metlogd fails the end-to-end tests.
const raceEnabled = true
