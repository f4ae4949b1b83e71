# metlog: the Metlog system of application logging and metrics.
# `make test` is the whole test command CI runs (see .ci/run).

GO       ?= go
GOBIN    := $(shell $(GO) env GOPATH)/bin
FUZZTIME ?= 20s
BENCH    ?= .

.PHONY: all build run test test-short bench lint fmt fuzz generate check-generated deps

all: build

## build: compile metlogd and the examples into bin/
build:
	$(GO) build -o bin/ ./cmd/... ./examples/...

## run: start the router on its embedded default configuration
run:
	$(GO) run ./cmd/metlogd

## deps: install what the tests need (apt packages, Go tools), idempotently
deps:
	scripts/deps.sh

## test: everything CI checks: deps, lint, generated code, all tests with -race
test: deps lint check-generated
	$(GO) test -race -count=1 ./...
	cd bench && $(GO) test -count=1 -run '^$$' -bench . -benchtime 1x ./...

## test-short: the fast unit tests
test-short:
	$(GO) test -short ./...

## bench: benchmarks with allocation counts, ours and the comparison module's
bench:
	$(GO) test -run '^$$' -bench '$(BENCH)' -benchmem ./...
	cd bench && $(GO) test -run '^$$' -bench '$(BENCH)' -benchmem ./...

## lint: gofmt, go vet and staticcheck
lint:
	@unformatted=$$(gofmt -l $$(git ls-files '*.go' | grep -v '\.pb\.go$$')); \
	if [ -n "$$unformatted" ]; then echo "gofmt would change:"; echo "$$unformatted"; exit 1; fi
	$(GO) vet ./...
	cd bench && $(GO) vet ./...
	$(GOBIN)/staticcheck ./...

## fmt: format the code
fmt:
	gofmt -w $$(git ls-files '*.go' | grep -v '\.pb\.go$$')

## fuzz: run every fuzz target for FUZZTIME each
fuzz:
	@set -e; for pkg in $$($(GO) list ./...); do \
	  for target in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz'); do \
	    echo "== $$pkg $$target"; \
	    $(GO) test -run '^$$' -fuzz "^$$target$$" -fuzztime $(FUZZTIME) $$pkg; \
	  done; \
	done

## generate: regenerate the protobuf code
generate:
	PATH="$(GOBIN):$$PATH" $(GO) generate ./...

## check-generated: fail when generated code is out of date
check-generated:
	scripts/check-generated.sh
