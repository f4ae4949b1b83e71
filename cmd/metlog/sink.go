package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/metlog/metlog/message"
)

// This file is the receiving half of metlog bench: the sink (-sink) and
// the file counter (-count-file), and what they share: finding the
// sequence number in a record and counting distinct ones.

// maxTrackedSeq bounds the sequence numbers tracked one by one (a bitmap
// of 32 MiB); larger ones are counted in overflow.
const maxTrackedSeq = 1 << 28

// seqTracker counts records, distinct sequence numbers and duplicates. It
// is safe for concurrent use; add does not take an exclusive lock except to
// grow the bitmap.
type seqTracker struct {
	mu    sync.RWMutex // exclusive only while words grows
	words []atomic.Uint64

	received atomic.Int64 // records
	bytes    atomic.Int64 // read: of the streams and datagrams, framing included
	unique   atomic.Int64 // distinct sequence numbers
	dups     atomic.Int64 // records whose number was seen before
	noseq    atomic.Int64 // records without a number, or numbered 0
	overflow atomic.Int64 // records numbered above maxTrackedSeq
	maxSeq   atomic.Int64
	garbage  atomic.Int64 // bytes that were not a record

	expect int64
	done   chan struct{} // closed once expect distinct records arrived
	once   sync.Once
}

func newSeqTracker(expect int64) *seqTracker {
	return &seqTracker{expect: expect, done: make(chan struct{})}
}

// add counts one record whose text is rec.
func (t *seqTracker) add(rec []byte) {
	t.received.Add(1)
	seq, ok := findSeq(rec)
	switch {
	case !ok || seq == 0:
		t.noseq.Add(1)
	case seq > maxTrackedSeq:
		t.overflow.Add(1)
	default:
		t.mark(seq)
	}
	if t.expect > 0 && t.distinct() >= t.expect {
		t.once.Do(func() { close(t.done) })
	}
}

func (t *seqTracker) mark(seq int64) {
	w, bit := int(seq/64), uint64(1)<<(seq%64)
	t.mu.RLock()
	if w >= len(t.words) {
		t.mu.RUnlock()
		t.grow(w + 1)
		t.mu.RLock()
	}
	old := t.words[w].Or(bit)
	t.mu.RUnlock()
	if old&bit != 0 {
		t.dups.Add(1)
		return
	}
	t.unique.Add(1)
	for {
		m := t.maxSeq.Load()
		if seq <= m || t.maxSeq.CompareAndSwap(m, seq) {
			break
		}
	}
}

func (t *seqTracker) grow(words int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if words <= len(t.words) {
		return
	}
	n := min(max(words, 2*len(t.words), 1024), maxTrackedSeq/64+1)
	nw := make([]atomic.Uint64, n)
	for i := range t.words {
		nw[i].Store(t.words[i].Load())
	}
	t.words = nw
}

// distinct is the number of distinct messages: distinct sequence numbers,
// plus every record without one.
func (t *seqTracker) distinct() int64 {
	return t.unique.Load() + t.noseq.Load() + t.overflow.Load()
}

// findSeq returns the number after the first "seq=" of rec.
func findSeq(rec []byte) (int64, bool) {
	i := bytes.Index(rec, []byte("seq="))
	if i < 0 {
		return 0, false
	}
	var n int64
	digits := 0
	for _, c := range rec[i+4:] {
		if c < '0' || c > '9' || digits == 18 {
			break
		}
		n = n*10 + int64(c-'0')
		digits++
	}
	return n, digits > 0
}

// countResult is what a sink or a file count found.
type countResult struct {
	received, bytes, unique, dups, lost, noseq, garbage, maxSeq, overflow int64
	elapsed                                                               time.Duration
}

func (t *seqTracker) result(elapsed time.Duration) countResult {
	r := countResult{received: t.received.Load(), bytes: t.bytes.Load(), unique: t.unique.Load(),
		dups: t.dups.Load(), noseq: t.noseq.Load(), garbage: t.garbage.Load(), maxSeq: t.maxSeq.Load(),
		overflow: t.overflow.Load(), elapsed: elapsed}
	if t.expect > 0 {
		r.lost = max(0, t.expect-t.distinct())
	} else {
		r.lost = max(0, r.maxSeq-r.unique) // the gaps below the highest number seen
	}
	return r
}

