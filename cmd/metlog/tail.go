package main

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/metlog/metlog/matcher"
	"github.com/metlog/metlog/message"
)

const tailSynopsis = `
Usage:
  metlog tail [flags] [URL]

Prints the messages a running metlogd routes, live, from its tap
(GET URL/tap?match=EXPR&limit=N). URL is metlogd's HTTP listener
([metlogd] http_listen), default http://127.0.0.1:4352; host:port is enough.

Each message is printed on one line: time (UTC), severity, type, logger,
payload (line breaks escaped) and {fields}; with -json, as the canonical
JSON line the router sends. The expression is checked before connecting.
A reader slower than the router misses messages rather than slow it down.
`

type tailOptions struct {
	match string
	json  bool
	n     int
	retry bool
	color string
}

func tailFlags() (*flag.FlagSet, *tailOptions) {
	o := &tailOptions{}
	fs := flag.NewFlagSet("tail", flag.ContinueOnError)
	fs.StringVar(&o.match, "match", "TRUE", "message matcher expression selecting the messages")
	fs.BoolVar(&o.json, "json", false, "print canonical JSON lines instead of one readable line per message")
	fs.IntVar(&o.n, "n", 0, "stop after N messages (0: until interrupted)")
	fs.BoolVar(&o.retry, "retry", false, "keep reconnecting when the router is down or the stream ends")
	fs.StringVar(&o.color, "color", "auto", "colour the severity: auto (when stdout is a terminal and NO_COLOR is unset), always or never")
	return fs, o
}

// tailMaxLine bounds one line of the tap stream: the largest message a
// router accepts (64 MiB) in canonical JSON, with room for escaping.
const tailMaxLine = 256 << 20

func runTail(e *env, args []string) int {
	fs, o := tailFlags()
	c := &cmdIO{e: e, name: "tail", fs: fs, synopsis: tailSynopsis}
	pos, code, ok := c.parse(args)
	if !ok {
		return code
	}
	if len(pos) > 1 {
		return c.usagef("tail takes one router URL, not %d", len(pos))
	}
	if o.n < 0 {
		return c.usagef("-n must not be negative")
	}
	if _, err := matcher.Compile(o.match); err != nil {
		return matcherUsageError(c, "-match", err)
	}
	color := false
	switch o.color {
	case "auto":
		color = e.tty && e.getenv("NO_COLOR") == ""
	case "always":
		color = true
	case "never":
	default:
		return c.usagef("-color %q is not auto, always or never", o.color)
	}
	raw := "http://127.0.0.1:4352"
	if len(pos) == 1 {
		raw = pos[0]
	}
	tapURL, err := tapURL(raw, o.match, o.n)
	if err != nil {
		return c.usagef("%v", err)
	}

	t := &tailer{e: e, c: c, url: tapURL, json: o.json, color: color, remaining: o.n, limited: o.n > 0}
	wait := 250 * time.Millisecond
	for {
		got, err := t.stream()
		if t.done() || e.ctx.Err() != nil {
			return exitOK
		}
		if err == nil {
			err = errors.New("the router ended the stream")
		}
		var hs httpStatusError
		if !o.retry || errors.As(err, &hs) && hs.code == http.StatusBadRequest {
			return c.failf("%v", err)
		}
		if got {
			wait = 250 * time.Millisecond
		}
		fmt.Fprintf(e.stderr, "metlog tail: %v; reconnecting in %v\n", err, wait)
		select {
		case <-time.After(wait):
		case <-e.ctx.Done():
			return exitOK
		}
		wait = min(2*wait, 5*time.Second)
	}
}

// matcherUsageError reports a matcher that does not compile, with a caret
// under the column at fault.
func matcherUsageError(c *cmdIO, what string, err error) int {
	var se *matcher.SyntaxError
	if errors.As(err, &se) {
		caret := strings.ReplaceAll(se.Caret(), "\n", "\n  ")
		fmt.Fprintf(c.e.stderr, "metlog %s: %s: column %d: %s\n  %s\n", c.name, what, se.Column, se.Msg, caret)
		return exitUsage
	}
	return c.usagef("%s: %v", what, err)
}

