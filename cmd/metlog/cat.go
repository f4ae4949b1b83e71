package main

import (
	"bufio"
	"bytes"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/metlog/metlog/message"
	"github.com/metlog/metlog/pipeline"
)

const catSynopsis = `
Usage:
  metlog cat [flags] [FILE...]

Decodes each FILE ("-" or none: stdin) and prints every message for a
human: where the record starts (byte offset; line for JSON lines), its frame
header (size, and for signed frames the signer, key version, hash and HMAC,
verified when -key gives the key), every header value, and every field with
its type, representation and values. Bytes that are not a valid record are
skipped and reported in place with their offset and the reason.

Files starting with the byte 0x1E are read as Heka stream framing, others
as JSON lines (metlog JSON or canonical JSON, line by line). With -json each
message is printed as one canonical JSON line instead.

Exits 1 when a file could not be read or held anything that is not a valid
record.
`

type catOptions struct {
	json    bool
	format  string
	maxSize string
	keys    listFlag
}

func catFlags() (*flag.FlagSet, *catOptions) {
	o := &catOptions{}
	fs := flag.NewFlagSet("cat", flag.ContinueOnError)
	fs.BoolVar(&o.json, "json", false, "print canonical JSON lines instead of the readable form")
	fs.StringVar(&o.format, "format", formatAuto, "input format: auto, framed or json")
	fs.StringVar(&o.maxSize, "max-size", "64MiB", "largest message to accept; larger records are skipped")
	fs.Var(&o.keys, "key", "SIGNER:VERSION:KEY to verify the HMAC of frames signed with it (repeatable)")
	return fs, o
}

func runCat(e *env, args []string) int {
	fs, o := catFlags()
	c := &cmdIO{e: e, name: "cat", fs: fs, synopsis: catSynopsis}
	files, code, ok := c.parse(args)
	if !ok {
		return code
	}
	if !validFormat(o.format) {
		return c.usagef("-format %q is not auto, framed or json", o.format)
	}
	maxSize, err := pipeline.ParseByteSize(o.maxSize)
	if err != nil || maxSize < 1 {
		return c.usagef("-max-size: %q is not a size such as 64KiB", o.maxSize)
	}
	var ring message.KeyRing
	for _, k := range o.keys {
		signer, version, key, err := parseKey(k)
		if err != nil {
			return c.usagef("-key %q: %v", k, err)
		}
		ring.Add(signer, version, []byte(key))
	}
	if len(files) == 0 {
		files = []string{"-"}
	}
	out := bufio.NewWriterSize(e.stdout, 64<<10)
	status := exitOK
	for i, name := range files {
		if len(files) > 1 && !o.json {
			if i > 0 {
				out.WriteByte('\n')
			}
			fmt.Fprintf(out, "==> %s <==\n", displayName(name))
		}
		r, closer, err := openInput(name, e.stdin)
		if err != nil {
			out.Flush()
			c.failf("%v", err)
			status = exitFail
			continue
		}
		p := &catPrinter{out: out, json: o.json, ring: &ring}
		p.read(r, o.format, int(maxSize))
		closer()
		out.Flush()
		if msg := p.st.problems(); msg != "" {
			fmt.Fprintf(e.stderr, "metlog cat: %s: %s\n", displayName(name), msg)
			status = exitFail
		}
	}
	if err := out.Flush(); err != nil {
		return c.failf("cannot write the output: %v", err)
	}
	return status
}

// parseKey reads SIGNER:VERSION:KEY; the key may hold colons.
func parseKey(s string) (signer string, version uint32, key string, err error) {
	parts := strings.SplitN(s, ":", 3)
	if len(parts) != 3 || parts[0] == "" || parts[2] == "" {
		return "", 0, "", errors.New("want SIGNER:VERSION:KEY")
	}
	v, err := strconv.ParseUint(parts[1], 10, 32)
	if err != nil {
		return "", 0, "", fmt.Errorf("key version %q is not a number", parts[1])
	}
	return parts[0], uint32(v), parts[2], nil
}

// catPrinter renders the records of one input.
type catPrinter struct {
	out  *bufio.Writer
	json bool
	ring *message.KeyRing
	st   readStats
	n    int // records printed
	m    message.Message
	buf  []byte
}

