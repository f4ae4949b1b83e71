package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/metlog/metlog/message"
	"github.com/metlog/metlog/pipeline"
)

const benchSynopsis = `
Usage:
  metlog bench [flags]                         generate load
  metlog bench -sink [flags]                   receive load and count it
  metlog bench -count-file FILE [FILE...]      count the messages of files

Generates load against a router (or anything that reads TCP, UDP or unix
sockets): -conns connections each send their share of -n messages (or send
for -duration), paced to -rate messages per second in total or flat out.
Each message carries a payload of -size bytes with "seq=NNNNNNNNNN"; with
-unique the numbers are 1, 2, 3 ... across all connections, so that a sink
can count lost and duplicated messages. Formats: framed (Heka framing of a
protobuf message, what the client sends), metlog (metlog-py JSON, one per
line or datagram) and plain (a syslog-like line of -size bytes ending in a
newline). Prints one line of key=value pairs:
  sent=N bytes=N errors=N elapsed_s=S msgs_per_s=R mib_per_s=R proto=P format=F conns=N size=N

-sink listens on -listen (tcp, udp or unix) and counts what arrives, framed
or lines (told apart by the first byte of each connection or datagram),
until -expect distinct messages arrived, nothing arrived for -idle, -timeout
passed, or it is interrupted; -count-file counts the records of files, such
as what metlogd's file output wrote. Both print:
  received=N bytes=N unique=N duplicates=N lost=N noseq=N garbage_bytes=N max_seq=N elapsed_s=S msgs_per_s=R mib_per_s=R
and exit 1 when -expect was given and messages are missing. With -v a
human summary goes to stderr as well.
`

type benchOptions struct {
	// generator
	addr     string
	proto    string
	format   string
	conns    int
	rate     float64
	n        int64
	duration time.Duration
	size     int
	unique   bool
	// sink and count-file
	sink      bool
	listen    string
	expect    int64
	timeout   time.Duration
	idle      time.Duration
	countFile string
	maxSize   string
	verbose   bool
}

func benchFlags() (*flag.FlagSet, *benchOptions) {
	o := &benchOptions{}
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.StringVar(&o.addr, "addr", "127.0.0.1:5565", "where to send: host:port, or a socket path with -proto unix")
	fs.StringVar(&o.proto, "proto", "tcp", "tcp, udp or unix (a stream socket)")
	fs.StringVar(&o.format, "format", "framed", "what to send: framed, metlog or plain")
	fs.IntVar(&o.conns, "conns", 1, "number of connections (UDP: sockets) sending at once")
	fs.Float64Var(&o.rate, "rate", 0, "messages per second, all connections together (0: flat out)")
	fs.Int64Var(&o.n, "n", 0, "messages to send in total (default 100000 unless -duration is given)")
	fs.DurationVar(&o.duration, "duration", 0, "send for this long (with -n: whichever ends first)")
	fs.IntVar(&o.size, "size", 256, "payload bytes per message (plain: the whole line with its newline)")
	fs.BoolVar(&o.unique, "unique", false, "number the messages 1, 2, 3 ... (else every seq is 0) so a sink can count loss")
	fs.BoolVar(&o.sink, "sink", false, "receive and count messages instead of sending")
	fs.StringVar(&o.listen, "listen", "127.0.0.1:5599", "sink: address (or socket path) to listen on")
	fs.Int64Var(&o.expect, "expect", 0, "sink, count-file: the number of distinct messages expected; stop when they arrived, report the missing")
	fs.DurationVar(&o.timeout, "timeout", 0, "sink: stop after this long (0: no limit)")
	fs.DurationVar(&o.idle, "idle", 0, "sink: stop when nothing arrived for this long, after the first message (0: never)")
	fs.StringVar(&o.countFile, "count-file", "", "count the messages of this file (and of any FILE arguments) and exit")
	fs.StringVar(&o.maxSize, "max-size", "64MiB", "sink, count-file: largest framed message accepted")
	fs.BoolVar(&o.verbose, "v", false, "also print a human summary on stderr")
	return fs, o
}

var (
	generatorOnly = []string{"addr", "format", "conns", "rate", "n", "duration", "size", "unique"}
	sinkOnly      = []string{"listen", "timeout", "idle"}
)

