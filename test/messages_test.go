package test

import (
	"bytes"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/metlog/metlog/message"
)

// jsonLines returns the complete lines of a JSON-lines file (none when it
// does not exist yet).
func jsonLines(t testing.TB, path string) [][]byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	if i := bytes.LastIndexByte(b, '\n'); i >= 0 {
		b = b[:i]
	} else {
		return nil
	}
	return bytes.Split(b, []byte("\n"))
}

// readMessages decodes every line of a canonical JSON-lines file, as
// file_output's json encoder writes it. Each line must decode, and encode
// back to the same bytes (the format is canonical).
func readMessages(t testing.TB, path string) []*message.Message {
	t.Helper()
	var out []*message.Message
	for i, line := range jsonLines(t, path) {
		m := new(message.Message)
		if err := message.DecodeJSON(line, m); err != nil {
			t.Fatalf("%s:%d: %v\n%s", path, i+1, err, line)
		}
		if again := message.AppendJSON(nil, m); !bytes.Equal(again, line) {
			t.Fatalf("%s:%d is not canonical JSON:\n got %s\nwant %s", path, i+1, line, again)
		}
		out = append(out, m)
	}
	return out
}

// waitMessages waits until the files together hold at least n messages,
// and returns them (in file order, files in the order given).
func waitMessages(t testing.TB, n int, paths ...string) []*message.Message {
	t.Helper()
	var msgs []*message.Message
	waitFor(t, fmt.Sprintf("%d messages in %s", n, strings.Join(paths, ", ")), func() bool {
		msgs = msgs[:0]
		for _, p := range paths {
			msgs = append(msgs, readMessages(t, p)...)
		}
		return len(msgs) >= n
	}, func() string { return fmt.Sprintf("got %d:\n%s", len(msgs), show(msgs)) })
	return msgs
}

// waitPayload waits until a message with the payload is in the file, and
// returns it.
func waitPayload(t testing.TB, path, payload string) *message.Message {
	t.Helper()
	var found *message.Message
	var msgs []*message.Message
	waitFor(t, fmt.Sprintf("a message with payload %q in %s", payload, path), func() bool {
		msgs = readMessages(t, path)
		for _, m := range msgs {
			if m.Payload == payload {
				found = m
				return true
			}
		}
		return false
	}, func() string { return show(msgs) })
	return found
}

// canonical is a message's canonical JSON text: lossless (types, values,
// representations, order of fields of one name), so two messages with the
// same text are equal. It is the form the tests compare and print.
func canonical(m *message.Message) string { return string(message.AppendJSON(nil, m)) }

// show lists messages for a failure report, long ones abbreviated.
func show(msgs []*message.Message) string {
	var b strings.Builder
	for _, m := range msgs {
		b.WriteString(abbrev(canonical(m)))
		b.WriteByte('\n')
	}
	return b.String()
}

func abbrev(s string) string {
	if len(s) > 1000 {
		return fmt.Sprintf("%s...(%d bytes)...%s", s[:700], len(s)-900, s[len(s)-200:])
	}
	return s
}

// grouped returns a copy of m with fields of one name moved next to the
// first of them, as a JSON object holds them (canonical JSON, and so the
// file output, writes them that way).
func grouped(m *message.Message) *message.Message {
	c := m.Clone()
	c.Fields = c.Fields[:0]
	done := map[string]bool{}
	for i, f := range m.Fields {
		if done[f.Name] {
			continue
		}
		done[f.Name] = true
		for _, g := range m.Fields[i:] {
			if g.Name == f.Name {
				c.Fields = append(c.Fields, g)
			}
		}
	}
	return c.Clone()
}

// sameMessage compares a message read back with the one expected: header
// values and fields, with their types, exactly.
func sameMessage(want, got *message.Message) bool {
	return grouped(want).Equal(got) && canonical(want) == canonical(got)
}

// compareMessages fails the test unless got holds exactly the messages of
// want, in the same order.
func compareMessages(t testing.TB, what string, want, got []*message.Message) {
	t.Helper()
	if len(want) != len(got) {
		t.Errorf("%s: %d messages arrived, %d were sent\nsent:\n%s\narrived:\n%s", what, len(got), len(want), show(want), show(got))
		return
	}
	for i := range want {
		if !sameMessage(want[i], got[i]) {
			t.Errorf("%s: message %d differs\nsent:    %s\narrived: %s", what, i+1, abbrev(canonical(want[i])), abbrev(canonical(got[i])))
		}
	}
}

// recorder keeps a copy of every message a client sends, exactly as it
// encodes it (after the client filled in uuid, time, logger, host, pid):
// install record as the last of client.Config.Filters.
type recorder struct {
	mu   sync.Mutex
	msgs []*message.Message
}

func (r *recorder) record(m *message.Message) bool {
	// The client's strings may point into buffers it reuses (FilterFunc
	// must not keep them): copy through canonical JSON, which is lossless.
	c := new(message.Message)
	if err := message.DecodeJSON(message.AppendJSON(nil, m), c); err != nil {
		panic(err)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.msgs = append(r.msgs, c)
	return true
}

func (r *recorder) messages() []*message.Message {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]*message.Message(nil), r.msgs...)
}

// throughMetlogJSON is what a router reads of m sent as metlog JSON (the
// client's json encoder, metlog-py's envelope): the envelope has no uuid,
// keeps microseconds, and types fields as JSON does.
func throughMetlogJSON(t testing.TB, m *message.Message) *message.Message {
	t.Helper()
	out := new(message.Message)
	if err := message.DecodeMetlogJSON(message.AppendMetlogJSON(nil, m), out); err != nil {
		t.Fatalf("metlog JSON of %s: %v", canonical(m), err)
	}
	return out
}

// filterLogger returns the messages of one logger.
func filterLogger(msgs []*message.Message, logger string) []*message.Message {
	var out []*message.Message
	for _, m := range msgs {
		if m.Logger == logger {
			out = append(out, m)
		}
	}
	return out
}
