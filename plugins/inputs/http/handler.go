package httpin

import (
	"bytes"
	"compress/flate"
	"compress/gzip"
	"compress/zlib"
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/metlog/metlog/internal/ratelog"
	"github.com/metlog/metlog/message"
	"github.com/metlog/metlog/pipeline"
)

type handlerConfig struct {
	auto        bool             // format "auto": by Content-Type
	framed      bool             // not auto: bodies are framed
	lineDec     pipeline.Decoder // not auto and not framed: each line's decoder
	maxBody     int64
	maxMsg      int
	maxRequests int
	readTimeout time.Duration
	tokens      []string
	metrics     *pipeline.Metrics
	warn        *ratelog.Limiter
}

// handler serves the ingest path. It is created by Start; Run gives it the
// router.
type handler struct {
	cfg    handlerConfig
	tokens [][sha256.Size]byte // hashes of the accepted tokens
	slots  chan struct{}       // one per request being read, decoded or delivered
	warn   *ratelog.Limiter
	m      *pipeline.Metrics
	pool   sync.Pool // of *request

	run     atomic.Pointer[runState]
	ready   chan struct{} // closed when Run starts
	readyMu sync.Once

	mu       sync.Mutex
	closed   bool
	stopped  chan struct{} // closed by close
	inflight sync.WaitGroup
}

// runState is what Run hands the handler: the router, and a context that
// ends with Run's or when the handler is closed.
type runState struct {
	ctx    context.Context
	cancel context.CancelFunc
	d      pipeline.Deliverer
}

func newHandler(cfg handlerConfig) *handler {
	h := &handler{
		cfg:     cfg,
		slots:   make(chan struct{}, cfg.maxRequests),
		warn:    cfg.warn,
		m:       cfg.metrics,
		ready:   make(chan struct{}),
		stopped: make(chan struct{}),
	}
	for _, t := range cfg.tokens {
		h.tokens = append(h.tokens, sha256.Sum256([]byte(t)))
	}
	h.pool.New = func() any { return new(request) }
	return h
}

func (h *handler) setRun(ctx context.Context, d pipeline.Deliverer) {
	ctx, cancel := context.WithCancel(ctx)
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		cancel()
	}
	if old := h.run.Swap(&runState{ctx: ctx, cancel: cancel, d: d}); old != nil {
		old.cancel()
	}
	h.readyMu.Do(func() { close(h.ready) })
}

// close makes new requests fail with 503, wakes those waiting for Run, and
// ends deliveries in progress.
func (h *handler) close() {
	h.mu.Lock()
	defer h.mu.Unlock()
	if !h.closed {
		h.closed = true
		close(h.stopped)
		if r := h.run.Load(); r != nil {
			r.cancel()
		}
	}
}

// wait waits for the requests in progress, or ctx.
func (h *handler) wait(ctx context.Context) error {
	done := make(chan struct{})
	go func() { h.inflight.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return errors.New("requests were still in progress when the stop deadline passed")
	}
}

// request is the reusable state of one request.
type request struct {
	raw   []byte // the body as sent
	plain []byte // the body decompressed
	msgs  []*message.Message
	br    bytes.Reader
	gz    *gzip.Reader
	zl    io.ReadCloser // zlib
	fl    io.ReadCloser // raw deflate
}

// maxPooled is the largest buffer a pooled request keeps.
const maxPooled = 4 << 20

func (h *handler) put(rq *request) {
	clear(rq.msgs)
	rq.msgs = rq.msgs[:0]
	if cap(rq.raw) > maxPooled {
		rq.raw = nil
	}
	if cap(rq.plain) > maxPooled {
		rq.plain = nil
	}
	if cap(rq.msgs) > 64<<10 {
		rq.msgs = nil
	}
	rq.br.Reset(nil)
	h.pool.Put(rq)
}

// Content encodings.
const (
	encNone = iota
	encGzip
	encDeflate
)

// Body formats, as the Content-Type says in auto mode.
const (
	kindSniff  = iota // no Content-Type: framed when it starts with 0x1E, else NDJSON
	kindNDJSON        // framed all the same when it starts with 0x1E
	kindFramed
)

