package codecs

import (
	"bytes"
	"testing"

	"github.com/metlog/metlog/message"
	"github.com/metlog/metlog/pipeline"
)

func TestEncodersRoundTrip(t *testing.T) {
	m := &message.Message{UUID: message.NewUUID(), Timestamp: 1795566216725984879, Type: "counter", Logger: "app",
		Severity: 6, Payload: "1", EnvVersion: "0.8", Pid: 9, Hostname: "vm"}
	m.AddDouble("rate", 1)
	m.AddString("name", "req.count")
	for _, tc := range []struct {
		encoder, decoder string
	}{{"json", "json"}, {"metlog", "metlog"}, {"json", "auto_json"}, {"metlog", "auto_json"}} {
		enc, _ := pipeline.NewEncoder(tc.encoder)
		dec, _ := pipeline.NewDecoder(tc.decoder)
		b, err := enc.Append(nil, m)
		if err != nil || b[len(b)-1] != '\n' {
			t.Fatalf("%s: %q, %v", tc.encoder, b, err)
		}
		var got message.Message
		if err := dec.Decode(b[:len(b)-1], &got); err != nil {
			t.Fatalf("%s → %s: %v", tc.encoder, tc.decoder, err)
		}
		if got.Type != "counter" || got.Payload != "1" || got.Pid != 9 || got.Hostname != "vm" {
			t.Fatalf("%s → %s: %+v", tc.encoder, tc.decoder, got)
		}
	}
	enc, _ := pipeline.NewEncoder("protobuf")
	b, _ := enc.Append(nil, m)
	if !bytes.Equal(b, message.AppendFrame(nil, m, nil)) {
		t.Fatal("the protobuf encoder does not write a Heka frame")
	}
	enc, _ = pipeline.NewEncoder("payload")
	for payload, want := range map[string]string{"x": "x\n", "y\n": "y\n", "": "\n"} {
		if b, _ := enc.Append(nil, &message.Message{Payload: payload}); string(b) != want {
			t.Errorf("payload %q encoded as %q", payload, b)
		}
	}
}

func TestIsMetlogJSON(t *testing.T) {
	for in, want := range map[string]bool{
		`{"metlog_pid": 1}`:                        true,
		`{"a":1,"metlog_hostname" :"vm"}`:          true,
		`{"payload": "the key \"metlog_pid\": 3"}`: false,
		`{"payload": "metlog_pid"}`:                false,
		`{"uuid":"x","pid":1}`:                     false,
	} {
		if got := IsMetlogJSON([]byte(in)); got != want {
			t.Errorf("IsMetlogJSON(%s) = %v", in, got)
		}
	}
}

func TestPlainDecoder(t *testing.T) {
	var m message.Message
	m.Logger = "stale"
	if err := (PlainDecoder{}).Decode([]byte("a line\r\n"), &m); err != nil {
		t.Fatal(err)
	}
	if m.Payload != "a line" || m.Type != "plain" || m.Severity != message.Info || m.Logger != "" {
		t.Fatalf("%+v", m)
	}
}
