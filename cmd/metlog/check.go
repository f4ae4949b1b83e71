package main

import (
	"errors"
	"flag"
	"fmt"

	"github.com/metlog/metlog/pipeline"
	_ "github.com/metlog/metlog/plugins/all" // every plugin a configuration may name
)

const checkSynopsis = `
Usage:
  metlog check [flags] FILE|DIR...

Loads each metlogd configuration (a TOML file, or every *.toml file of a
directory, merged in name order) as metlogd would, with every plugin
compiled in: decodes each section, compiles its message matcher and runs the
plugin's own validation. Nothing is started, opened or connected.

Prints "FILE: ok (N inputs, N filters, N outputs)" for a good one, and every
problem of a bad one on stderr, as FILE:LINE: [section] key: sentence.
Exits 1 when any configuration is bad.
`

type checkOptions struct {
	quiet bool
}

func checkFlags() (*flag.FlagSet, *checkOptions) {
	o := &checkOptions{}
	fs := flag.NewFlagSet("check", flag.ContinueOnError)
	fs.BoolVar(&o.quiet, "q", false, "print nothing for good configurations")
	return fs, o
}

func runCheck(e *env, args []string) int {
	fs, o := checkFlags()
	c := &cmdIO{e: e, name: "check", fs: fs, synopsis: checkSynopsis}
	paths, code, ok := c.parse(args)
	if !ok {
		return code
	}
	if len(paths) == 0 {
		return c.usagef("name the configuration file or directory to check")
	}
	status := exitOK
	for _, path := range paths {
		cfg, err := pipeline.LoadConfig(path)
		if err != nil {
			status = exitFail
			var ce pipeline.ConfigErrors
			if errors.As(err, &ce) {
				for _, one := range ce {
					fmt.Fprintln(e.stderr, one.Error())
				}
				fmt.Fprintf(e.stderr, "%s: %d %s\n", path, len(ce), plural(len(ce), "problem", "problems"))
			} else {
				fmt.Fprintf(e.stderr, "%s: %v\n", path, err)
			}
			continue
		}
		if !o.quiet {
			n := map[pipeline.Kind]int{}
			for _, s := range cfg.Sections {
				n[s.Kind]++
			}
			// The same words as metlogd -check, for scripts.
			fmt.Fprintf(e.stdout, "%s: ok (%d inputs, %d filters, %d outputs)\n", path,
				n[pipeline.KindInput], n[pipeline.KindFilter], n[pipeline.KindOutput])
		}
	}
	return status
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
