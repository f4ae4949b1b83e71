package fileout

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/metlog/metlog/message"
	"github.com/metlog/metlog/pipeline"
)

// benchBatch returns 1000 messages of about 300 bytes as JSON lines.
func benchBatch() []*message.Message {
	batch := make([]*message.Message, 1000)
	for i := range batch {
		m := &message.Message{
			UUID:       message.NewUUID(),
			Timestamp:  epoch.UnixNano() + int64(i)*1e6,
			Type:       "oldstyle",
			Logger:     "webapp",
			Severity:   message.Info,
			Payload:    fmt.Sprintf("GET /api/v1/items/%d 200 in 12.5ms from 10.1.2.3", i),
			EnvVersion: "0.8",
			Pid:        4242,
			Hostname:   "web-1.example.com",
		}
		m.AddString("path", "/api/v1/items")
		m.AddInt("status", 200)
		batch[i] = m
	}
	return batch
}

func BenchmarkFileOutput(b *testing.B) {
	for _, bc := range []struct {
		name string
		conf func(f *File)
	}{
		{"json", func(f *File) {}},
		{"json_rotate_64MiB", func(f *File) { f.RotateSize = 64 << 20; f.Keep = 2 }},
		{"json_fsync_batch", func(f *File) { f.Fsync = FsyncBatch }},
	} {
		b.Run(bc.name, func(b *testing.B) {
			enc, _ := pipeline.NewEncoder("json")
			f := New()
			f.Path = filepath.Join(b.TempDir(), "bench-%Y-%m-%d.jsonl")
			bc.conf(f)
			if err := f.Start(context.Background(), &pipeline.Settings{Encoder: enc, Logger: slog.New(slog.DiscardHandler)}); err != nil {
				b.Fatal(err)
			}
			defer f.Stop(context.Background())
			batch := benchBatch()
			var size int
			for _, m := range batch {
				line, _ := enc.Append(nil, m)
				size += len(line)
			}
			b.SetBytes(int64(size))
			if err := f.Deliver(context.Background(), batch); err != nil { // grows the buffer once
				b.Fatal(err)
			}
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				if err := f.Deliver(context.Background(), batch); err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			msgs := float64(b.N * len(batch))
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/msgs, "ns/msg")
			b.ReportMetric(msgs/b.Elapsed().Seconds(), "msgs/s")
			b.ReportMetric(float64(size)/float64(len(batch)), "bytes/msg")
		})
	}
}

func TestDeliverAllocs(t *testing.T) {
	// Steady state: encoding and writing a batch allocate nothing, with
	// placeholders in the path and size rotation checks.
	enc, _ := pipeline.NewEncoder("json")
	f := New()
	f.Path = filepath.Join(t.TempDir(), "out-%Y-%m-%dT%H.jsonl")
	f.RotateSize = 1 << 30
	f.now = func() time.Time { return epoch } // no new hour during the test
	if err := f.Start(context.Background(), &pipeline.Settings{Encoder: enc}); err != nil {
		t.Fatal(err)
	}
	defer f.Stop(context.Background())
	batch := benchBatch()[:100]
	if n := testing.AllocsPerRun(20, func() {
		if err := f.Deliver(context.Background(), batch); err != nil {
			t.Fatal(err)
		}
	}); n != 0 {
		t.Errorf("%v allocations per batch", n)
	}
}
