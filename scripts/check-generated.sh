#!/usr/bin/env bash
# Fails when checked-in generated code is not what `make generate` would
# write today. The protoc version line is ignored: it names the compiler
# that happened to run, not a difference in the code.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$(go env GOPATH)/bin:$PATH"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cp message/pb/message.proto "$tmp/"
(cd "$tmp" && protoc --go_out=. --go_opt=paths=source_relative message.proto)
strip() { grep -v '^// 	protoc  *v' "$1"; }
if ! diff <(strip message/pb/message.pb.go) <(strip "$tmp/message.pb.go") >"$tmp/diff"; then
  echo "message/pb/message.pb.go is out of date with message.proto; run 'make generate':" >&2
  cat "$tmp/diff" >&2
  exit 1
fi
echo "generated code is current"
