// Command metlog is metlog's command-line tool: send a message to a router,
// tail a router live through a matcher, check a router configuration, pick
// and decode messages from framed or JSON-lines files, and load-test a
// router with a cooperating sink.
//
//	metlog send [flags] KIND ARGS    send a log line, counter, timer, gauge, CEF event or JSON messages
//	metlog tail [flags] [URL]        print the messages a router handles, live
//	metlog check FILE|DIR...         validate a metlogd configuration
//	metlog match [flags] EXPR [FILE...]  print the messages of files that match a matcher
//	metlog cat [flags] FILE...       decode framed or JSON-lines files for humans
//	metlog bench [flags]             generate load, or (-sink) receive and count it
//
// Each subcommand lives in its own file as a function taking its arguments
// and an environment (standard streams, environment variables, a context
// cancelled on SIGINT/SIGTERM) and returning the exit status: 0 success,
// 1 failure or nothing matched, 2 a usage error. See docs/cli.md.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/debug"
	"sort"
	"strings"
	"syscall"

	"github.com/metlog/metlog/client"
	"github.com/metlog/metlog/pipeline"
)

// Exit statuses.
const (
	exitOK    = 0
	exitFail  = 1 // a failure, or nothing matched
	exitUsage = 2 // bad flags or arguments
)

// env is what a subcommand may touch of the outside world. main wires it
// to the process; tests give their own.
type env struct {
	ctx    context.Context // cancelled on SIGINT and SIGTERM
	stdin  io.Reader
	stdout io.Writer
	stderr io.Writer
	getenv func(string) string
	// tty reports that stdout is a terminal (colour in tail's output).
	tty bool
	// clientEnv reads the client configuration of the environment for
	// send (client.ConfigFromEnv); nil means none.
	clientEnv func() (client.Config, error)
}

// command is one subcommand.
type command struct {
	name    string
	summary string
	run     func(e *env, args []string) int
	// usage prints the subcommand's synopsis and flags to w.
	usage func(w io.Writer)
}

// commands returns the subcommands, in the order help lists them.
func commands() []command {
	return []command{
		{"send", "send a log line, counter, timer, gauge, CEF event or JSON messages to a router", runSend, usageOf(sendFlags, sendSynopsis)},
		{"tail", "print the messages a router handles, live, through a matcher", runTail, usageOf(tailFlags, tailSynopsis)},
		{"check", "validate a metlogd configuration file or directory", runCheck, usageOf(checkFlags, checkSynopsis)},
		{"match", "print the messages of framed or JSON-lines files that match an expression", runMatch, usageOf(matchFlags, matchSynopsis)},
		{"cat", "decode framed or JSON-lines files for humans", runCat, usageOf(catFlags, catSynopsis)},
		{"bench", "generate load over TCP/UDP, or receive and count it (-sink, -count-file)", runBench, usageOf(benchFlags, benchSynopsis)},
	}
}

func lookupCommand(name string) (command, bool) {
	for _, c := range commands() {
		if c.name == name {
			return c, true
		}
	}
	return command{}, false
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	e := &env{ctx: ctx, stdin: os.Stdin, stdout: os.Stdout, stderr: os.Stderr, getenv: os.Getenv, tty: isTerminal(os.Stdout),
		clientEnv: client.ConfigFromEnv}
	code := run(e, os.Args[1:])
	stop()
	os.Exit(code)
}

// run dispatches args (without the program name) to a subcommand.
func run(e *env, args []string) int {
	if len(args) == 0 {
		mainUsage(e.stderr)
		return exitUsage
	}
	switch name := args[0]; name {
	case "help", "-h", "-help", "--help":
		if len(args) > 1 && name == "help" {
			c, ok := lookupCommand(args[1])
			if !ok {
				fmt.Fprintf(e.stderr, "metlog help: there is no command %q%s\n", args[1], suggestCommand(args[1]))
				return exitUsage
			}
			c.usage(e.stdout)
			return exitOK
		}
		mainUsage(e.stdout)
		return exitOK
	case "version", "-version", "--version":
		fmt.Fprintln(e.stdout, "metlog", version())
		return exitOK
	default:
		c, ok := lookupCommand(name)
		if !ok {
			fmt.Fprintf(e.stderr, "metlog: there is no command %q%s; run metlog help for the list\n", name, suggestCommand(name))
			return exitUsage
		}
		return c.run(e, args[1:])
	}
}

func mainUsage(w io.Writer) {
	fmt.Fprint(w, `metlog is the command-line tool of the metlog logging and metrics system.

Usage:
  metlog COMMAND [flags] [arguments]

Commands:
`)
	for _, c := range commands() {
		fmt.Fprintf(w, "  %-7s %s\n", c.name, c.summary)
	}
	fmt.Fprint(w, `  help    show the help of a command: metlog help COMMAND
  version print the version

Exit status: 0 success, 1 failure (or, for match, nothing matched), 2 usage error.
Documentation: docs/cli.md.
`)
}