// ServeHTTP answers one ingest request: see the package comment.
func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		h.unavailable(w, r, 0, "the input is stopping")
		return
	}
	h.inflight.Add(1)
	h.mu.Unlock()
	defer h.inflight.Done()

	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		h.reject(w, r, http.StatusMethodNotAllowed, "use POST to send messages", nil)
		return
	}
	if len(h.tokens) > 0 && !h.authorized(w, r) {
		return
	}
	kind := kindNDJSON
	if h.cfg.auto {
		var ok bool
		ct := r.Header.Get("Content-Type")
		if kind, ok = contentKind(ct); !ok {
			reason := "Content-Type " + strconv.Quote(ct) + " is not one of application/x-ndjson, application/json, application/jsonlines, text/plain (NDJSON) or application/x-protobuf, application/octet-stream, application/x-metlog-frames (Heka frames)"
			if strings.HasPrefix(ct, "application/x-www-form-urlencoded") {
				reason += "; curl sends that with --data-binary unless told otherwise: add -H 'Content-Type: application/x-ndjson'"
			}
			h.reject(w, r, http.StatusUnsupportedMediaType, reason, nil)
			return
		}
	}
	enc, ok := contentEncoding(r.Header.Values("Content-Encoding"))
	if !ok {
		w.Header().Set("Accept-Encoding", "gzip, deflate")
		h.reject(w, r, http.StatusUnsupportedMediaType,
			"Content-Encoding "+strconv.Quote(strings.Join(r.Header.Values("Content-Encoding"), ", "))+" is not gzip, deflate or identity", nil)
		return
	}
	if r.ContentLength > h.cfg.maxBody {
		h.tooLarge(w, r, "the body of "+strconv.FormatInt(r.ContentLength, 10)+" bytes is over max_body ("+strconv.FormatInt(h.cfg.maxBody, 10)+" bytes)", nil)
		return
	}

	// Wait for Run, then for a slot.
	var run *runState
	select {
	case <-h.ready:
		run = h.run.Load()
	case <-h.stopped:
		h.unavailable(w, r, 0, "the input is stopping")
		return
	case <-r.Context().Done():
		return
	}
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	defer context.AfterFunc(run.ctx, cancel)()
	select {
	case h.slots <- struct{}{}:
	case <-ctx.Done():
		if run.ctx.Err() != nil {
			h.unavailable(w, r, 0, "the input is stopping")
		}
		return // the client went away
	}
	defer func() { <-h.slots }()

	rq := h.pool.Get().(*request)
	defer h.put(rq)
	if !h.readBody(w, r, rq, enc) {
		return
	}
	body := rq.raw
	if enc != encNone && len(body) > 0 {
		if !h.decompress(w, r, rq, enc) {
			return
		}
		body = rq.plain
	}

	framed := h.cfg.framed
	if h.cfg.auto {
		framed = kind == kindFramed || len(body) > 0 && body[0] == message.RecordSeparator
	}
	var berr *bodyError
	d := decoder{lineDec: h.cfg.lineDec, maxMsg: h.cfg.maxMsg}
	if framed {
		rq.msgs, berr = d.framed(body, rq.msgs)
	} else {
		rq.msgs, berr = d.ndjson(body, rq.msgs)
	}
	if berr != nil {
		if berr.status == http.StatusRequestEntityTooLarge {
			h.tooLarge(w, r, berr.Error(), berr)
		} else {
			h.reject(w, r, berr.status, berr.Error(), berr)
		}
		return
	}

	accepted := 0
	for i, m := range rq.msgs {
		if ctx.Err() != nil || run.d.Deliver(ctx, m) != nil {
			break
		}
		rq.msgs[i] = nil // the router has it
		accepted++
	}
	if accepted < len(rq.msgs) {
		why := "the client went away"
		if run.ctx.Err() != nil {
			why = "the input is stopping"
		}
		h.unavailable(w, r, accepted, why+" after "+strconv.Itoa(accepted)+" of "+strconv.Itoa(len(rq.msgs))+" messages were accepted")
		return
	}
	var buf [40]byte
	out := strconv.AppendInt(append(buf[:0], `{"accepted":`...), int64(accepted), 10)
	out = append(out, "}\n"...)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusAccepted)
	_, _ = w.Write(out)
}

