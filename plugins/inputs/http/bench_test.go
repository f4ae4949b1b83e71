package httpin_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"testing"

	"github.com/metlog/metlog/message"
	"github.com/metlog/metlog/pipeline"
	"github.com/metlog/metlog/pipeline/pipelinetest"
)

func init() {
	pipeline.Register(pipeline.Plugin{
		Type:    "httpin_test_discard_output",
		Kind:    pipeline.KindOutput,
		New:     func() any { return discard{} },
		Summary: "forgets what it is given (benchmarks of http_input)",
	})
}

// discard is an output that keeps nothing, so that benchmarks measure the
// input and the router, not a growing capture.
type discard struct{}

func (discard) Deliver(context.Context, []*message.Message) error { return nil }

// benchBody is 100 metlog-py envelopes, one per line.
func benchBody(b *testing.B) []byte {
	lines, _ := metlogLines(b)
	var body []byte
	for i := range 100 {
		body = append(append(body, lines[i%len(lines)]...), '\n')
	}
	return body
}

func benchPipeline(b *testing.B) string {
	p := pipelinetest.Run(b, `
[in]
type = "http_input"
listen = "127.0.0.1:0"

[out]
type = "httpin_test_discard_output"
message_matcher = "TRUE"
when_full = "block"
`)
	return "http://" + input(b, p, "in").Addr() + "/v1/messages"
}

func post(b *testing.B, c *http.Client, url, encoding string, body []byte) {
	hr, _ := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	hr.Header.Set("Content-Type", "application/x-ndjson")
	if encoding != "" {
		hr.Header.Set("Content-Encoding", encoding)
	}
	resp, err := c.Do(hr)
	if err != nil {
		b.Error(err)
		return
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		b.Errorf("status %d", resp.StatusCode)
	}
}

// BenchmarkNDJSON posts bodies of 100 metlog JSON lines over loopback
// HTTP, one request at a time and from parallel clients, plain and gzip.
func BenchmarkNDJSON(b *testing.B) {
	body := benchBody(b)
	for _, bc := range []struct {
		name     string
		encoding string
		body     []byte
		parallel bool
	}{
		{"serial", "", body, false},
		{"serial-gzip", "gzip", gz(body), false},
		{"parallel", "", body, true},
		{"parallel-gzip", "gzip", gz(body), true},
	} {
		b.Run(bc.name, func(b *testing.B) {
			url := benchPipeline(b)
			c := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
			b.Cleanup(c.CloseIdleConnections)
			b.SetBytes(int64(len(body)))
			b.ReportAllocs()
			b.ResetTimer()
			if bc.parallel {
				b.RunParallel(func(pb *testing.PB) {
					for pb.Next() {
						post(b, c, url, bc.encoding, bc.body)
					}
				})
			} else {
				for b.Loop() {
					post(b, c, url, bc.encoding, bc.body)
				}
			}
			b.ReportMetric(float64(b.N*100)/b.Elapsed().Seconds(), "msgs/s")
		})
	}
}