func (r *countResult) keyValues() string {
	var rate, mib float64
	if s := r.elapsed.Seconds(); s > 0 {
		rate, mib = float64(r.received)/s, float64(r.bytes)/(1<<20)/s
	}
	s := fmt.Sprintf("received=%d bytes=%d unique=%d duplicates=%d lost=%d noseq=%d garbage_bytes=%d max_seq=%d elapsed_s=%.6f msgs_per_s=%.1f mib_per_s=%.3f",
		r.received, r.bytes, r.unique, r.dups, r.lost, r.noseq, r.garbage, r.maxSeq, r.elapsed.Seconds(), rate, mib)
	if r.overflow > 0 {
		s += fmt.Sprintf(" seq_overflow=%d", r.overflow)
	}
	return s
}

func (r *countResult) human() string {
	return fmt.Sprintf("received %d messages (%.1f MiB) in %.3fs; %d distinct numbers, %d duplicates, %d lost, %d without a number, %d bytes of garbage",
		r.received, float64(r.bytes)/(1<<20), r.elapsed.Seconds(), r.unique, r.dups, r.lost, r.noseq, r.garbage)
}

// finish prints a count and returns the exit status: 1 when messages
// expected are missing.
func finishCount(e *env, c *cmdIO, r countResult, expect int64, verbose bool) int {
	fmt.Fprintln(e.stdout, r.keyValues())
	if verbose {
		fmt.Fprintf(e.stderr, "metlog bench: %s\n", r.human())
	}
	if expect > 0 && r.lost > 0 {
		return c.failf("%d of the %d messages expected did not arrive", r.lost, expect)
	}
	return exitOK
}

// countStream counts the records of a stream, framed (if it starts with
// 0x1E) or lines, and the bytes read.
func countStream(r io.Reader, t *seqTracker, maxSize int) error {
	br := bufio.NewReaderSize(countingReader{r, t}, 256<<10)
	if detectFormat(br, formatAuto) == formatFramed {
		sc := message.NewFrameScanner(br, maxSize)
		sc.OnDiscard = func(n int, _ error) { t.garbage.Add(int64(n)) }
		for sc.Next() {
			t.add(sc.Message())
		}
		return sc.Err()
	}
	for {
		line, err := br.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			// A line longer than the buffer: count it once, by its start.
			t.add(line)
			for errors.Is(err, bufio.ErrBufferFull) {
				_, err = br.ReadSlice('\n')
			}
		} else if len(bytes.TrimSpace(line)) > 0 {
			t.add(line)
		}
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

// countingReader adds the bytes it reads to the tracker.
type countingReader struct {
	r io.Reader
	t *seqTracker
}

func (r countingReader) Read(b []byte) (int, error) {
	n, err := r.r.Read(b)
	r.t.bytes.Add(int64(n))
	return n, err
}

// countDatagram counts the records of one datagram: frames, or lines.
func countDatagram(b []byte, t *seqTracker, maxSize int) {
	t.bytes.Add(int64(len(b)))
	if len(b) > 0 && b[0] == message.RecordSeparator {
		for len(b) > 0 {
			_, msg, n, err := message.ParseFrame(b, maxSize)
			if err != nil {
				t.garbage.Add(int64(len(b)))
				return
			}
			t.add(msg)
			b = b[n:]
		}
		return
	}
	for len(b) > 0 {
		line := b
		if i := bytes.IndexByte(b, '\n'); i >= 0 {
			line, b = b[:i+1], b[i+1:]
		} else {
			b = nil
		}
		if len(bytes.TrimSpace(line)) > 0 {
			t.add(line)
		}
	}
}

// runCountFiles counts the records of files.
func runCountFiles(e *env, c *cmdIO, files []string, expect int64, maxSize int, verbose bool) int {
	t := newSeqTracker(expect)
	start := time.Now()
	for _, name := range files {
		r, closer, err := openInput(name, e.stdin)
		if err != nil {
			return c.failf("%v", err)
		}
		err = countStream(r, t, maxSize)
		closer()
		if err != nil {
			return c.failf("reading %s: %v", name, err)
		}
	}
	return finishCount(e, c, t.result(time.Since(start)), expect, verbose)
}

// sinkConfig configures a sink.
type sinkConfig struct {
	listen  string
	proto   string // tcp, udp, unix
	expect  int64
	timeout time.Duration
	idle    time.Duration
	maxSize int
}

// sink receives and counts messages.
type sink struct {
	cfg     sinkConfig
	t       *seqTracker
	ln      net.Listener
	pc      net.PacketConn
	first   atomic.Int64 // unix nanoseconds of the first data
	last    atomic.Int64 // of the latest data
	mu      sync.Mutex
	conns   map[net.Conn]struct{}
	closed  bool
	wg      sync.WaitGroup
	readErr atomic.Pointer[error]
}

// startSink listens and starts counting in the background.
func startSink(cfg sinkConfig) (*sink, error) {
	s := &sink{cfg: cfg, t: newSeqTracker(cfg.expect), conns: map[net.Conn]struct{}{}}
	var err error
	switch cfg.proto {
	case "tcp", "unix":
		s.ln, err = net.Listen(cfg.proto, cfg.listen)
		if err != nil {
			return nil, fmt.Errorf("cannot listen on %s over %s: %w", cfg.listen, cfg.proto, unwrapOpError(err))
		}
		s.wg.Add(1)
		go s.accept()
	case "udp":
		s.pc, err = net.ListenPacket("udp", cfg.listen)
		if err != nil {
			return nil, fmt.Errorf("cannot listen on %s over udp: %w", cfg.listen, unwrapOpError(err))
		}
		if uc, ok := s.pc.(*net.UDPConn); ok {
			_ = uc.SetReadBuffer(16 << 20)
		}
		s.wg.Add(1)
		go s.readPackets()
	default:
		return nil, fmt.Errorf("-proto %q is not tcp, udp or unix", cfg.proto)
	}
	return s, nil
}

// addr is the address the sink listens on.
func (s *sink) addr() string {
	if s.ln != nil {
		return s.ln.Addr().String()
	}
	return s.pc.LocalAddr().String()
}

func (s *sink) stamp() {
	now := time.Now().UnixNano()
	s.last.Store(now)
	s.first.CompareAndSwap(0, now)
}

func (s *sink) accept() {
	defer s.wg.Done()
	for {
		cn, err := s.ln.Accept()
		if err != nil {
			return // closed
		}
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			cn.Close()
			return
		}
		s.conns[cn] = struct{}{}
		s.wg.Add(1)
		s.mu.Unlock()
		go func() {
			defer s.wg.Done()
			err := countStream(stampReader{cn, s}, s.t, s.cfg.maxSize)
			s.mu.Lock()
			delete(s.conns, cn)
			closed := s.closed
			s.mu.Unlock()
			cn.Close()
			if err != nil && !closed {
				s.readErr.CompareAndSwap(nil, &err)
			}
		}()
	}
}

