// Command metlogd is the metlog router: it receives messages over UDP,
// TCP, unix sockets, HTTP and files, matches them against each filter's
// and output's message matcher, and delivers them to their endpoints.
//
//	metlogd                        run the embedded default configuration
//	metlogd -config FILE|DIR       run a configuration (a directory: its *.toml, in name order)
//	metlogd -check FILE|DIR        validate a configuration and exit 0 or 1
//	metlogd -print-default-config  print the default configuration
//	metlogd -plugins               list the plugin types
//	metlogd -version
//
// SIGHUP reloads the configuration (keeping the old one when the new one is
// invalid) and reopens output files; SIGTERM and SIGINT drain the queues
// within [metlogd] shutdown_timeout and exit.
package main

import (
	_ "embed"
	"flag"
	"fmt"
	"io"
	"os"

	_ "github.com/metlog/metlog/plugins/all"
)

//go:embed default.toml
var defaultConfig string

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// run is metlogd with its arguments and output streams, for tests.
func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("metlogd", flag.ContinueOnError)
	fs.SetOutput(stderr)
	config := fs.String("config", "", "run the configuration in `FILE` or DIR (default: the embedded default configuration)")
	check := fs.String("check", "", "validate the configuration in `FILE` or DIR, print every problem, and exit")
	printDefault := fs.Bool("print-default-config", false, "print the embedded default configuration and exit")
	plugins := fs.Bool("plugins", false, "list the plugin types, encoders and decoders, and exit")
	showVersion := fs.Bool("version", false, "print the version and exit")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: metlogd [-config FILE|DIR] [-check FILE|DIR] [-print-default-config] [-plugins] [-version]\n\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "metlogd: unexpected argument %q\n", fs.Arg(0))
		fs.Usage()
		return 2
	}
	switch {
	case *showVersion:
		fmt.Fprintln(stdout, "metlogd", version())
		return 0
	case *printDefault:
		fmt.Fprint(stdout, defaultConfig)
		return 0
	case *plugins:
		listPlugins(stdout)
		return 0
	case *check != "":
		return checkConfig(*check, stdout, stderr)
	}
	return serve(*config, stdout, stderr)
}
