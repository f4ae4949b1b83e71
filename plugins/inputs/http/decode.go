package httpin

import (
	"bytes"
	"errors"
	"net/http"
	"strconv"

	"github.com/metlog/metlog/message"
	"github.com/metlog/metlog/pipeline"
	"github.com/metlog/metlog/plugins/codecs"
)

// bodyError is why a body is refused: the first bad line or frame.
type bodyError struct {
	status int    // 400, or 413 for a message over max_message_size
	line   int    // NDJSON: the 1-based line
	frame  int    // framed: the 1-based frame
	offset int    // framed: the frame's byte offset in the (decompressed) body
	reason string // a sentence
}

func (e *bodyError) Error() string {
	if e.line > 0 {
		return "line " + strconv.Itoa(e.line) + ": " + e.reason
	}
	return "frame " + strconv.Itoa(e.frame) + " at byte " + strconv.Itoa(e.offset) + ": " + e.reason
}

// decoder turns a whole body into messages, or refuses it.
type decoder struct {
	lineDec pipeline.Decoder // nil: metlog or canonical JSON, told apart per line
	maxMsg  int
	slab    []message.Message // messages are carved from here, a chunk at a time
}

// slabSize is how many messages are allocated at once.
const slabSize = 64

func (d *decoder) next() *message.Message {
	if len(d.slab) == 0 {
		d.slab = make([]message.Message, slabSize)
	}
	m := &d.slab[0]
	d.slab = d.slab[1:]
	return m
}

var bom = []byte("\xef\xbb\xbf")

// ndjson decodes one message per line. Blank lines are skipped; a line may
// end in CRLF; a UTF-8 byte order mark before the first line is ignored.
func (d *decoder) ndjson(body []byte, msgs []*message.Message) ([]*message.Message, *bodyError) {
	body = bytes.TrimPrefix(body, bom)
	dec := d.lineDec
	if dec == nil {
		dec = codecs.AutoJSONDecoder{}
	}
	for line := 1; len(body) > 0; line++ {
		var b []byte
		if i := bytes.IndexByte(body, '\n'); i >= 0 {
			b, body = body[:i], body[i+1:]
		} else {
			b, body = body, nil
		}
		if n := len(b); n > 0 && b[n-1] == '\r' {
			b = b[:n-1]
		}
		if blank(b) {
			continue
		}
		if len(b) > d.maxMsg {
			return msgs, &bodyError{status: http.StatusRequestEntityTooLarge, line: line,
				reason: "the message of " + strconv.Itoa(len(b)) + " bytes is over max_message_size (" + strconv.Itoa(d.maxMsg) + " bytes)"}
		}
		m := d.next()
		if err := dec.Decode(b, m); err != nil {
			return msgs, &bodyError{status: http.StatusBadRequest, line: line, reason: err.Error()}
		}
		msgs = append(msgs, m)
	}
	return msgs, nil
}

func blank(b []byte) bool {
	for _, c := range b {
		if c != ' ' && c != '\t' && c != '\r' {
			return false
		}
	}
	return true
}

// framed decodes a body of Heka frames, which must end with the last frame.
// HMAC signatures in frame headers are not verified.
func (d *decoder) framed(body []byte, msgs []*message.Message) ([]*message.Message, *bodyError) {
	for off, frame := 0, 1; off < len(body); frame++ {
		_, raw, n, err := message.ParseFrame(body[off:], d.maxMsg)
		if err != nil {
			be := &bodyError{status: http.StatusBadRequest, frame: frame, offset: off, reason: err.Error()}
			switch {
			case errors.Is(err, message.ErrTooLarge):
				be.status = http.StatusRequestEntityTooLarge
				be.reason = "the " + err.Error() + " (max_message_size)"
			case errors.Is(err, message.ErrShortFrame):
				be.reason = "the body ends inside the frame (" + strconv.Itoa(len(body)-off) + " bytes left)"
			}
			return msgs, be
		}
		m := d.next()
		if err := m.Unmarshal(raw); err != nil {
			return msgs, &bodyError{status: http.StatusBadRequest, frame: frame, offset: off, reason: err.Error()}
		}
		msgs = append(msgs, m)
		off += n
	}
	return msgs, nil
}
