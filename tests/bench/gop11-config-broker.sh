#!/usr/bin/env bash
# Starts gop11-broker in config mode for the bench: one SoftHSM2 module
# (SOFTHSM2_CONF from the environment) with the given isolation, the token
# "bench" on virtual slot 1. Usage: gop11-config-broker.sh SOCKET ISOLATION
set -euo pipefail
sock=$1 isolation=$2
root=$(cd "$(dirname "$0")/../.." && pwd)
cfg=${sock%.sock}.toml
cat >"$cfg" <<TOML
listen = ["unix://$sock"]
log_level = "warn"

[[module]]
name = "softhsm"
path = "/usr/lib/softhsm/libsofthsm2.so"
isolation = "$isolation"
[module.env]
SOFTHSM2_CONF = "$SOFTHSM2_CONF"

[[token]]
module = "softhsm"
uri = "pkcs11:token=${BENCH_TOKEN:-bench}"
slot = 1
TOML
exec "$root/build/gop11-broker" --config "$cfg"