func runBench(e *env, args []string) int {
	fs, o := benchFlags()
	c := &cmdIO{e: e, name: "bench", fs: fs, synopsis: benchSynopsis}
	pos, code, ok := c.parse(args)
	if !ok {
		return code
	}
	set := flagsSet(fs)
	mode := "generator"
	switch {
	case o.sink && o.countFile != "":
		return c.usagef("-sink and -count-file do not go together")
	case o.sink:
		mode = "-sink"
	case o.countFile != "":
		mode = "-count-file"
	}
	for name := range set {
		if mode != "generator" && contains(generatorOnly, name) {
			return c.usagef("-%s is for generating load, not for %s", name, mode)
		}
		if mode != "-sink" && contains(sinkOnly, name) {
			return c.usagef("-%s is for -sink", name)
		}
		if mode == "generator" && (name == "expect" || name == "max-size") {
			return c.usagef("-%s is for -sink and -count-file", name)
		}
	}
	if len(pos) > 0 && mode != "-count-file" {
		return c.usagef("unexpected argument %q", pos[0])
	}
	maxSize, err := pipeline.ParseByteSize(o.maxSize)
	if err != nil || maxSize < 1 {
		return c.usagef("-max-size: %q is not a size such as 64KiB", o.maxSize)
	}
	if o.expect < 0 {
		return c.usagef("-expect must not be negative")
	}
	switch mode {
	case "-sink":
		return runSink(e, c, sinkConfig{listen: o.listen, proto: o.proto, expect: o.expect,
			timeout: o.timeout, idle: o.idle, maxSize: int(maxSize)}, o.verbose)
	case "-count-file":
		return runCountFiles(e, c, append([]string{o.countFile}, pos...), o.expect, int(maxSize), o.verbose)
	}
	cfg := loadConfig{addr: o.addr, proto: o.proto, format: o.format, conns: o.conns, rate: o.rate,
		count: o.n, duration: o.duration, size: o.size, unique: o.unique}
	if cfg.count == 0 && cfg.duration == 0 {
		cfg.count = 100000
	}
	if err := cfg.validate(); err != nil {
		return c.usagef("%v", err)
	}
	if o.verbose {
		fmt.Fprintf(e.stderr, "metlog bench: sending %s over %s to %s from %d %s, %s\n",
			cfg.format, cfg.proto, cfg.addr, cfg.conns, plural(cfg.conns, "connection", "connections"), cfg.describeLimits())
	}
	res, err := runLoad(e.ctx, cfg)
	if err != nil {
		return c.failf("%v", err)
	}
	fmt.Fprintln(e.stdout, res.keyValues(&cfg))
	if o.verbose {
		fmt.Fprintf(e.stderr, "metlog bench: sent %d messages (%.1f MiB) in %.3fs: %.0f messages/s, %.2f MiB/s; %d write errors\n",
			res.sent, float64(res.bytes)/(1<<20), res.elapsed.Seconds(), res.msgsPerSec(), res.mibPerSec(), res.errors)
	}
	if res.firstErr != nil {
		fmt.Fprintf(e.stderr, "metlog bench: %d write errors; the first: %v\n", res.errors, res.firstErr)
		return exitFail
	}
	return exitOK
}

// loadConfig is what the generator sends.
type loadConfig struct {
	addr     string
	proto    string // tcp, udp, unix
	format   string // framed, metlog, plain
	conns    int
	rate     float64       // messages/s in total; 0 flat out
	count    int64         // messages in total; 0 no limit
	duration time.Duration // 0 no limit
	size     int
	unique   bool
}

// seqDigits is the width of the sequence number after "seq=".
const seqDigits = 10

func (c *loadConfig) validate() error {
	var errs []string
	switch c.proto {
	case "tcp", "udp", "unix":
	default:
		errs = append(errs, fmt.Sprintf("-proto %q is not tcp, udp or unix", c.proto))
	}
	switch c.format {
	case "framed", "metlog", "plain":
	default:
		errs = append(errs, fmt.Sprintf("-format %q is not framed, metlog or plain", c.format))
	}
	if c.conns < 1 || c.conns > 10000 {
		errs = append(errs, "-conns must be between 1 and 10000")
	}
	if c.rate < 0 {
		errs = append(errs, "-rate must not be negative")
	}
	if c.count < 0 || c.duration < 0 {
		errs = append(errs, "-n and -duration must not be negative")
	}
	if c.size < len("seq=")+seqDigits || c.size > 64<<20 {
		errs = append(errs, fmt.Sprintf("-size must be between %d and 64 MiB", len("seq=")+seqDigits))
	}
	if len(errs) > 0 {
		return errors.New(strings.Join(errs, "; "))
	}
	if _, _, err := c.template(); err != nil {
		return err
	}
	return nil
}

