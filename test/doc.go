// Package test holds metlog's black-box end-to-end tests. TestMain builds
// the real metlogd and metlog binaries (with -race when the tests run with
// -race); each test starts metlogd processes with a configuration written to
// a temporary directory, sends traffic with the client library, the metlog
// tool and raw sockets, and reads back what landed in files, in a second
// chained metlogd, in /status and in the logs.
//
// The tests are not short: `go test -short ./...` skips them. A failing
// test prints the output of its metlogd processes; E2E_LOGS=1 prints it
// for passing tests too.
package test