// tapURL builds the tap request URL from a router address.
func tapURL(raw, match string, limit int) (string, error) {
	if !strings.Contains(raw, "://") {
		raw = "http://" + raw
	}
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
		return "", fmt.Errorf("%q is not a router URL such as http://127.0.0.1:4352", raw)
	}
	u.Path = strings.TrimSuffix(u.Path, "/") + "/tap"
	q := url.Values{}
	q.Set("match", match)
	if limit > 0 {
		q.Set("limit", strconv.Itoa(limit))
	}
	u.RawQuery = q.Encode()
	return u.String(), nil
}

// httpStatusError is a tap request the router refused.
type httpStatusError struct {
	code int
	msg  string
}

func (e httpStatusError) Error() string {
	return fmt.Sprintf("the router answered %d %s: %s", e.code, http.StatusText(e.code), e.msg)
}

// tailer prints the tap stream.
type tailer struct {
	e         *env
	c         *cmdIO
	url       string
	json      bool
	color     bool
	remaining int // messages still wanted; 0 when there is no limit
	limited   bool
	buf       []byte
	m         message.Message
}

func (t *tailer) done() bool { return t.limited && t.remaining == 0 }

// stream reads one tap connection until it ends, the limit is reached or
// the context is cancelled. got reports that messages arrived.
func (t *tailer) stream() (got bool, err error) {
	u := t.url
	if t.limited { // after a reconnection, ask only for what is left
		pu, _ := url.Parse(u)
		q := pu.Query()
		q.Set("limit", strconv.Itoa(t.remaining))
		pu.RawQuery = q.Encode()
		u = pu.String()
	}
	req, err := http.NewRequestWithContext(t.e.ctx, http.MethodGet, u, nil)
	if err != nil {
		return false, err
	}
	req.Header.Set("Accept", "application/x-ndjson")
	hc := &http.Client{Transport: &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           (&net.Dialer{Timeout: 5 * time.Second}).DialContext,
		ResponseHeaderTimeout: 10 * time.Second,
	}}
	defer hc.CloseIdleConnections()
	resp, err := hc.Do(req)
	if err != nil {
		if t.e.ctx.Err() != nil {
			return false, nil
		}
		return false, fmt.Errorf("cannot reach the router: %w", plainURLError(err))
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<10))
		return false, httpStatusError{resp.StatusCode, strings.TrimSpace(string(b))}
	}
	lr := newLineReader(bufio.NewReaderSize(resp.Body, 64<<10), tailMaxLine)
	for !t.done() {
		line, _, _, long, ok := lr.next()
		if !ok {
			if lr.err != nil && t.e.ctx.Err() == nil {
				return got, fmt.Errorf("the stream broke: %w", lr.err)
			}
			return got, nil
		}
		if long || len(line) == 0 {
			continue
		}
		got = true
		if t.json {
			t.buf = append(append(t.buf[:0], line...), '\n')
		} else if err := message.DecodeJSON(line, &t.m); err != nil {
			fmt.Fprintf(t.e.stderr, "metlog tail: a line of the stream does not decode: %v\n", err)
			continue
		} else {
			t.buf = append(appendPretty(t.buf[:0], &t.m, t.color), '\n')
		}
		if _, err := t.e.stdout.Write(t.buf); err != nil {
			return got, fmt.Errorf("cannot write the output: %w", err)
		}
		if t.limited {
			t.remaining--
		}
	}
	return got, nil
}

// plainURLError drops the method and URL that net/http puts before the
// cause of a failed request.
func plainURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return fmt.Errorf("%s: %w", ue.URL, ue.Err)
	}
	return err
}
