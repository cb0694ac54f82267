# cdnpurge. `make run` serves on embedded defaults; `make test` is what CI runs.
GO        ?= go
BIN       ?= bin/cdnpurge
VERSION   ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS   := -s -w -X main.version=$(VERSION)
PKGS      := ./...
CONFIG    ?= deploy/cdnpurge.example.yaml

.PHONY: all build run test test-gotest test-short bench fuzz lint fmt vet e2e soak docker clean

all: lint test build

build:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN) ./cmd/cdnpurge

# Serve with an embedded NATS (not on 4222), in-memory quota and the CDN API
# emulator, which the run target asks for explicitly. The generic hook takes
# the demo token below (see the README's quick start).
DEMO_TOKEN ?= demo-token-change-me
run: build
	CDNPURGE_WEBHOOKS_GENERIC_TOKEN=$(DEMO_TOKEN) $(BIN) serve --emulator --log-format text

# Every package's tests with the race detector, each test binary kept in
# bin/test-race between runs (.ci/gotest says why), TESTJOBS packages at
# once, each on one P (.ci/gotest says why): on 2 cores 4 was fastest
# (warm, 54 s against 64 s with 3; with a P per CPU, 3 were fastest at
# 72 s). `make test-gotest` is the same through go test alone.
TESTBIN  ?= bin/test-race
TESTJOBS ?= 4
test:
	GO=$(GO) .ci/gotest $(TESTBIN) $(TESTJOBS) 30m -race -- $(PKGS)

test-gotest:
	$(GO) test -race -count=1 -shuffle=on -timeout 30m $(PKGS)

test-short:
	$(GO) test -short -count=1 $(PKGS)

bench:
	$(GO) test -run '^$$' -bench . -benchmem -benchtime 2s $(PKGS)

# Each fuzz target for a short while; the seed corpus runs in `make test`.
FUZZTIME ?= 20s
fuzz:
	@for pkg in $$($(GO) list $(PKGS)); do \
	  for f in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz'); do \
	    echo "== $$pkg $$f"; $(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) $$pkg || exit 1; \
	  done; \
	done

lint: fmt vet

fmt:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

vet:
	$(GO) vet $(PKGS)

e2e: build
	$(GO) test -count=1 -v -run 'TestE2E' -timeout 30m ./e2e/ -args -e2e.size=full

soak: build
	$(GO) test -count=1 -v -run 'TestE2E' -timeout 60m ./e2e/ -args -e2e.size=soak

docker:
	docker build --build-arg VERSION=$(VERSION) -t cdnpurge:$(VERSION) .

clean:
	rm -rf bin
