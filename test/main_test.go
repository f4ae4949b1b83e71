package test

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// bin holds the binaries TestMain built, or why it could not.
var bin struct {
	metlogd, metlog string
	err             error
}

func TestMain(m *testing.M) {
	flag.Parse()
	if testing.Short() {
		// Every test skips itself; nothing to build.
		os.Exit(m.Run())
	}
	dir, err := os.MkdirTemp("", "metlog-e2e-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		os.Exit(1)
	}
	bin.err = build(dir)
	bin.metlogd = filepath.Join(dir, "metlogd")
	bin.metlog = filepath.Join(dir, "metlog")
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// build compiles cmd/metlogd and cmd/metlog of the module this package is
// in into dir.
func build(dir string) error {
	root, err := moduleRoot()
	if err != nil {
		return err
	}
	goCmd, err := exec.LookPath("go")
	if err != nil { // go test exports the GOROOT it runs from
		goCmd = filepath.Join(os.Getenv("GOROOT"), "bin", "go")
	}
	args := []string{"build", "-o", dir + string(filepath.Separator)}
	if raceEnabled {
		args = append(args, "-race")
	}
	args = append(args, "./cmd/metlogd", "./cmd/metlog")
	cmd := exec.Command(goCmd, args...)
	cmd.Dir = root
	start := time.Now()
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("go %s (in %s): %v\n%s", strings.Join(args, " "), root, err, out)
	}
	if testing.Verbose() {
		fmt.Fprintf(os.Stderr, "e2e: built metlogd and metlog (race=%v) in %v\n", raceEnabled, time.Since(start).Round(time.Millisecond))
	}
	return nil
}

// moduleRoot finds the directory of go.mod declaring module
// github.com/metlog/metlog, from the working directory up.
func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for d := dir; ; d = filepath.Dir(d) {
		b, err := os.ReadFile(filepath.Join(d, "go.mod"))
		if err == nil && bytes.Contains(b, []byte("module github.com/metlog/metlog\n")) {
			return d, nil
		}
		if filepath.Dir(d) == d {
			return "", fmt.Errorf("no go.mod of module github.com/metlog/metlog above %s", dir)
		}
	}
}

// needBinaries skips a test under -short and fails it when the binaries
// could not be built.
func needBinaries(t testing.TB) {
	t.Helper()
	if testing.Short() {
		t.Skip("end-to-end test: starts real metlogd processes; skipped with -short")
	}
	if bin.err != nil {
		t.Fatalf("building the binaries failed: %v", bin.err)
	}
}
