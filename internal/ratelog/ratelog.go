// Package ratelog logs repeated problems (bad input from a client, say) at
// most once per interval per kind, saying how many were not logged, so that
// a flood of garbage cannot flood the log.
package ratelog

import (
	"context"
	"log/slog"
	"sync"
	"time"
)

// Limiter logs each key at most once per interval.
type Limiter struct {
	log   *slog.Logger
	every time.Duration
	mu    sync.Mutex
	keys  map[string]*entry
}

type entry struct {
	last       time.Time
	suppressed int
}

// New returns a Limiter logging to log at most once per every, per key.
func New(log *slog.Logger, every time.Duration) *Limiter {
	return &Limiter{log: log, every: every, keys: make(map[string]*entry)}
}

// Warn logs msg at warning level unless key was logged less than the
// interval ago; then it counts it, and the next line says how many were
// suppressed.
func (l *Limiter) Warn(key, msg string, args ...any) {
	l.logAt(slog.LevelWarn, key, msg, args)
}

// Error is Warn at error level.
func (l *Limiter) Error(key, msg string, args ...any) {
	l.logAt(slog.LevelError, key, msg, args)
}

func (l *Limiter) logAt(level slog.Level, key, msg string, args []any) {
	now := time.Now()
	l.mu.Lock()
	e := l.keys[key]
	if e == nil {
		if len(l.keys) >= 1024 { // bound memory: forget everything
			clear(l.keys)
		}
		e = &entry{}
		l.keys[key] = e
	}
	if !e.last.IsZero() && now.Sub(e.last) < l.every {
		e.suppressed++
		l.mu.Unlock()
		return
	}
	n := e.suppressed
	e.last, e.suppressed = now, 0
	l.mu.Unlock()
	if n > 0 {
		args = append(args, "suppressed", n)
	}
	l.log.Log(context.Background(), level, msg, args...)
}
