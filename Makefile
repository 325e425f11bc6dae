# gop11: a PKCS #11 proxy.
#
#   make demo    install what is needed, build, start a broker in front of a
#                new SoftHSM2 token and drive it with pkcs11-tool
#   make test    install what is needed, build, run every test
#   make bench   the benchmark campaign (tests/bench/README.md)

GO        ?= go
MINGW_CC  ?= x86_64-w64-mingw32-gcc
BUILD     := build
VERSION   := $(shell git describe --always --dirty 2>/dev/null || echo dev)
GOFILES   := $(shell find wire module broker cmd -name '*.go' 2>/dev/null) go.mod go.sum
MODFILES  := $(wildcard module/*.c module/*.h) module/exports.map $(wildcard include/*.h)
# Packages that must build and test without cgo.
PUREPKGS  := ./wire/... ./module/client/... ./broker ./broker/acl ./broker/audit ./broker/config ./broker/ha ./broker/metrics ./broker/p11uri ./broker/remote ./broker/shared
# An execution count, not a duration: with a duration, Go 1.26's fuzz
# coordinator can fail a target at the deadline with a bare "context
# deadline exceeded" and no input (go.dev/issue/75804, fixed in 1.27).
FUZZTIME  ?= 30000x

export GOFLAGS := -buildvcs=false

.PHONY: all build deps test unit race fuzz generate check-generate demo clean vet windows

all: build

build: $(BUILD)/libgop11.so $(BUILD)/gop11-broker $(BUILD)/gop11

# -z nodelete: a Go runtime cannot be unloaded (golang/go#11100), so the
# library stays mapped after dlclose. The version script exports C_* only.
$(BUILD)/libgop11.so: $(GOFILES) $(MODFILES)
	@mkdir -p $(BUILD)
	CGO_ENABLED=1 $(GO) build -buildmode=c-shared -trimpath \
		-ldflags "-s -extldflags '-Wl,-z,nodelete -Wl,--version-script=$(CURDIR)/module/exports.map'" \
		-o $@ ./module
	@rm -f $(BUILD)/libgop11.h

# The Windows client (README "Windows clients"), cross-built with mingw-w64.
windows: $(BUILD)/windows/libgop11.dll

$(BUILD)/windows/libgop11.dll: $(GOFILES) $(MODFILES)
	@mkdir -p $(BUILD)/windows
	GOOS=windows GOARCH=amd64 CGO_ENABLED=1 CC=$(MINGW_CC) $(GO) build -buildmode=c-shared -trimpath -ldflags "-s" -o $@ ./module
	@rm -f $(BUILD)/windows/libgop11.h

$(BUILD)/gop11-broker: $(GOFILES) $(wildcard broker/backend/*.c broker/backend/*.h)
	@mkdir -p $(BUILD)
	CGO_ENABLED=1 $(GO) build -trimpath -ldflags "-X main.Version=$(VERSION)" -o $@ ./cmd/gop11-broker

$(BUILD)/gop11: $(GOFILES)
	@mkdir -p $(BUILD)
	CGO_ENABLED=0 $(GO) build -trimpath -o $@ ./cmd/gop11

deps:
	bash tests/deps.sh

generate:
	$(GO) generate ./wire/...

check-generate:
	@$(GO) generate ./wire/... && git diff --exit-code -- wire/zcalls.go wire/zconst.go module/zexports.go module/zexports.c \
		|| { echo "generated files are stale: run make generate and commit"; exit 1; }

vet:
	CGO_ENABLED=0 $(GO) vet $(PUREPKGS)
	CGO_ENABLED=1 $(GO) vet ./...
	GOOS=windows GOARCH=amd64 CGO_ENABLED=1 CC=$(MINGW_CC) $(GO) vet ./module

# Pure packages without cgo, then everything with the race detector
# (integration suites start real brokers in front of real SoftHSM2 tokens
# and drive them with pkcs11-tool, p11tool, openssl, pkcs11-dump and Go),
# then the client tools' suite again through a shared module instance.
unit:
	CGO_ENABLED=0 $(GO) test -count=1 $(PUREPKGS)

race: build
	CGO_ENABLED=1 $(GO) test -race -count=1 -timeout 15m ./...
	GOP11_E2E_ISOLATION=shared CGO_ENABLED=1 $(GO) test -race -count=1 ./tests/e2e/

# Every decoder has a fuzz target (package:target); make test runs each briefly.
FUZZ_TARGETS := wire:FuzzRequest wire:FuzzResponse wire:FuzzHello wire:FuzzAttribute wire:FuzzMechanism wire:FuzzVendorLayout \
	broker/config:FuzzParse broker/p11uri:FuzzParse broker/acl:FuzzObjectPattern module/client:FuzzParseFile broker:FuzzParseShared
fuzz:
	@for pt in $(FUZZ_TARGETS); do \
		p=$${pt%%:*}; t=$${pt#*:}; \
		echo "fuzz $$p $$t ($(FUZZTIME))"; \
		CGO_ENABLED=0 $(GO) test ./$$p -run '^$$' -fuzz "^$$t\$$" -fuzztime $(FUZZTIME) || exit 1; \
	done

test: deps build windows check-generate vet unit race
	$(MAKE) fuzz

demo: deps build
	bash tests/demo.sh

clean:
	rm -rf $(BUILD)

include tests/bench/bench.mk
include packaging/install.mk
