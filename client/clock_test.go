package client

import (
	"testing"
	"time"
)

func TestWallClock(t *testing.T) {
	var c wallClock
	for range 1000 {
		before := time.Now().UnixNano()
		got := c.now()
		after := time.Now().UnixNano()
		if got < before || got > after {
			t.Fatalf("now() = %d, not within [%d, %d]", got, before, after)
		}
	}
	// A fresh base is used as is: a base that lies about the wall time
	// shows through until it is a second old.
	c.base.Store(&clockBase{t: time.Now(), wall: 42})
	if got := c.now(); got < 42 || got > 42+int64(rebaseAfter) {
		t.Fatalf("now() = %d, want 42 plus the time since the base", got)
	}
	// A base older than rebaseAfter is replaced by a reading of the clock.
	c.base.Store(&clockBase{t: time.Now().Add(-2 * rebaseAfter), wall: 42})
	before := time.Now().UnixNano()
	if got := c.now(); got < before {
		t.Fatalf("a stale base was used: now() = %d, want at least %d", got, before)
	}
	if b := c.base.Load(); b.wall < before {
		t.Fatalf("the stale base was not replaced: %+v", b)
	}
}

func BenchmarkWallClock(b *testing.B) {
	var c wallClock
	b.ReportAllocs()
	for b.Loop() {
		_ = c.now()
	}
}

func BenchmarkTimeNow(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		_ = time.Now().UnixNano()
	}
}
