# zsm — see README.md.

GO      ?= go
BIN     := bin
STATICCHECK ?= $(shell command -v staticcheck 2>/dev/null || echo $(shell $(GO) env GOPATH)/bin/staticcheck)

.PHONY: all build demo deb deps test check lint unit fuzz bench faults clean

all: build

# zsm and zsm-exec are built static (no cgo): a cold start runs the broker
# (zsm), then the exec shim (zsm-exec) of each worker, and a static binary
# starts about 1 ms sooner here (BENCHMARKS.md). -buildvcs=auto records the
# commit of a clone's build for --version (internal/version), whatever
# GOFLAGS says.
build:
	CGO_ENABLED=0 $(GO) build -buildvcs=auto -o $(BIN)/ ./cmd/zsm ./cmd/zsm-exec ./contrib/workers/hello
	$(GO) build -buildvcs=auto -o $(BIN)/ ./cmd/zsmgen

# The bundled example: contrib/examples/hello.hcl, through systemd's user
# manager when one runs, else with the broker binding its own sockets.
demo: build
	contrib/demo.sh

# The Debian package, built with dpkg-deb into $(DEBDIR)/zsm_VERSION_ARCH.deb:
# the binaries, man pages, completions, docs and examples
# (contrib/deb/build says where each goes). .ci/deb-smoke installs, uses
# and removes it.
DEBDIR ?= $(BIN)
deb:
	contrib/deb/build $(DEBDIR)

# What the tests need from Debian (chromium, shellcheck, systemd, dbus, ...):
# installed with apt-get when missing and root; otherwise one line says what
# is missing, and the tests that need it skip or fail.
deps:
	.ci/deps

# Every test: formatting, vet, staticcheck, then the whole suite with the
# race detector. As root, the integration tests in test/ run inside a private
# systemd user manager (test/with-systemd); elsewhere they skip and say why.
test: deps lint
	$(GO) test -race -count=1 ./...

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	  if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	@if [ ! -x "$(STATICCHECK)" ]; then \
	  echo "installing staticcheck (honnef.co/go/tools) into $$($(GO) env GOPATH)/bin"; \
	  $(GO) install honnef.co/go/tools/cmd/staticcheck@v0.8.2; fi
	$(STATICCHECK) ./...

# The fault suite (TestFaults in test/faults_test.go): each fault under
# honest load through a real systemd user manager (as root: the harness
# needs its own namespaces), and RELIABILITY.md rewritten with the numbers
# of the run, whether every case passes or not. make test runs the same
# suite without writing the file.
faults:
	ZSM_RELIABILITY=$(CURDIR)/RELIABILITY.md $(GO) test -count=1 -run '^TestFaults$$' ./test/

# Unit tests only, fast.
unit:
	$(GO) test -count=1 $$($(GO) list ./... | grep -v /test)

# A few minutes of each fuzz target.
FUZZTIME ?= 2m
fuzz:
	$(GO) test ./internal/config/hclconfig -run '^$$' -fuzz '^FuzzParse$$' -fuzztime $(FUZZTIME)
	$(GO) test ./internal/config/hclconfig -run '^$$' -fuzz '^FuzzParseCost$$' -fuzztime $(FUZZTIME)
	$(GO) test ./internal/config/hclconfig -run '^$$' -fuzz '^FuzzScan$$' -fuzztime $(FUZZTIME)
	$(GO) test ./internal/config/hclconfig -run '^$$' -fuzz '^FuzzFormat$$' -fuzztime $(FUZZTIME)
	$(GO) test ./activation -run '^$$' -fuzz FuzzParse -fuzztime $(FUZZTIME)
	$(GO) test ./activation -run '^$$' -fuzz FuzzListenFDs -fuzztime $(FUZZTIME)
	$(GO) test ./units -run '^$$' -fuzz . -fuzztime $(FUZZTIME)

# zsm against direct, haproxy and systemd-socket-proxyd (bench/doc.go):
# tables on stdout, BENCHMARKS.md and bench/results.json. Installs nothing;
# names the Debian packages it misses. BENCHFLAGS=-quick for a short run.
bench:
	$(GO) run ./bench $(BENCHFLAGS)

clean:
	rm -rf $(BIN)
