// Command quickstart is a small application instrumented with the metlog
// client: it logs, counts, times, reports an error and a recovered panic,
// and emits a CEF security event, then exits.
//
// With a router listening (metlogd's default configuration listens on UDP
// and TCP 127.0.0.1:5565):
//
//	go run ./examples/quickstart
//
// Without one, print what would be sent, as metlog JSON lines:
//
//	METLOG_SENDER=stdout METLOG_ENCODER=json go run ./examples/quickstart
package main

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/metlog/metlog/client"
)

func main() {
	// Configuration comes from METLOG_* environment variables (or a TOML
	// file named by METLOG_CONFIG); the defaults send framed protobuf over
	// UDP to 127.0.0.1:5565.
	cfg, err := client.ConfigFromEnv()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	if cfg.Logger == "" {
		cfg.Logger = "quickstart"
	}
	c, err := client.New(cfg)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	defer c.Close() // sends what is still queued

	c.Info("starting", client.String("version", "1.0.0"), client.Int("workers", 4))

	for i := range 3 {
		c.Incr("jobs.started")
		t := c.Timer("jobs.duration")
		time.Sleep(time.Duration(i+1) * 5 * time.Millisecond) // the work
		t.Stop()
	}
	c.Gauge("queue.depth", 17)

	if err := load("config.yaml"); err != nil {
		c.Exception(err) // type, message and stack trace
	}
	safely(c, func() {
		process(nil) // a nil-pointer panic, reported and recovered
	})

	_ = c.CEF(client.CEFEvent{
		Vendor: "Example", Product: "quickstart", Version: "1.0",
		SignatureID: client.CEFAuthFailure, Name: "Login failed", Severity: 5,
		Extensions: []client.CEFExtension{client.Ext("suser", "ana"), client.Ext("src", "10.0.0.7")},
	})

	// Code that logs with log/slog reaches the same router.
	log := slog.New(client.NewHandler(c, nil))
	log.Warn("disk almost full", "mount", "/var", "free_pct", 4.5)

	fmt.Fprintf(os.Stderr, "quickstart: done; %+v\n", c.Stats())
}

func load(path string) error {
	return fmt.Errorf("load %s: %w", path, errors.New("file not found"))
}

type job struct{ id int }

func process(j *job) { fmt.Fprintln(os.Stderr, "processing job", j.id) }

func safely(c *client.Client, f func()) {
	defer c.Recover(client.Swallow())
	f()
}