func (c *loadConfig) describeLimits() string {
	var parts []string
	if c.count > 0 {
		parts = append(parts, fmt.Sprintf("%d messages", c.count))
	}
	if c.duration > 0 {
		parts = append(parts, "for "+c.duration.String())
	}
	if c.rate > 0 {
		parts = append(parts, fmt.Sprintf("at %g messages/s", c.rate))
	} else {
		parts = append(parts, "flat out")
	}
	return strings.Join(parts, ", ")
}

// benchPayload returns size bytes: "seq=0000000000 " then filler.
func benchPayload(size int) []byte {
	p := make([]byte, size)
	copy(p, "seq=")
	for i := 4; i < 4+seqDigits; i++ {
		p[i] = '0'
	}
	const filler = " the quick brown fox jumps over the lazy dog;"
	for i := 4 + seqDigits; i < size; i++ {
		p[i] = filler[(i-4-seqDigits)%len(filler)]
	}
	return p
}

// template returns one encoded message and the offset of its sequence
// number's digits.
func (c *loadConfig) template() (tmpl []byte, seqAt int, err error) {
	host, _ := os.Hostname()
	if host == "" {
		host = "localhost"
	}
	pid := os.Getpid()
	switch c.format {
	case "plain":
		prefix := fmt.Sprintf("<134>%s %s metlog-bench[%d]: ", time.Now().Format(time.Stamp), host, pid)
		if c.size < len(prefix)+len("seq=")+seqDigits+1 {
			return nil, 0, fmt.Errorf("-size %d is too small for a plain line: it takes at least %d bytes", c.size, len(prefix)+len("seq=")+seqDigits+1)
		}
		tmpl = append([]byte(prefix), benchPayload(c.size-len(prefix)-1)...)
		tmpl = append(tmpl, '\n')
	default:
		m := message.Message{UUID: message.NewUUID(), Timestamp: time.Now().UnixNano(), Type: "bench",
			Logger: "metlog-bench", Severity: message.Info, Payload: string(benchPayload(c.size)),
			EnvVersion: "0.8", Pid: int32(pid), Hostname: host}
		if c.format == "framed" {
			tmpl = message.AppendFrame(nil, &m, nil)
		} else {
			tmpl = message.AppendMetlogJSON(nil, &m)
			if c.proto != "udp" {
				tmpl = append(tmpl, '\n')
			}
		}
	}
	if c.proto == "udp" && len(tmpl) > 65507 {
		return nil, 0, fmt.Errorf("a message of %d bytes does not fit in a UDP datagram (65507 bytes); lower -size", len(tmpl))
	}
	return tmpl, bytes.Index(tmpl, []byte("seq=")) + len("seq="), nil
}

// putSeq writes n as seqDigits decimal digits at b[0:].
func putSeq(b []byte, n uint64) {
	for i := seqDigits - 1; i >= 0; i-- {
		b[i] = byte('0' + n%10)
		n /= 10
	}
}

// loadResult is what the generator did.
type loadResult struct {
	sent, bytes, errors int64
	elapsed             time.Duration
	firstErr            error
}

func (r *loadResult) msgsPerSec() float64 {
	if r.elapsed <= 0 {
		return 0
	}
	return float64(r.sent) / r.elapsed.Seconds()
}

func (r *loadResult) mibPerSec() float64 {
	if r.elapsed <= 0 {
		return 0
	}
	return float64(r.bytes) / (1 << 20) / r.elapsed.Seconds()
}

func (r *loadResult) keyValues(c *loadConfig) string {
	return fmt.Sprintf("sent=%d bytes=%d errors=%d elapsed_s=%.6f msgs_per_s=%.1f mib_per_s=%.3f proto=%s format=%s conns=%d size=%d",
		r.sent, r.bytes, r.errors, r.elapsed.Seconds(), r.msgsPerSec(), r.mibPerSec(), c.proto, c.format, c.conns, c.size)
}

// pacingTick is how long a paced sender sleeps when it is ahead of its
// rate: short enough to keep bursts small, long enough not to spin.
const pacingTick = 100 * time.Microsecond

