#!/usr/bin/env bash
# Installs what metlog's build and tests need, idempotently: Debian packages
# with apt-get, Go tools with go install. Safe to run again and again; it
# only installs what is missing. `make test` runs it first.
#
#   scripts/deps.sh            everything the test command needs
#   scripts/deps.sh --check    report what is missing, install nothing
set -euo pipefail

cd "$(dirname "$0")/.."

# Pinned tool versions. protoc-gen-go must match google.golang.org/protobuf
# in go.mod, since the generated code names the version it came from.
STATICCHECK_VERSION=v0.8.2   # staticcheck 2026.2.2
PROTOC_GEN_GO_VERSION=$(go list -m -f '{{.Version}}' google.golang.org/protobuf)

# Debian packages: command -> package.
APT_PACKAGES=(
  "protoc:protobuf-compiler"
)

GOBIN=$(go env GOPATH)/bin
check_only=false
[[ "${1:-}" == "--check" ]] && check_only=true

say() { printf 'deps: %s\n' "$*"; }

missing_apt=()
for entry in "${APT_PACKAGES[@]}"; do
  cmd=${entry%%:*} pkg=${entry#*:}
  command -v "$cmd" >/dev/null 2>&1 || missing_apt+=("$pkg")
done

if ((${#missing_apt[@]})); then
  if $check_only; then
    say "missing Debian packages: ${missing_apt[*]}"
  else
    sudo=""
    if [[ $(id -u) -ne 0 ]]; then
      command -v sudo >/dev/null 2>&1 || { say "need root or sudo to install: ${missing_apt[*]}"; exit 1; }
      sudo="sudo"
    fi
    say "installing ${missing_apt[*]}"
    # Installing a package must not start system services (a syslog or
    # carbon daemon) on a developer's or CI machine: tests start their own
    # instances. A policy-rc.d that exits 101 forbids it for this run.
    policy=/usr/sbin/policy-rc.d
    if [[ ! -e $policy ]]; then
      printf '#!/bin/sh\nexit 101\n' | $sudo tee "$policy" >/dev/null
      $sudo chmod +x "$policy"
      trap '$sudo rm -f "$policy"' EXIT
    fi
    export DEBIAN_FRONTEND=noninteractive
    $sudo apt-get update -qq >/dev/null || say "apt-get update failed; trying the install anyway"
    $sudo apt-get install -y -qq --no-install-recommends "${missing_apt[@]}" >/dev/null
  fi
fi

go_tool() { # name module@version version-flag wanted-version-text
  local name=$1 mod=$2 flag=$3 want=$4
  if [[ -x "$GOBIN/$name" ]] && "$GOBIN/$name" "$flag" 2>&1 | grep -qF -- "$want"; then
    return
  fi
  if $check_only; then say "missing Go tool: $mod"; return; fi
  say "installing $mod"
  GOFLAGS= go install "$mod"
}
go_tool staticcheck "honnef.co/go/tools/cmd/staticcheck@$STATICCHECK_VERSION" -version "(${STATICCHECK_VERSION#v})"
go_tool protoc-gen-go "google.golang.org/protobuf/cmd/protoc-gen-go@$PROTOC_GEN_GO_VERSION" --version "$PROTOC_GEN_GO_VERSION"

# Go modules of the project and of the benchmarks module.
go mod download
(cd bench && go mod download)
$check_only || say "ok"