// authorized checks the bearer token in constant time, answering 401 when
// it is missing or wrong.
func (h *handler) authorized(w http.ResponseWriter, r *http.Request) bool {
	auth := r.Header.Get("Authorization")
	token, found := "", false
	if len(auth) > 7 && strings.EqualFold(auth[:7], "bearer ") {
		token, found = strings.TrimSpace(auth[7:]), true
	}
	if found && token != "" {
		sum := sha256.Sum256([]byte(token))
		match := 0
		for i := range h.tokens {
			match |= subtle.ConstantTimeCompare(sum[:], h.tokens[i][:])
		}
		if match == 1 {
			return true
		}
		w.Header().Set("WWW-Authenticate", `Bearer realm="metlogd", error="invalid_token"`)
		h.unauthorized(w, r, "the bearer token is not accepted")
		return false
	}
	w.Header().Set("WWW-Authenticate", `Bearer realm="metlogd"`)
	h.unauthorized(w, r, "a bearer token is required (Authorization: Bearer <token>)")
	return false
}

// contentKind tells the body format by Content-Type.
func contentKind(ct string) (int, bool) {
	if ct == "" {
		return kindSniff, true
	}
	mt, _, _ := strings.Cut(ct, ";")
	mt = strings.TrimSpace(mt)
	for _, t := range ndjsonTypes {
		if strings.EqualFold(mt, t) {
			return kindNDJSON, true
		}
	}
	for _, t := range framedTypes {
		if strings.EqualFold(mt, t) {
			return kindFramed, true
		}
	}
	return 0, false
}

var (
	ndjsonTypes = []string{"application/x-ndjson", "application/ndjson", "application/json", "application/jsonlines",
		"application/x-jsonlines", "application/jsonl", "text/plain"}
	framedTypes = []string{"application/x-protobuf", "application/protobuf", "application/octet-stream",
		"application/x-metlog-frames", "application/x-heka-frames"}
)

// contentEncoding reads the Content-Encoding headers: at most one coding.
func contentEncoding(vals []string) (int, bool) {
	enc := encNone
	n := 0
	for _, v := range vals {
		for c := range strings.SplitSeq(v, ",") {
			c = strings.TrimSpace(c)
			switch {
			case c == "" || strings.EqualFold(c, "identity"):
				continue
			case strings.EqualFold(c, "gzip") || strings.EqualFold(c, "x-gzip"):
				enc = encGzip
			case strings.EqualFold(c, "deflate"):
				enc = encDeflate
			default:
				return 0, false
			}
			n++
		}
	}
	return enc, n <= 1
}

// readBody reads the body as sent into rq.raw, within max_body and
// read_timeout.
func (h *handler) readBody(w http.ResponseWriter, r *http.Request, rq *request, enc int) bool {
	rc := http.NewResponseController(w)
	_ = rc.SetReadDeadline(time.Now().Add(h.cfg.readTimeout))
	rq.raw = rq.raw[:0]
	if cl := r.ContentLength; cl > 0 && cl <= h.cfg.maxBody {
		rq.raw = slices.Grow(rq.raw, int(cl)+1) // +1: room to read the end without growing
	}
	var err error
	rq.raw, err = readAll(rq.raw, http.MaxBytesReader(w, r.Body, h.cfg.maxBody), h.cfg.maxBody)
	// No deadline while delivering: the server's read after the body would
	// end the request's context when it passed.
	_ = rc.SetReadDeadline(time.Time{})
	h.m.Bytes.Add(uint64(len(rq.raw)))
	if err == nil {
		return true
	}
	var mbe *http.MaxBytesError
	var ne net.Error
	switch {
	case errors.As(err, &mbe) || errors.Is(err, errTooLarge):
		what := "body"
		if enc != encNone {
			what = "compressed body"
		}
		h.tooLarge(w, r, "the "+what+" is over max_body ("+strconv.FormatInt(h.cfg.maxBody, 10)+" bytes)", nil)
	case errors.As(err, &ne) && ne.Timeout():
		h.m.Errors.Add(1)
		h.respond(w, r, http.StatusRequestTimeout, "reading the body took longer than read_timeout", nil, 0)
	default:
		h.m.Errors.Add(1)
		h.respond(w, r, http.StatusBadRequest, "reading the body: "+err.Error(), nil, 0)
	}
	return false
}

var errTooLarge = errors.New("over the size limit")

// readAll appends what r yields to buf, failing with errTooLarge once it
// is over limit bytes.
func readAll(buf []byte, r io.Reader, limit int64) ([]byte, error) {
	for {
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
		n, err := r.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if int64(len(buf)) > limit {
			return buf, errTooLarge
		}
		if err == io.EOF {
			return buf, nil
		}
		if err != nil {
			return buf, err
		}
	}
}