func (p *catPrinter) read(r io.Reader, format string, maxSize int) {
	br := bufio.NewReaderSize(r, 64<<10)
	p.st.format = detectFormat(br, format)
	if p.st.format == formatFramed {
		w := newFrameWalker(br, maxSize, func(off, n int64, reason error) {
			p.st.skipped += n
			if !p.json {
				fmt.Fprintf(p.out, "! skipped %d %s at offset %d: %v\n\n", n, plural(int(n), "byte", "bytes"), off, reason)
			}
		})
		for {
			f, ok := w.next()
			if !ok {
				break
			}
			if err := p.m.Unmarshal(f.msg); err != nil {
				p.st.bad++
				w.reject(fmt.Errorf("the message of the %d-byte frame at offset %d does not decode: %w", f.size, f.offset, err))
				continue
			}
			w.accept()
			p.frame(&f)
		}
		p.st.readErr = w.err
		return
	}
	lr := newLineReader(br, maxSize)
	for {
		line, off, n, long, ok := lr.next()
		if !ok {
			break
		}
		if long {
			p.st.bad++
			if !p.json {
				fmt.Fprintf(p.out, "! line %d at offset %d is longer than %d bytes; skipped\n\n", n, off, maxSize)
			}
			continue
		}
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		kind, err := decodeJSONLine(line, &p.m)
		if err != nil {
			p.st.bad++
			if !p.json {
				fmt.Fprintf(p.out, "! line %d at offset %d does not decode: %v\n\n", n, off, err)
			}
			continue
		}
		p.n++
		p.st.records++
		if p.json {
			p.writeJSON()
			continue
		}
		fmt.Fprintf(p.out, "record %d at offset %d: line %d, %s, %d bytes\n", p.n, off, n, kind, len(line))
		p.body()
	}
	p.st.readErr = lr.err
}

func (p *catPrinter) writeJSON() {
	p.buf = append(message.AppendJSON(p.buf[:0], &p.m), '\n')
	p.out.Write(p.buf)
}

// frame prints a decoded frame.
func (p *catPrinter) frame(f *frame) {
	p.n++
	p.st.records++
	if p.json {
		p.writeJSON()
		return
	}
	fmt.Fprintf(p.out, "record %d at offset %d: frame of %d bytes (header %d, message %d)\n",
		p.n, f.offset, f.size, f.hlen, len(f.msg))
	if h := &f.header; h.Signer != "" {
		verdict := "not verified (no -key for it)"
		switch err := p.ring.Verify(h, f.msg); {
		case err == nil:
			verdict = "verified"
		case errors.Is(err, message.ErrBadSignature):
			verdict = "BAD SIGNATURE"
		case errors.Is(err, message.ErrUnknownSigner) && p.ring.Len() > 0:
			verdict = "not verified (no -key for this signer and version)"
		}
		fmt.Fprintf(p.out, "  %-12s %s, key version %d, %s, hmac %x: %s\n", "signed by", strconv.Quote(h.Signer), h.KeyVersion, h.HashFunction, h.HMAC, verdict)
	} else {
		fmt.Fprintf(p.out, "  %-12s %s\n", "signed by", "nobody (unsigned)")
	}
	p.body()
}

// body prints the header values and fields of p.m, and a blank line.
func (p *catPrinter) body() {
	m := &p.m
	line := func(k, v string) { fmt.Fprintf(p.out, "  %-12s %s\n", k, v) }
	if m.UUID == ([16]byte{}) {
		line("uuid", "(none)")
	} else {
		line("uuid", message.FormatUUID(m.UUID))
	}
	if m.Timestamp == 0 {
		line("timestamp", "0 (none)")
	} else {
		line("timestamp", time.Unix(0, m.Timestamp).UTC().Format("2006-01-02T15:04:05.000000000Z")+" ("+strconv.FormatInt(m.Timestamp, 10)+" ns)")
	}
	line("type", strconv.Quote(m.Type))
	line("logger", strconv.Quote(m.Logger))
	line("severity", fmt.Sprintf("%d (%s)", m.Severity, message.SeverityName(m.Severity)))
	line("payload", strconv.Quote(m.Payload))
	line("env_version", strconv.Quote(m.EnvVersion))
	line("pid", strconv.Itoa(int(m.Pid)))
	line("hostname", strconv.Quote(m.Hostname))
	if len(m.Fields) == 0 {
		line("fields", "(none)")
	} else {
		line("fields", strconv.Itoa(len(m.Fields)))
	}
	for i := range m.Fields {
		f := &m.Fields[i]
		var b []byte
		b = fmt.Appendf(b, "    %-16s %-7s", strconv.Quote(f.Name), f.Type)
		if f.Representation != "" {
			b = fmt.Appendf(b, " [%s]", f.Representation)
		}
		b = append(b, ' ')
		n := f.Len()
		if n != 1 {
			b = append(b, '[')
		}
		for j := 0; j < n; j++ {
			if j > 0 {
				b = append(b, ", "...)
			}
			b = appendCatValue(b, f, j)
		}
		if n != 1 {
			b = append(b, ']')
		}
		b = append(b, '\n')
		p.out.Write(b)
	}
	p.out.WriteByte('\n')
}

// appendCatValue appends one value for cat: strings quoted, bytes in hex
// (the first 64 of them) with their length.
func appendCatValue(dst []byte, f *message.Field, i int) []byte {
	switch f.Type {
	case message.String:
		return strconv.AppendQuote(dst, f.Strings[i])
	case message.Bytes:
		b := f.Bytes[i]
		dst = strconv.AppendInt(dst, int64(len(b)), 10)
		dst = append(dst, " bytes"...)
		if len(b) > 0 {
			dst = append(dst, " 0x"...)
			dst = hex.AppendEncode(dst, b[:min(len(b), 64)])
			if len(b) > 64 {
				dst = append(dst, "..."...)
			}
		}
		return dst
	}
	return appendValue(dst, f, i)
}