// runLoad dials every connection, then sends until the count, the
// duration or ctx ends, and reports what was sent.
func runLoad(ctx context.Context, c loadConfig) (loadResult, error) {
	tmpl, seqAt, err := c.template()
	if err != nil {
		return loadResult{}, err
	}
	conns := make([]net.Conn, 0, c.conns)
	defer func() {
		for _, cn := range conns {
			cn.Close()
		}
	}()
	d := net.Dialer{Timeout: 5 * time.Second}
	for i := 0; i < c.conns; i++ {
		cn, err := d.DialContext(ctx, c.proto, c.addr)
		if err != nil {
			return loadResult{}, fmt.Errorf("cannot connect to %s over %s: %w", c.addr, c.proto, unwrapOpError(err))
		}
		if uc, ok := cn.(*net.UDPConn); ok {
			_ = uc.SetWriteBuffer(4 << 20)
		}
		conns = append(conns, cn)
	}
	var seq atomic.Uint64
	var wg sync.WaitGroup
	results := make([]loadResult, c.conns)
	start := time.Now()
	var deadline time.Time
	if c.duration > 0 {
		deadline = start.Add(c.duration)
	}
	for i, cn := range conns {
		quota := int64(-1)
		if c.count > 0 {
			quota = c.count / int64(c.conns)
			if int64(i) < c.count%int64(c.conns) {
				quota++
			}
		}
		w := &loadWorker{conn: cn, datagram: c.proto == "udp", tmpl: tmpl, seqAt: seqAt, unique: c.unique,
			seq: &seq, quota: quota, rate: c.rate / float64(c.conns), deadline: deadline}
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i] = w.run(ctx)
		}()
	}
	wg.Wait()
	total := loadResult{elapsed: time.Since(start)}
	for _, r := range results {
		total.sent += r.sent
		total.bytes += r.bytes
		total.errors += r.errors
		if total.firstErr == nil {
			total.firstErr = r.firstErr
		}
	}
	return total, nil
}

// unwrapOpError drops the "dial tcp ADDR:" and "write:" prefixes the
// caller already gives.
func unwrapOpError(err error) error {
	var oe *net.OpError
	if errors.As(err, &oe) && oe.Err != nil {
		err = oe.Err
	}
	var se *os.SyscallError
	if errors.As(err, &se) && se.Err != nil {
		err = se.Err
	}
	return err
}

// loadWorker sends over one connection.
type loadWorker struct {
	conn     net.Conn
	datagram bool
	tmpl     []byte
	seqAt    int
	unique   bool
	seq      *atomic.Uint64
	quota    int64 // messages to send; -1 no limit
	rate     float64
	deadline time.Time
}

// maxBatchBytes bounds one stream write of several messages.
const maxBatchBytes = 256 << 10

func (w *loadWorker) run(ctx context.Context) loadResult {
	var res loadResult
	size := len(w.tmpl)
	batchMax := 1
	if !w.datagram {
		batchMax = max(1, min(1024, maxBatchBytes/size))
	}
	buf := bytes.Repeat(w.tmpl, batchMax)
	start := time.Now()
	for iter := 0; ; iter++ {
		// The quota counts attempts, so that a datagram socket whose
		// writes keep failing still ends.
		done := res.sent + res.errors
		if w.quota >= 0 && done >= w.quota {
			break
		}
		k := int64(batchMax)
		if w.quota >= 0 {
			k = min(k, w.quota-done)
		}
		if w.rate > 0 || !w.deadline.IsZero() || iter%64 == 0 {
			now := time.Now()
			if !w.deadline.IsZero() && !now.Before(w.deadline) || ctx.Err() != nil {
				break
			}
			if w.rate > 0 {
				allowed := int64(w.rate*now.Sub(start).Seconds()) + 1 - done
				if allowed <= 0 {
					time.Sleep(pacingTick)
					continue
				}
				k = min(k, allowed)
			}
		}
		if w.unique {
			first := w.seq.Add(uint64(k)) - uint64(k) + 1
			for i := int64(0); i < k; i++ {
				putSeq(buf[int(i)*size+w.seqAt:], first+uint64(i))
			}
		}
		if w.datagram {
			for i := int64(0); i < k; i++ {
				if _, err := w.conn.Write(buf[int(i)*size : int(i+1)*size]); err != nil {
					res.errors++
					if res.firstErr == nil {
						res.firstErr = fmt.Errorf("writing to %s: %w", w.conn.RemoteAddr(), unwrapOpError(err))
					}
					continue
				}
				res.sent++
				res.bytes += int64(size)
			}
			continue
		}
		n, err := w.conn.Write(buf[:int(k)*size])
		res.sent += int64(n / size)
		res.bytes += int64(n)
		if err != nil {
			res.errors++
			res.firstErr = fmt.Errorf("writing to %s: %w", w.conn.RemoteAddr(), unwrapOpError(err))
			break
		}
	}
	if cw, ok := w.conn.(interface{ CloseWrite() error }); ok && !w.datagram {
		_ = cw.CloseWrite()
	}
	return res
}