// stampReader notes the time of every read that returned data.
type stampReader struct {
	r io.Reader
	s *sink
}

func (r stampReader) Read(b []byte) (int, error) {
	n, err := r.r.Read(b)
	if n > 0 {
		r.s.stamp()
	}
	return n, err
}

func (s *sink) readPackets() {
	defer s.wg.Done()
	buf := make([]byte, 64<<10)
	for {
		n, _, err := s.pc.ReadFrom(buf)
		if err != nil {
			return // closed
		}
		s.stamp()
		countDatagram(buf[:n], s.t, s.cfg.maxSize)
	}
}

// wait blocks until the expected messages arrived, the timeout or idle
// time passed, or ctx is done; then it stops the sink and returns the count.
func (s *sink) wait(ctx context.Context) countResult {
	var timeout <-chan time.Time
	if s.cfg.timeout > 0 {
		tm := time.NewTimer(s.cfg.timeout)
		defer tm.Stop()
		timeout = tm.C
	}
	var tick <-chan time.Time
	if s.cfg.idle > 0 {
		tk := time.NewTicker(min(max(s.cfg.idle/4, time.Millisecond), 100*time.Millisecond))
		defer tk.Stop()
		tick = tk.C
	}
loop:
	for {
		select {
		case <-s.t.done:
			break loop
		case <-timeout:
			break loop
		case <-ctx.Done():
			break loop
		case now := <-tick:
			if last := s.last.Load(); last != 0 && now.UnixNano()-last >= int64(s.cfg.idle) {
				break loop
			}
		}
	}
	s.stop()
	var elapsed time.Duration
	if first := s.first.Load(); first != 0 {
		elapsed = time.Duration(s.last.Load() - first)
	}
	return s.t.result(elapsed)
}

// stop closes the listener and every connection, and waits for the readers.
func (s *sink) stop() {
	s.mu.Lock()
	s.closed = true
	for cn := range s.conns {
		cn.Close()
	}
	s.mu.Unlock()
	if s.ln != nil {
		s.ln.Close()
	}
	if s.pc != nil {
		s.pc.Close()
	}
	s.wg.Wait()
}

func runSink(e *env, c *cmdIO, cfg sinkConfig, verbose bool) int {
	s, err := startSink(cfg)
	if err != nil {
		return c.failf("%v", err)
	}
	fmt.Fprintf(e.stderr, "metlog bench: sink listening on %s (%s)\n", s.addr(), cfg.proto)
	r := s.wait(e.ctx)
	if p := s.readErr.Load(); p != nil && verbose {
		fmt.Fprintf(e.stderr, "metlog bench: a connection failed: %v\n", *p)
	}
	return finishCount(e, c, r, cfg.expect, verbose)
}
