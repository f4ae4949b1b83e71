package client

// RaceEnabled lets the external tests (package client_test) skip allocation
// counts under the race detector.
const RaceEnabled = raceEnabled
