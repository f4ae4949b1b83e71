package test

import (
	"strconv"
	"sync"
	"testing"
)

// `metlog bench` drives metlogd over TCP, framed and as plain lines, with
// numbered messages; `metlog bench -count-file` then finds every one of
// them, once, in the files metlogd wrote.
func TestBenchThroughMetlogd(t *testing.T) {
	t.Parallel()
	const n = 20000
	d := startDaemon(t, globals()+`
[framed]
type = "tcp_input"
address = "127.0.0.1:0"
format = "heka"

[lines]
type = "tcp_input"
address = "127.0.0.1:0"
format = "plain"

[frames_out]
type = "file_output"
message_matcher = "Type == 'bench'"
path = "@DIR@/data/framed.jsonl"
when_full = "block"

[lines_out]
type = "file_output"
message_matcher = "Type == 'plain'"
path = "@DIR@/data/lines.jsonl"
when_full = "block"
`)
	runs := []struct {
		name, input, output, file string
		args                      []string
	}{
		{"framed", "framed", "frames_out", "framed.jsonl", []string{"-conns", "2"}},
		{"plain", "lines", "lines_out", "lines.jsonl", []string{"-format", "plain", "-size", "200"}},
	}
	var wg sync.WaitGroup
	results := make([]map[string]string, len(runs))
	for i, r := range runs {
		args := append([]string{"bench", "-addr", d.addr(r.input), "-n", strconv.Itoa(n), "-unique"}, r.args...)
		wg.Add(1)
		go func() {
			defer wg.Done()
			code, out, errOut := runMetlog(t, t.TempDir(), nil, args...)
			if code != 0 {
				t.Errorf("metlog %q: exit %d\n%s%s", args, code, out, errOut)
			}
			results[i] = kv(out)
		}()
	}
	wg.Wait()
	for i, r := range runs {
		if res := results[i]; res["sent"] != strconv.Itoa(n) || res["errors"] != "0" {
			t.Fatalf("%s: bench %v", r.name, res)
		}
		d.waitPlugin(r.output, "every message written", func(p pipelineStatus) bool { return p.Out >= n })
		out := mustMetlog(t, "bench", "-count-file", d.path("data", r.file), "-expect", strconv.Itoa(n))
		res := kv(out)
		for k, want := range map[string]string{"received": strconv.Itoa(n), "unique": strconv.Itoa(n),
			"lost": "0", "duplicates": "0", "noseq": "0", "garbage_bytes": "0", "max_seq": strconv.Itoa(n)} {
			if res[k] != want {
				t.Errorf("%s: count-file %s=%s, want %s (%s)", r.name, k, res[k], want, out)
			}
		}
		p := d.plugin(r.input)
		if p.In != n || p.DecodeErrors != 0 || len(p.Dropped) != 0 {
			t.Errorf("%s: [%s] %+v", r.name, r.input, p)
		}
		if o := d.plugin(r.output); o.Out != n || len(o.Dropped) != 0 {
			t.Errorf("%s: [%s] %+v", r.name, r.output, o)
		}
	}
	// A plain line keeps its text whole as the payload.
	m := readMessages(t, d.path("data", "lines.jsonl"))[0]
	if len(m.Payload) != 199 || m.Type != "plain" || m.Severity != 6 {
		t.Errorf("a bench line arrived as %s", canonical(m))
	}
}
