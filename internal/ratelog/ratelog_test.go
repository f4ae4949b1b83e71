package ratelog

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
	"time"
)

func TestLimiter(t *testing.T) {
	var buf bytes.Buffer
	l := New(slog.New(slog.NewTextHandler(&buf, nil)), time.Hour)
	for range 5 {
		l.Warn("bad-frame", "bad frame", "remote", "1.2.3.4")
	}
	l.Error("other", "another problem")
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 2 || !strings.Contains(lines[0], "bad frame") || !strings.Contains(lines[1], "level=ERROR") {
		t.Fatalf("logged %q", lines)
	}
	// Once the interval has passed, the next line says how many were not logged.
	l.keys["bad-frame"].last = time.Now().Add(-2 * time.Hour)
	buf.Reset()
	l.Warn("bad-frame", "bad frame")
	if !strings.Contains(buf.String(), "suppressed=4") {
		t.Fatalf("logged %q; want the 4 suppressed lines counted", buf.String())
	}
}

func TestLimiterBoundsKeys(t *testing.T) {
	var buf bytes.Buffer
	l := New(slog.New(slog.NewTextHandler(&buf, nil)), time.Hour)
	for i := range 5000 {
		l.Warn(strings.Repeat("k", i%3000+1), "x")
	}
	if len(l.keys) > 1024 {
		t.Fatalf("%d keys kept", len(l.keys))
	}
}
