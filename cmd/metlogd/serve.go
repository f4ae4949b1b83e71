package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"reflect"
	"runtime/debug"
	"strings"
	"syscall"

	"github.com/metlog/metlog/pipeline"
)

// defaultConfigName names the embedded configuration in messages.
const defaultConfigName = "(default configuration)"

func loadConfig(path string) (*pipeline.Config, error) {
	if path == "" {
		return pipeline.ParseConfig([]string{defaultConfigName}, []string{defaultConfig})
	}
	return pipeline.LoadConfig(path)
}

// serve runs the router until SIGTERM or SIGINT.
func serve(path string, stdout, stderr io.Writer) int {
	cfg, err := loadConfig(path)
	if err != nil {
		fmt.Fprintf(stderr, "metlogd: the configuration is not valid:\n%v\n", err)
		return 1
	}
	level := new(slog.LevelVar)
	log := newLogger(stderr, cfg.Global, level)
	p := pipeline.New(pipeline.Options{Logger: log, Version: version()})

	// A reader of stdout that goes away must give stdout_output an EPIPE to
	// count, not kill the router.
	signal.Ignore(syscall.SIGPIPE)
	// Signals are caught before the pipeline starts, so that none is lost.
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGHUP, syscall.SIGTERM, syscall.SIGINT)
	defer signal.Stop(sigs)

	if err := p.Start(cfg); err != nil {
		fmt.Fprintf(stderr, "metlogd: %v\n", err)
		return 1
	}
	describe(stdout, path, cfg, p.HTTPAddr())

	for sig := range sigs {
		switch sig {
		case syscall.SIGHUP:
			reload(p, path, log, level)
		default:
			log.Info("shutting down", "signal", sig.String(), "deadline", p.Config().Global.ShutdownTimeout)
			ctx, cancel := context.WithTimeout(context.Background(), p.Config().Global.ShutdownTimeout)
			err := p.Shutdown(ctx)
			cancel()
			if err != nil {
				log.Error("shutdown", "err", err)
			}
			return 0
		}
	}
	return 0
}

// reload applies the configuration again (SIGHUP): a configuration that
// does not load leaves the running one untouched. Then files are reopened,
// for external log rotation.
func reload(p *pipeline.Pipeline, path string, log *slog.Logger, level *slog.LevelVar) {
	cfg, err := loadConfig(path)
	if err != nil {
		p.ReloadRejected()
		log.Error("reload: the new configuration is not valid; the old one keeps running", "errors", err.Error())
	} else {
		setLevel(level, cfg.Global.LogLevel)
		if err := p.Reload(cfg); err != nil {
			log.Error("reload", "err", err)
		}
	}
	if err := p.Reopen(); err != nil {
		log.Error("reopen", "err", err)
	}
}

func newLogger(w io.Writer, g pipeline.Global, level *slog.LevelVar) *slog.Logger {
	setLevel(level, g.LogLevel)
	opts := &slog.HandlerOptions{Level: level}
	if g.LogFormat == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

func setLevel(level *slog.LevelVar, name string) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(name)); err == nil {
		level.Set(l)
	}
}

// describe prints where metlogd listens and writes.
func describe(w io.Writer, path string, cfg *pipeline.Config, httpAddr string) {
	if path == "" {
		path = defaultConfigName
	}
	fmt.Fprintf(w, "metlogd %s running %s\n", version(), path)
	if httpAddr != "" {
		fmt.Fprintf(w, "  http    http://%s  (/metrics /status /tap)\n", httpAddr)
	}
	for _, s := range cfg.Sections {
		fmt.Fprintf(w, "  %-7s [%s] %s%s\n", s.Kind, s.Name, s.Type, where(s.Plugin))
	}
	fmt.Fprintf(w, "  data    %s\n", cfg.Global.DataDir)
}

// where renders the settings of a plugin that say where it listens, reads
// or writes: its address, listen, path and paths keys.
func where(plugin any) string {
	var parts []string
	var walk func(v reflect.Value)
	walk = func(v reflect.Value) {
		for v.Kind() == reflect.Pointer {
			if v.IsNil() {
				return
			}
			v = v.Elem()
		}
		if v.Kind() != reflect.Struct {
			return
		}
		t := v.Type()
		for i := 0; i < t.NumField(); i++ {
			f := t.Field(i)
			if !f.IsExported() {
				continue
			}
			if f.Anonymous {
				walk(v.Field(i))
				continue
			}
			switch tag := strings.Split(f.Tag.Get("toml"), ",")[0]; tag {
			case "address", "listen", "path", "paths":
				if fv := v.Field(i); !fv.IsZero() {
					parts = append(parts, fmt.Sprintf("%s=%v", tag, fv.Interface()))
				}
			}
		}
	}
	walk(reflect.ValueOf(plugin))
	if len(parts) == 0 {
		return ""
	}
	return "  " + strings.Join(parts, " ")
}

// checkConfig validates a configuration, printing every problem.
func checkConfig(path string, stdout, stderr io.Writer) int {
	cfg, err := pipeline.LoadConfig(path)
	if err != nil {
		var errs pipeline.ConfigErrors
		if errors.As(err, &errs) {
			for _, e := range errs {
				fmt.Fprintln(stderr, e)
			}
			noun := "problems"
			if len(errs) == 1 {
				noun = "problem"
			}
			fmt.Fprintf(stderr, "%s: %d %s\n", path, len(errs), noun)
		} else {
			fmt.Fprintln(stderr, err)
		}
		return 1
	}
	counts := map[pipeline.Kind]int{}
	for _, s := range cfg.Sections {
		counts[s.Kind]++
	}
	fmt.Fprintf(stdout, "%s: ok (%d inputs, %d filters, %d outputs)\n", path,
		counts[pipeline.KindInput], counts[pipeline.KindFilter], counts[pipeline.KindOutput])
	return 0
}

func listPlugins(w io.Writer) {
	for _, kind := range []pipeline.Kind{pipeline.KindInput, pipeline.KindFilter, pipeline.KindOutput} {
		fmt.Fprintf(w, "%ss:\n", kind)
		for _, p := range pipeline.Plugins() {
			if p.Kind == kind {
				fmt.Fprintf(w, "  %-16s %s\n", p.Type, p.Summary)
			}
		}
	}
	fmt.Fprintf(w, "encoders: %s\n", strings.Join(pipeline.EncoderNames(), ", "))
	fmt.Fprintf(w, "decoders: %s\n", strings.Join(pipeline.DecoderNames(), ", "))
}

// version returns the module version the binary was built from.
func version() string {
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" {
		return bi.Main.Version
	}
	return "(devel)"
}
