# tests/bench/bench.mk: the benchmark campaign, included by the main Makefile.
#
#   make bench         full campaign (up to 3 rounds, 1,000 held connections), ~15 min
#   make bench-quick   one short round (100 held connections), < 1 min
#   make bench-failover  HA groups only (tests/bench/failover.sh), < 1 min
#   make bench-lanefloor which end of the lanes costs what, many processes
#   make bench-windows   one signature from the Windows client under Wine
#                        against the Linux client and the vendor module, < 2 min
#
# Both depend on the main Makefile's `build` target (build/libgop11.so and
# build/gop11-broker).  The drivers also build on their own:
#   make -f tests/bench/bench.mk build/bench/p11bench build/bench/floor
# Results land in build/bench/ (results.csv, results.json, throughput.png).

BENCH_CC     ?= gcc
BENCH_CFLAGS ?= -O2 -Wall -Werror -pthread
# Our own header once it exists; before that the system's p11-kit one.
BENCH_P11INC := $(if $(wildcard include/pkcs11.h),-Iinclude,-I/usr/include/p11-kit-1/p11-kit)
BENCH_BINS   := build/bench/p11bench build/bench/floor build/bench/holdconns build/bench/failover

build/bench/p11bench: tests/bench/p11bench.c tests/bench/bench_common.h $(wildcard include/pkcs11*.h)
	@mkdir -p $(@D)
	$(BENCH_CC) $(BENCH_CFLAGS) $(BENCH_P11INC) -o $@ $< -ldl

build/bench/failover: tests/bench/failover.c tests/bench/bench_common.h $(wildcard include/pkcs11*.h)
	@mkdir -p $(@D)
	$(BENCH_CC) $(BENCH_CFLAGS) $(BENCH_P11INC) -o $@ $< -ldl

build/bench/floor: tests/bench/floor.c tests/bench/bench_common.h
	@mkdir -p $(@D)
	$(BENCH_CC) $(BENCH_CFLAGS) -o $@ $<

build/bench/lanefloor: tests/bench/lanefloor.c tests/bench/bench_common.h
	@mkdir -p $(@D)
	$(BENCH_CC) $(BENCH_CFLAGS) -o $@ $< -ldl

build/bench/liblanefloor.so: $(wildcard tests/bench/lanefloor/client/*.go wire/*.go)
	@mkdir -p $(@D)
	CGO_ENABLED=1 go build -buildmode=c-shared -o $@ ./tests/bench/lanefloor/client
	@rm -f build/bench/liblanefloor.h

build/bench/lanefloor-server: $(wildcard tests/bench/lanefloor/server/*.go wire/*.go)
	@mkdir -p $(@D)
	CGO_ENABLED=1 go build -o $@ ./tests/bench/lanefloor/server

build/bench/holdconns: $(wildcard tests/bench/holdconns/*.go wire/*.go)
	@mkdir -p $(@D)
	CGO_ENABLED=0 go build -o $@ ./tests/bench/holdconns

.PHONY: bench bench-quick bench-bins bench-failover bench-windows bench-lanefloor
bench-bins: $(BENCH_BINS)

bench: build $(BENCH_BINS)
	tests/bench/run.sh
	tests/bench/failover.sh

bench-quick: build $(BENCH_BINS)
	tests/bench/run.sh --quick
	tests/bench/failover.sh --quick

# Groups: throughput per member count and a member killed under load.
bench-failover: build build/bench/failover
	tests/bench/failover.sh

# Which end of the lanes costs what with 64 client processes on 2 CPUs:
# floor.c's echo with each end in C or in gop11's lane code (Go), < 2 min.
bench-lanefloor: build/bench/floor build/bench/lanefloor build/bench/lanefloor-server build/bench/liblanefloor.so
	tests/bench/lanefloor.sh

# The Windows client (tests/windows): ECDSA signatures one at a time, the
# DLL under Wine, the Linux client and SoftHSM2 directly, same token.
bench-windows: build build/windows/libgop11.dll
	GOP11_WINDOWS_BENCH=2000 go test -count=1 -v -run '^TestWindowsClient$$' ./tests/windows | grep 'bench round'
