// Package bench compares the hot path of metlog's client with zap and
// log/slog, side by side in one run. It is a module of its own so that zap
// stays out of metlog's go.mod.
//
//	cd bench && go test -run '^$' -bench . -benchmem
//
// metlog runs through its real async TCP sender into a listener in the same
// process that reads and discards what arrives, so each operation includes
// building the message, encoding it as framed protobuf and queueing it; the
// writer goroutine's syscalls run on the other core. zap uses its production
// JSON encoder writing to io.Discard, slog its JSON handler writing to
// io.Discard: they format the same information and write nothing anywhere.
// zap's sampling is off (it would drop most messages) and so is caller
// lookup (metlog does not record the caller either).
package bench

import (
	"context"
	"io"
	"log/slog"
	"net"
	"testing"
	"time"

	"github.com/metlog/metlog/client"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// tcpClient returns a client sending framed protobuf over TCP to a local
// listener that discards what it reads.
func tcpClient(b *testing.B) *client.Client {
	b.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { _, _ = io.Copy(io.Discard, conn) }()
		}
	}()
	c, err := client.New(client.Config{
		Logger: "bench",
		Sender: client.SenderConfig{URL: "tcp://" + ln.Addr().String(), QueueBytes: 16 << 20},
	})
	if err != nil {
		b.Fatal(err)
	}
	c.Info("warm up") // connect before timing
	if err := c.Flush(context.Background()); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = c.Flush(ctx)
		st := c.Stats()
		// Messages the queue had no room for are counted, not hidden: a
		// benchmark that dropped is not comparable.
		if st.Dropped > 0 {
			b.ReportMetric(float64(st.Dropped)/float64(b.N), "dropped/op")
		}
		_ = c.Close()
		_ = ln.Close()
	})
	return c
}

func zapLogger() *zap.Logger {
	enc := zapcore.NewJSONEncoder(zap.NewProductionEncoderConfig())
	return zap.New(zapcore.NewCore(enc, zapcore.AddSync(io.Discard), zap.InfoLevel))
}

func slogLogger() *slog.Logger {
	return slog.New(slog.NewJSONHandler(io.Discard, nil))
}

// BenchmarkIncr: a counter increment. zap and slog log the same facts
// (name, rate, count) as a structured line.
func BenchmarkIncr(b *testing.B) {
	b.Run("metlog", func(b *testing.B) {
		c := tcpClient(b)
		b.ReportAllocs()
		for b.Loop() {
			c.Incr("req.count")
		}
	})
	b.Run("zap", func(b *testing.B) {
		l := zapLogger()
		b.ReportAllocs()
		for b.Loop() {
			l.Info("counter", zap.String("name", "req.count"), zap.Float64("rate", 1), zap.Int64("count", 1))
		}
	})
	b.Run("slog", func(b *testing.B) {
		l := slogLogger()
		ctx := context.Background()
		b.ReportAllocs()
		for b.Loop() {
			l.LogAttrs(ctx, slog.LevelInfo, "counter", slog.String("name", "req.count"), slog.Float64("rate", 1), slog.Int64("count", 1))
		}
	})
}

// BenchmarkTimer: start a stop-watch, stop it, send the elapsed time.
func BenchmarkTimer(b *testing.B) {
	b.Run("metlog", func(b *testing.B) {
		c := tcpClient(b)
		b.ReportAllocs()
		for b.Loop() {
			t := c.Timer("db.query")
			t.Stop()
		}
	})
	b.Run("zap", func(b *testing.B) {
		l := zapLogger()
		b.ReportAllocs()
		for b.Loop() {
			start := time.Now()
			l.Info("timer", zap.String("name", "db.query"), zap.Float64("rate", 1), zap.Duration("elapsed", time.Since(start)))
		}
	})
	b.Run("slog", func(b *testing.B) {
		l := slogLogger()
		ctx := context.Background()
		b.ReportAllocs()
		for b.Loop() {
			start := time.Now()
			l.LogAttrs(ctx, slog.LevelInfo, "timer", slog.String("name", "db.query"), slog.Float64("rate", 1), slog.Duration("elapsed", time.Since(start)))
		}
	})
}

// BenchmarkInfo3Fields: a log line with a string, an int and a float field.
func BenchmarkInfo3Fields(b *testing.B) {
	b.Run("metlog", func(b *testing.B) {
		c := tcpClient(b)
		b.ReportAllocs()
		for b.Loop() {
			c.Info("user logged in", client.String("user", "ana"), client.Int("attempt", 3), client.Float("score", 0.5))
		}
	})
	b.Run("zap", func(b *testing.B) {
		l := zapLogger()
		b.ReportAllocs()
		for b.Loop() {
			l.Info("user logged in", zap.String("user", "ana"), zap.Int("attempt", 3), zap.Float64("score", 0.5))
		}
	})
	b.Run("slog", func(b *testing.B) {
		l := slogLogger()
		ctx := context.Background()
		b.ReportAllocs()
		for b.Loop() {
			l.LogAttrs(ctx, slog.LevelInfo, "user logged in", slog.String("user", "ana"), slog.Int("attempt", 3), slog.Float64("score", 0.5))
		}
	})
}

// BenchmarkSlogHandler: the same slog call through metlog's slog.Handler
// and through slog's own JSON handler.
func BenchmarkSlogHandler(b *testing.B) {
	b.Run("metlog", func(b *testing.B) {
		l := slog.New(client.NewHandler(tcpClient(b), nil))
		ctx := context.Background()
		b.ReportAllocs()
		for b.Loop() {
			l.LogAttrs(ctx, slog.LevelInfo, "user logged in", slog.String("user", "ana"), slog.Int("attempt", 3), slog.Float64("score", 0.5))
		}
	})
	b.Run("slog-json", func(b *testing.B) {
		l := slogLogger()
		ctx := context.Background()
		b.ReportAllocs()
		for b.Loop() {
			l.LogAttrs(ctx, slog.LevelInfo, "user logged in", slog.String("user", "ana"), slog.Int("attempt", 3), slog.Float64("score", 0.5))
		}
	})
}
