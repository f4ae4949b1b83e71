package main

import (
	"bufio"
	"bytes"
	"flag"
	"fmt"
	"io"

	"github.com/metlog/metlog/matcher"
	"github.com/metlog/metlog/message"
	"github.com/metlog/metlog/pipeline"
)

const matchSynopsis = `
Usage:
  metlog match [flags] EXPR [FILE...]

Reads messages from each FILE ("-" or none: stdin) and prints those that
match the message matcher EXPR, as canonical JSON lines (or -pretty, one
readable line each; or -count, the number of matches).

A file is read as Heka stream framing (framed protobuf, as metlogd's buffers
and protobuf-encoded files hold) when it starts with the byte 0x1E, else as
JSON lines: metlog JSON (what metlog-py sends) or canonical JSON (what
metlogd's json encoder writes), told apart line by line. Records that do not
decode are skipped, counted and reported on stderr at the end.

Exits 0 when a message matched, 1 when none did or a file could not be read.
`

type matchOptions struct {
	pretty  bool
	count   bool
	format  string
	maxSize string
}

func matchFlags() (*flag.FlagSet, *matchOptions) {
	o := &matchOptions{}
	fs := flag.NewFlagSet("match", flag.ContinueOnError)
	fs.BoolVar(&o.pretty, "pretty", false, "print one readable line per message instead of canonical JSON")
	fs.BoolVar(&o.count, "count", false, "print only the number of matching messages")
	fs.StringVar(&o.format, "format", formatAuto, "input format: auto, framed or json")
	fs.StringVar(&o.maxSize, "max-size", "64MiB", "largest message to accept; larger records are skipped")
	return fs, o
}

func runMatch(e *env, args []string) int {
	fs, o := matchFlags()
	c := &cmdIO{e: e, name: "match", fs: fs, synopsis: matchSynopsis}
	pos, code, ok := c.parse(args)
	if !ok {
		return code
	}
	if len(pos) == 0 {
		return c.usagef("give the matcher expression, such as \"Type == 'counter'\"")
	}
	if o.pretty && o.count {
		return c.usagef("-pretty and -count do not go together")
	}
	if !validFormat(o.format) {
		return c.usagef("-format %q is not auto, framed or json", o.format)
	}
	maxSize, err := pipeline.ParseByteSize(o.maxSize)
	if err != nil || maxSize < 1 {
		return c.usagef("-max-size: %q is not a size such as 64KiB", o.maxSize)
	}
	mt, err := matcher.Compile(pos[0])
	if err != nil {
		return matcherUsageError(c, "the expression", err)
	}
	files := pos[1:]
	if len(files) == 0 {
		files = []string{"-"}
	}
	out := bufio.NewWriterSize(e.stdout, 64<<10)
	var buf []byte
	matched := 0
	status := exitOK
	for _, name := range files {
		r, closer, err := openInput(name, e.stdin)
		if err != nil {
			c.failf("%v", err)
			status = exitFail
			continue
		}
		st := readMessages(r, o.format, int(maxSize), func(m *message.Message) {
			if !mt.Match(m) {
				return
			}
			matched++
			switch {
			case o.count:
			case o.pretty:
				buf = append(appendPretty(buf[:0], m, false), '\n')
				out.Write(buf)
			default:
				buf = append(message.AppendJSON(buf[:0], m), '\n')
				out.Write(buf)
			}
		})
		closer()
		if msg := st.problems(); msg != "" {
			fmt.Fprintf(e.stderr, "metlog match: %s: %s\n", displayName(name), msg)
		}
		if st.readErr != nil {
			status = exitFail
		}
	}
	if o.count {
		fmt.Fprintln(out, matched)
	}
	if err := out.Flush(); err != nil {
		return c.failf("cannot write the output: %v", err)
	}
	if matched == 0 {
		return exitFail
	}
	return status
}

func displayName(name string) string {
	if name == "-" {
		return "stdin"
	}
	return name
}

// readStats sums up reading one input.
type readStats struct {
	format   string
	records  int   // messages decoded
	bad      int   // records that did not decode (frames or lines)
	skipped  int64 // bytes of garbage skipped between frames
	firstBad string
	readErr  error
}

// problems returns a sentence about what could not be read, or "".
func (s *readStats) problems() string {
	var b bytes.Buffer
	if s.bad > 0 {
		fmt.Fprintf(&b, "%d %s could not be decoded", s.bad, plural(s.bad, "record", "records"))
	}
	if s.skipped > 0 {
		if b.Len() > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%d %s of garbage skipped", s.skipped, plural(int(s.skipped), "byte", "bytes"))
	}
	if s.firstBad != "" {
		fmt.Fprintf(&b, " (first: %s)", s.firstBad)
	}
	if s.readErr != nil {
		if b.Len() > 0 {
			b.WriteString("; ")
		}
		fmt.Fprintf(&b, "reading stopped: %v", s.readErr)
	}
	return b.String()
}

// readMessages decodes every message of r, framed or JSON lines, and
// calls fn with each; fn must not keep m.
func readMessages(r io.Reader, format string, maxSize int, fn func(m *message.Message)) readStats {
	br := bufio.NewReaderSize(r, 64<<10)
	st := readStats{format: detectFormat(br, format)}
	var m message.Message
	noteBad := func(what string) {
		if st.firstBad == "" {
			st.firstBad = what
		}
	}
	if st.format == formatFramed {
		sc := message.NewFrameScanner(br, maxSize)
		sc.OnDiscard = func(n int, reason error) {
			st.skipped += int64(n)
			noteBad(reason.Error())
		}
		for sc.Next() {
			if err := m.Unmarshal(sc.Message()); err != nil {
				st.bad++
				// Reject skips the frame's first byte and reports it
				// through OnDiscard; count the record, not the byte.
				st.skipped--
				noteBad(err.Error())
				sc.Reject(err)
				continue
			}
			st.records++
			fn(&m)
		}
		st.readErr = sc.Err()
		return st
	}
	lr := newLineReader(br, maxSize)
	for {
		line, _, n, long, ok := lr.next()
		if !ok {
			break
		}
		if long {
			st.bad++
			noteBad(fmt.Sprintf("line %d is longer than %d bytes", n, maxSize))
			continue
		}
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		if _, err := decodeJSONLine(line, &m); err != nil {
			st.bad++
			noteBad(fmt.Sprintf("line %d: %v", n, err))
			continue
		}
		st.records++
		fn(&m)
	}
	st.readErr = lr.err
	return st
}