// suggestCommand returns ` (did you mean "x"?)` for a near miss: a
// prefix of a command, or a command within two edits.
func suggestCommand(name string) string {
	var names []string
	for _, c := range commands() {
		names = append(names, c.name)
	}
	sort.Strings(names)
	for _, n := range names {
		if strings.HasPrefix(n, name) || strings.HasPrefix(name, n) {
			return fmt.Sprintf(" (did you mean %q?)", n)
		}
	}
	return pipeline.Suggest(name, names)
}

// version returns the module version the binary was built from.
func version() string {
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" {
		return bi.Main.Version
	}
	return "(devel)"
}

// isTerminal reports whether f is a character device, such as a terminal.
func isTerminal(f *os.File) bool {
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// usageOf returns a usage printer from a flag-set constructor and a
// synopsis text.
func usageOf[T any](newFlags func() (*flag.FlagSet, *T), synopsis string) func(io.Writer) {
	return func(w io.Writer) {
		fs, _ := newFlags()
		printUsage(w, fs, synopsis)
	}
}

// printUsage writes synopsis and the flags of fs to w.
func printUsage(w io.Writer, fs *flag.FlagSet, synopsis string) {
	fmt.Fprint(w, strings.TrimLeft(synopsis, "\n"))
	n := 0
	fs.VisitAll(func(*flag.Flag) { n++ })
	if n > 0 {
		fmt.Fprintln(w, "\nFlags:")
		fs.SetOutput(w)
		fs.PrintDefaults()
	}
}

// parseArgs parses args with fs, allowing flags and positional arguments in
// any order ("metlog match EXPR FILE -count"). A token that looks like a
// negative number ("-5", "-1.5") is a positional argument unless it is the
// value of the flag before it; "--" ends the flags. It returns the
// positional arguments, or flag.ErrHelp for -h, or an error naming the bad
// flag.
func parseArgs(fs *flag.FlagSet, args []string) ([]string, error) {
	var flags, positional []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			positional = append(positional, args[i+1:]...)
			break
		}
		if len(a) < 2 || a[0] != '-' || isNegativeNumber(a) {
			positional = append(positional, a)
			continue
		}
		flags = append(flags, a)
		name := strings.TrimLeft(a, "-")
		if strings.Contains(name, "=") {
			continue
		}
		f := fs.Lookup(name)
		if f == nil {
			continue // fs.Parse reports it
		}
		if b, ok := f.Value.(interface{ IsBoolFlag() bool }); ok && b.IsBoolFlag() {
			continue
		}
		if i+1 < len(args) {
			i++
			flags = append(flags, args[i])
		}
	}
	fs.SetOutput(io.Discard)
	if err := fs.Parse(flags); err != nil {
		return nil, err
	}
	return positional, nil
}

func isNegativeNumber(s string) bool {
	return len(s) > 1 && s[0] == '-' && (s[1] >= '0' && s[1] <= '9' || s[1] == '.')
}

// flagsSet returns the names of the flags given on the command line.
func flagsSet(fs *flag.FlagSet) map[string]bool {
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	return set
}

// cmdIO prints a subcommand's errors and usage.
type cmdIO struct {
	e        *env
	name     string
	fs       *flag.FlagSet
	synopsis string
}

// failf prints "metlog NAME: sentence" on stderr and returns exitFail.
func (c *cmdIO) failf(format string, args ...any) int {
	fmt.Fprintf(c.e.stderr, "metlog %s: %s\n", c.name, fmt.Sprintf(format, args...))
	return exitFail
}

// usagef prints the sentence and a pointer to the help on stderr and
// returns exitUsage.
func (c *cmdIO) usagef(format string, args ...any) int {
	fmt.Fprintf(c.e.stderr, "metlog %s: %s\nRun metlog help %s for the flags and arguments.\n", c.name, fmt.Sprintf(format, args...), c.name)
	return exitUsage
}

// parse parses args, handling -h and flag errors. ok is false when the
// command should return code at once.
func (c *cmdIO) parse(args []string) (positional []string, code int, ok bool) {
	positional, err := parseArgs(c.fs, args)
	if errors.Is(err, flag.ErrHelp) {
		printUsage(c.e.stdout, c.fs, c.synopsis)
		return nil, exitOK, false
	}
	if err != nil {
		return nil, c.usagef("%s", plainFlagError(err)), false
	}
	return positional, 0, true
}

// plainFlagError turns the flag package's messages into sentences.
func plainFlagError(err error) string {
	s := err.Error()
	if rest, ok := strings.CutPrefix(s, "flag provided but not defined: "); ok {
		return "there is no flag " + rest
	}
	if rest, ok := strings.CutPrefix(s, "flag needs an argument: "); ok {
		return "flag " + rest + " needs a value"
	}
	return s
}