// decompress inflates rq.raw into rq.plain, within max_body.
func (h *handler) decompress(w http.ResponseWriter, r *http.Request, rq *request, enc int) bool {
	rq.br.Reset(rq.raw)
	var zr io.Reader
	var err error
	name := "gzip"
	switch {
	case enc == encGzip:
		if rq.gz == nil {
			rq.gz, err = gzip.NewReader(&rq.br)
		} else {
			err = rq.gz.Reset(&rq.br)
		}
		zr = rq.gz
	case isZlib(rq.raw): // deflate as RFC 9110 means it
		name = "deflate (zlib)"
		if rq.zl == nil {
			rq.zl, err = zlib.NewReader(&rq.br)
		} else {
			err = rq.zl.(zlib.Resetter).Reset(&rq.br, nil)
		}
		zr = rq.zl
	default: // raw deflate, as some clients send it
		name = "deflate"
		if rq.fl == nil {
			rq.fl = flate.NewReader(&rq.br)
		} else {
			err = rq.fl.(flate.Resetter).Reset(&rq.br, nil)
		}
		zr = rq.fl
	}
	if err == nil {
		rq.plain, err = readAll(rq.plain[:0], zr, h.cfg.maxBody)
	}
	switch {
	case err == nil:
		return true
	case errors.Is(err, errTooLarge):
		h.tooLarge(w, r, "the body decompresses to more than max_body ("+strconv.FormatInt(h.cfg.maxBody, 10)+" bytes)", nil)
	default:
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			err = errors.New("the stream is truncated")
		}
		h.reject(w, r, http.StatusBadRequest, "the body is not valid "+name+": "+err.Error(), nil)
	}
	return false
}

// isZlib reports whether b starts with a zlib header (RFC 1950).
func isZlib(b []byte) bool {
	return len(b) >= 2 && b[0]&0x0f == 8 && b[0]>>4 <= 7 && (uint16(b[0])<<8|uint16(b[1]))%31 == 0
}

// response is the JSON body of every answer but success.
type response struct {
	Accepted int    `json:"accepted"`
	Error    string `json:"error,omitempty"`
	Line     int    `json:"line,omitempty"`
	Frame    int    `json:"frame,omitempty"`
	Offset   *int   `json:"offset,omitempty"`
}

// reject answers a bad request, counted as a decode error.
func (h *handler) reject(w http.ResponseWriter, r *http.Request, status int, reason string, be *bodyError) {
	h.m.DecodeErrors.Add(1)
	h.respond(w, r, status, reason, be, 0)
}

// tooLarge answers 413, counted as a drop for size.
func (h *handler) tooLarge(w http.ResponseWriter, r *http.Request, reason string, be *bodyError) {
	h.m.Drop(pipeline.DropTooLarge, 1)
	h.respond(w, r, http.StatusRequestEntityTooLarge, reason, be, 0)
}

// unauthorized answers 401, counted as a drop for authorization.
func (h *handler) unauthorized(w http.ResponseWriter, r *http.Request, reason string) {
	h.m.Drop(pipeline.DropUnauthorized, 1)
	h.respond(w, r, http.StatusUnauthorized, reason, nil, 0)
}

// unavailable answers 503, counted as an error: not everything was
// accepted.
func (h *handler) unavailable(w http.ResponseWriter, r *http.Request, accepted int, reason string) {
	h.m.Errors.Add(1)
	w.Header().Set("Retry-After", "1")
	h.respond(w, r, http.StatusServiceUnavailable, reason, nil, accepted)
}

func (h *handler) respond(w http.ResponseWriter, r *http.Request, status int, reason string, be *bodyError, accepted int) {
	h.warn.Warn(strconv.Itoa(status), "rejected an HTTP request", "status", status, "reason", reason, "remote", r.RemoteAddr)
	resp := response{Accepted: accepted, Error: reason}
	if be != nil {
		resp.Line, resp.Frame = be.line, be.frame
		if be.frame > 0 {
			resp.Offset = &be.offset
		}
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(resp)
	hd := w.Header()
	hd.Set("Content-Type", "application/json")
	hd.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_, _ = w.Write(b.Bytes())
}
