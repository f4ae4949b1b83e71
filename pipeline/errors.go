package pipeline

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// permanentError marks an error that retrying cannot fix.
type permanentError struct{ err error }

func (e permanentError) Error() string { return e.err.Error() }
func (e permanentError) Unwrap() error { return e.err }

// Permanent marks err as one that retrying cannot fix, such as a message
// the endpoint rejects as malformed. Outputs return it from Deliver so that
// the batch is set aside instead of retried. Permanent(nil) is nil.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return permanentError{err}
}

// IsPermanent reports whether err, or an error it wraps, was marked with
// Permanent.
func IsPermanent(err error) bool {
	var p permanentError
	return errors.As(err, &p)
}

// A ConfigError is one problem in a configuration, located as precisely as
// it can be: file, line, section and key.
type ConfigError struct {
	File    string
	Line    int    // 0 when unknown
	Section string // "" for problems of the file as a whole
	Key     string // "" for problems of the section as a whole
	Msg     string // a plain sentence
}

func (e *ConfigError) Error() string {
	var b strings.Builder
	if e.File != "" {
		b.WriteString(e.File)
		if e.Line > 0 {
			fmt.Fprintf(&b, ":%d", e.Line)
		}
		b.WriteString(": ")
	}
	if e.Section != "" {
		fmt.Fprintf(&b, "[%s] ", e.Section)
	}
	if e.Key != "" {
		fmt.Fprintf(&b, "%s: ", e.Key)
	}
	b.WriteString(e.Msg)
	return b.String()
}

// ConfigErrors is every problem found in a configuration.
type ConfigErrors []*ConfigError

func (es ConfigErrors) Error() string {
	lines := make([]string, len(es))
	for i, e := range es {
		lines[i] = e.Error()
	}
	return strings.Join(lines, "\n")
}

// dataDir returns dir/name, creating it.
func dataDir(dir, name string) (string, error) {
	if dir == "" {
		return "", errors.New("no data directory is configured ([metlogd] data_dir)")
	}
	p := filepath.Join(dir, name)
	if err := os.MkdirAll(p, 0o755); err != nil {
		return "", fmt.Errorf("create the data directory of %s: %w", name, err)
	}
	return p, nil
}
