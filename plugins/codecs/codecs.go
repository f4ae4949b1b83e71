// Package codecs registers metlog's built-in encoders and decoders: thin
// adapters over package message, gathered in one package because each is a
// few lines.
//
// Encoders (an output's `encoder = "..."`):
//
//	json      canonical JSON, one object per line (lossless)
//	metlog    metlog-py's JSON envelope, one per line
//	protobuf  Heka stream framing (0x1E header 0x1F message)
//	payload   the payload alone, one per line
//
// Decoders (an input's format):
//
//	protobuf  a protobuf message (what follows a Heka frame header)
//	metlog    metlog-py's JSON envelope
//	json      canonical JSON
//	auto_json metlog JSON when the object has metlog_pid or metlog_hostname
//	          keys, canonical JSON otherwise
//	plain     the bytes as the payload of a message of type "plain"
package codecs

import (
	"bytes"

	"github.com/metlog/metlog/message"
	"github.com/metlog/metlog/pipeline"
)

func init() {
	pipeline.RegisterEncoder("json", func() pipeline.Encoder { return jsonEncoder{} })
	pipeline.RegisterEncoder("metlog", func() pipeline.Encoder { return metlogEncoder{} })
	pipeline.RegisterEncoder("protobuf", func() pipeline.Encoder { return protobufEncoder{} })
	pipeline.RegisterEncoder("payload", func() pipeline.Encoder { return payloadEncoder{} })

	pipeline.RegisterDecoder("protobuf", func() pipeline.Decoder { return ProtobufDecoder{} })
	pipeline.RegisterDecoder("metlog", func() pipeline.Decoder { return MetlogDecoder{} })
	pipeline.RegisterDecoder("json", func() pipeline.Decoder { return JSONDecoder{} })
	pipeline.RegisterDecoder("auto_json", func() pipeline.Decoder { return AutoJSONDecoder{} })
	pipeline.RegisterDecoder("plain", func() pipeline.Decoder { return PlainDecoder{} })
}

var (
	_ pipeline.Encoder = jsonEncoder{}
	_ pipeline.Encoder = metlogEncoder{}
	_ pipeline.Encoder = protobufEncoder{}
	_ pipeline.Encoder = payloadEncoder{}
	_ pipeline.Decoder = ProtobufDecoder{}
	_ pipeline.Decoder = MetlogDecoder{}
	_ pipeline.Decoder = JSONDecoder{}
	_ pipeline.Decoder = AutoJSONDecoder{}
	_ pipeline.Decoder = PlainDecoder{}
)

type jsonEncoder struct{}

func (jsonEncoder) Append(dst []byte, m *message.Message) ([]byte, error) {
	return append(message.AppendJSON(dst, m), '\n'), nil
}

type metlogEncoder struct{}

func (metlogEncoder) Append(dst []byte, m *message.Message) ([]byte, error) {
	return append(message.AppendMetlogJSON(dst, m), '\n'), nil
}

type protobufEncoder struct{}

func (protobufEncoder) Append(dst []byte, m *message.Message) ([]byte, error) {
	return message.AppendFrame(dst, m, nil), nil
}

type payloadEncoder struct{}

// Append writes the payload and a newline, unless it ends with one.
func (payloadEncoder) Append(dst []byte, m *message.Message) ([]byte, error) {
	dst = append(dst, m.Payload...)
	if len(m.Payload) == 0 || m.Payload[len(m.Payload)-1] != '\n' {
		dst = append(dst, '\n')
	}
	return dst, nil
}

// ProtobufDecoder decodes a protobuf message.
type ProtobufDecoder struct{}

// Decode implements pipeline.Decoder.
func (ProtobufDecoder) Decode(b []byte, m *message.Message) error { return m.Unmarshal(b) }

// MetlogDecoder decodes metlog-py's JSON envelope.
type MetlogDecoder struct{}

// Decode implements pipeline.Decoder.
func (MetlogDecoder) Decode(b []byte, m *message.Message) error {
	return message.DecodeMetlogJSON(b, m)
}

// JSONDecoder decodes canonical JSON.
type JSONDecoder struct{}

// Decode implements pipeline.Decoder.
func (JSONDecoder) Decode(b []byte, m *message.Message) error { return message.DecodeJSON(b, m) }

// AutoJSONDecoder decodes metlog JSON or canonical JSON, telling them apart
// by the metlog_pid and metlog_hostname keys only metlog-py writes.
type AutoJSONDecoder struct{}

// Decode implements pipeline.Decoder.
func (AutoJSONDecoder) Decode(b []byte, m *message.Message) error {
	if IsMetlogJSON(b) {
		return message.DecodeMetlogJSON(b, m)
	}
	return message.DecodeJSON(b, m)
}

// IsMetlogJSON reports whether the JSON object in b has a "metlog_pid" or
// "metlog_hostname" key, as every envelope metlog-py sends does. It looks
// for the key followed by a colon, so the words inside a string value (where
// their quotes would be escaped) do not count.
func IsMetlogJSON(b []byte) bool {
	for _, key := range [][]byte{[]byte(`"metlog_pid"`), []byte(`"metlog_hostname"`)} {
		rest := b
		for {
			i := bytes.Index(rest, key)
			if i < 0 {
				break
			}
			after := bytes.TrimLeft(rest[i+len(key):], " \t\r\n")
			if (i == 0 || rest[i-1] != '\\') && len(after) > 0 && after[0] == ':' {
				return true
			}
			rest = rest[i+len(key):]
		}
	}
	return false
}

// PlainDecoder makes a message of type "plain" at severity info whose
// payload is the bytes, less a trailing newline (and carriage return).
type PlainDecoder struct{}

// Decode implements pipeline.Decoder.
func (PlainDecoder) Decode(b []byte, m *message.Message) error {
	m.Reset()
	b = bytes.TrimSuffix(b, []byte{'\n'})
	b = bytes.TrimSuffix(b, []byte{'\r'})
	m.Type = "plain"
	m.Severity = message.Info
	m.Payload = string(b)
	return nil
}
