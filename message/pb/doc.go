// Package pb holds the protobuf schema of a metlog message (message.proto,
// wire-compatible with Heka's) and the code protoc-gen-go generates from it.
//
// The router and the client do not use these types on their hot paths: package
// message encodes and decodes the same bytes without reflection or
// allocation per field. These generated types are the reference that its
// tests compare against, and a convenience for programs that already speak
// google.golang.org/protobuf.
package pb

//go:generate protoc --go_out=. --go_opt=paths=source_relative message.proto
