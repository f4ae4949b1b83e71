package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/metlog/metlog/message"
	"github.com/metlog/metlog/plugins/codecs"
)

// Input formats of match and cat.
const (
	formatAuto   = "auto"   // framed if the input starts with 0x1E, else JSON lines
	formatFramed = "framed" // Heka stream framing
	formatJSON   = "json"   // one metlog or canonical JSON object per line
)

func validFormat(f string) bool {
	return f == formatAuto || f == formatFramed || f == formatJSON
}

// openInput opens a file to read, "-" being r (standard input).
func openInput(name string, stdin io.Reader) (io.Reader, func(), error) {
	if name == "-" {
		return stdin, func() {}, nil
	}
	f, err := os.Open(name)
	if err != nil {
		return nil, nil, fmt.Errorf("cannot read %s: %w", name, unwrapPathError(err))
	}
	return f, func() { f.Close() }, nil
}

// unwrapPathError drops the "open NAME:" prefix the caller already gives.
func unwrapPathError(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// detectFormat peeks at the start of br to choose between framed and JSON
// lines when format is auto: framed when the input starts with the record
// separator 0x1E, or when it starts with something other than a JSON
// object and a 0x1E comes in what is buffered (a stream whose first frame
// was cut, say). Valid JSON never holds a raw 0x1E.
func detectFormat(br *bufio.Reader, format string) string {
	if format != formatAuto {
		return format
	}
	if _, err := br.Peek(1); err != nil {
		return formatJSON
	}
	b, _ := br.Peek(br.Buffered()) // what is there: a stream may trickle
	if b[0] == message.RecordSeparator {
		return formatFramed
	}
	if t := bytes.TrimLeft(b, " \t\r\n"); len(t) > 0 && t[0] != '{' && bytes.IndexByte(t, message.RecordSeparator) >= 0 {
		return formatFramed
	}
	return formatJSON
}

// decodeJSONLine decodes one line of metlog JSON (recognised by its
// metlog_pid or metlog_hostname key) or canonical JSON into m, and says
// which it was.
func decodeJSONLine(b []byte, m *message.Message) (kind string, err error) {
	if codecs.IsMetlogJSON(b) {
		return "metlog JSON", message.DecodeMetlogJSON(b, m)
	}
	return "canonical JSON", message.DecodeJSON(b, m)
}

// lineReader reads lines of at most max bytes, with their offsets and
// numbers. Longer lines are skipped whole, and reported.
type lineReader struct {
	br     *bufio.Reader
	max    int
	off    int64 // offset of the next line
	lineNo int   // number of the last line read
	buf    []byte
	err    error
}

func newLineReader(br *bufio.Reader, max int) *lineReader {
	return &lineReader{br: br, max: max}
}

// next returns the next line without its "\n" or "\r\n", its offset and
// number, or tooLong set for a line over the limit (its text is not
// kept). ok is false at the end of the input or on a read error (err).
func (l *lineReader) next() (line []byte, off int64, lineNo int, tooLong, ok bool) {
	l.buf = l.buf[:0]
	start := l.off
	long := false
	for {
		chunk, err := l.br.ReadSlice('\n')
		l.off += int64(len(chunk))
		if !long {
			if len(l.buf)+len(chunk) > l.max+2 { // room for "\r\n"
				long = true
				l.buf = l.buf[:0]
			} else {
				l.buf = append(l.buf, chunk...)
			}
		}
		if errors.Is(err, bufio.ErrBufferFull) {
			continue
		}
		if err != nil && err != io.EOF {
			l.err = err
			return nil, 0, 0, false, false
		}
		if l.off == start { // end of input
			return nil, 0, 0, false, false
		}
		l.lineNo++
		line = bytes.TrimSuffix(l.buf, []byte{'\n'})
		line = bytes.TrimSuffix(line, []byte{'\r'})
		if !long && len(line) > l.max {
			long = true
		}
		return line, start, l.lineNo, long, true
	}
}

// frame is one frame found by a frameWalker.
type frame struct {
	offset int64 // of the record separator
	size   int   // of the whole frame
	header message.Header
	hlen   int    // header length byte
	msg    []byte // the encoded message, valid until the next call
}

// frameWalker reads Heka-framed records with their byte offsets, for cat.
// message.FrameScanner does the same without offsets; this walker keeps the
// same rules (resynchronise on the next 0x1E, at most one maximum-size frame
// in memory, Reject resumes one byte after a frame whose message is bad) and
// reports each stretch of skipped bytes once, with its offset.
type frameWalker struct {
	r     io.Reader
	max   int
	buf   []byte
	start int   // first unconsumed byte of buf
	end   int   // end of valid data in buf
	base  int64 // input offset of buf[0]
	cur   int   // size of the frame returned last, consumed by the next call
	eof   bool
	err   error

	// garbage being accumulated: offset, length, first reason
	gOff    int64
	gLen    int64
	gReason error
	// onSkip is told about each stretch of skipped bytes.
	onSkip func(offset, n int64, reason error)
}

func newFrameWalker(r io.Reader, max int, onSkip func(offset, n int64, reason error)) *frameWalker {
	return &frameWalker{r: r, max: max, buf: make([]byte, 64<<10), onSkip: onSkip}
}

// next returns the next valid frame, or false at the end of the input or
// on a read error (w.err).
func (w *frameWalker) next() (frame, bool) {
	if w.cur > 0 { // the last frame was neither accepted nor rejected
		w.flushGarbage()
	}
	w.start += w.cur
	w.cur = 0
	for {
		if w.start == w.end && !w.fill(1) {
			w.flushGarbage()
			return frame{}, false
		}
		i := bytes.IndexByte(w.buf[w.start:w.end], message.RecordSeparator)
		if i < 0 {
			w.skip(w.end-w.start, message.ErrBadFrame)
			continue
		}
		if i > 0 {
			w.skip(i, fmt.Errorf("%w: no record separator 0x1e", message.ErrBadFrame))
		}
		h, msg, n, err := message.ParseFrame(w.buf[w.start:w.end], w.max)
		if errors.Is(err, message.ErrShortFrame) {
			need := 2
			if w.end-w.start >= 2 {
				need = 3 + int(w.buf[w.start+1])
				if w.end-w.start >= need {
					need += int(h.MessageLength)
				}
			}
			if !w.fill(need) {
				if w.end > w.start {
					w.skip(w.end-w.start, fmt.Errorf("%w at the end of the input", message.ErrShortFrame))
				}
				w.flushGarbage()
				return frame{}, false
			}
			continue
		}
		if err != nil {
			w.skip(1, err)
			continue
		}
		w.cur = n
		return frame{offset: w.base + int64(w.start), size: n, header: h, hlen: int(w.buf[w.start+1]), msg: msg}, true
	}
}

// accept reports the bytes skipped before the last frame, whose message
// decoded: call it before using the frame so that reports come in order.
// (The skipped bytes are held until then because a rejected frame's bytes
// join the stretch before it.)
func (w *frameWalker) accept() { w.flushGarbage() }

// reject resumes the search one byte after the last frame, whose message
// did not decode; its bytes are reported as skipped with reason.
func (w *frameWalker) reject(reason error) {
	if w.cur == 0 {
		return
	}
	w.cur = 0
	w.skip(1, reason)
}

func (w *frameWalker) skip(n int, reason error) {
	off := w.base + int64(w.start)
	if w.gLen > 0 && w.gOff+w.gLen != off {
		w.flushGarbage()
	}
	if w.gLen == 0 {
		w.gOff, w.gReason = off, reason
	}
	w.gLen += int64(n)
	w.start += n
}

func (w *frameWalker) flushGarbage() {
	if w.gLen > 0 && w.onSkip != nil {
		w.onSkip(w.gOff, w.gLen, w.gReason)
	}
	w.gLen, w.gReason = 0, nil
}

// fill makes at least need bytes available from w.start.
func (w *frameWalker) fill(need int) bool {
	for w.end-w.start < need {
		if w.eof || w.err != nil {
			return false
		}
		if w.start > 0 && len(w.buf)-w.start < need {
			copy(w.buf, w.buf[w.start:w.end])
			w.end -= w.start
			w.base += int64(w.start)
			w.start = 0
		}
		if len(w.buf)-w.start < need {
			nb := make([]byte, max(2*len(w.buf), w.start+need))
			w.end = copy(nb, w.buf[w.start:w.end])
			w.base += int64(w.start)
			w.start = 0
			w.buf = nb
		}
		n, err := w.r.Read(w.buf[w.end:])
		w.end += n
		if err == io.EOF {
			w.eof = true
		} else if err != nil {
			w.err = err
		}
	}
	return true
}
