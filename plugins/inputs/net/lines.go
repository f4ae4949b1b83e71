package netin

import (
	"bytes"
	"io"
)

// lineScanner splits a stream into newline-terminated lines of at most max
// bytes (the newline not counted). It never holds more than one maximum
// line and one read: a longer line is reported once to onTooLong and
// skipped up to its newline, and scanning goes on with the next line. A
// last line without a newline is returned at the end of the stream; when
// a read error (a reset, the idle timeout) cuts a line short, the part
// read is reported to onCut instead.
//
// Unlike bufio.Scanner, which stops for good at a line over its limit, it
// survives bad input; and it never copies a line: the slice it returns is
// valid until the next call.
type lineScanner struct {
	r         io.Reader
	max       int
	limit     int // the most the buffer grows to
	buf       []byte
	start     int // first byte of the current line
	scanned   int // buf[start:scanned] holds no newline
	end       int // end of the data read
	skipping  bool
	eof       bool
	err       error
	onTooLong func(seen int) // called once per over-long line, with the bytes seen so far
	onCut     func(n int)    // called for a line a read error cut short, with its length
}

// lineReadSize is the least the scanner asks the reader for at once, so
// that short max lines do not mean short reads.
const lineReadSize = 64 << 10

func newLineScanner(r io.Reader, maxLine int) *lineScanner {
	limit := max(maxLine+1, lineReadSize)
	return &lineScanner{r: r, max: maxLine, limit: limit, buf: make([]byte, min(limit, lineReadSize))}
}

// next returns the next line without its newline, or false at the end of
// the stream or on a read error (see err).
func (s *lineScanner) next() ([]byte, bool) {
	for {
		if i := bytes.IndexByte(s.buf[s.scanned:s.end], '\n'); i >= 0 {
			nl := s.scanned + i
			line := s.buf[s.start:nl]
			s.start, s.scanned = nl+1, nl+1
			if s.skipping { // the end of an over-long line
				s.skipping = false
				continue
			}
			if len(line) > s.max {
				s.tooLong(len(line))
				continue
			}
			return line, true
		}
		s.scanned = s.end
		switch {
		case s.skipping:
			s.start = s.end
		case s.end-s.start > s.max:
			s.tooLong(s.end - s.start)
			s.skipping = true
			s.start = s.end
		}
		if s.eof || s.err != nil {
			if s.start < s.end {
				line := s.buf[s.start:s.end]
				s.start = s.end
				if s.eof {
					return line, true
				}
				if s.onCut != nil {
					s.onCut(len(line))
				}
			}
			return nil, false
		}
		s.read()
	}
}

func (s *lineScanner) tooLong(seen int) {
	if s.onTooLong != nil {
		s.onTooLong(seen)
	}
}

// read reads more input after what the buffer holds, making room first.
func (s *lineScanner) read() {
	if s.start == s.end {
		s.start, s.scanned, s.end = 0, 0, 0
	}
	if s.end == len(s.buf) && s.start > 0 {
		n := copy(s.buf, s.buf[s.start:s.end])
		s.scanned -= s.start
		s.start, s.end = 0, n
	}
	if s.end == len(s.buf) { // a long line: grow, up to one maximum line
		nb := make([]byte, min(2*len(s.buf), s.limit))
		copy(nb, s.buf[:s.end])
		s.buf = nb
	}
	n, err := s.r.Read(s.buf[s.end:])
	s.end += n
	if err == io.EOF {
		s.eof = true
	} else if err != nil {
		s.err = err
	}
}
