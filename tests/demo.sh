#!/usr/bin/env bash
# make demo: a broker in front of a new SoftHSM2 token, driven by OpenSC's
# pkcs11-tool through build/libgop11.so: list, generate an EC key, sign,
# verify with openssl. Everything lives in a temp dir removed at the end.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
lib=$root/build/libgop11.so
work=$(mktemp -d /tmp/gop11-demo.XXXXXX)
broker_pid=
cleanup() {
	[ -n "$broker_pid" ] && kill "$broker_pid" 2>/dev/null && wait "$broker_pid" 2>/dev/null
	rm -rf "$work"
}
trap cleanup EXIT

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
run() { printf '$ %s\n' "$*"; "$@"; }

step "A SoftHSM2 token in $work"
mkdir -p "$work/tokens"
printf 'directories.tokendir = %s/tokens\nobjectstore.backend = file\nlog.level = ERROR\n' "$work" >"$work/softhsm2.conf"
export SOFTHSM2_CONF=$work/softhsm2.conf
run softhsm2-util --init-token --free --label demo --pin 1234 --so-pin 123456 >/dev/null

step "The broker, serving /usr/lib/softhsm/libsofthsm2.so on unix://$work/gop11.sock"
"$root/build/gop11-broker" --listen "unix://$work/gop11.sock" --module /usr/lib/softhsm/libsofthsm2.so \
	--log-level debug --log-format json 2>"$work/broker.log" &
broker_pid=$!
for _ in $(seq 100); do [ -S "$work/gop11.sock" ] && break; sleep 0.05; done
[ -S "$work/gop11.sock" ] || { cat "$work/broker.log"; exit 1; }

# The application gets nothing but the module's path; the environment tells
# the module where the broker is.
export GOP11_BROKER=unix://$work/gop11.sock
run "$root/build/gop11" ping --count 2

step "pkcs11-tool through libgop11.so"
p11() { run pkcs11-tool --module "$lib" "$@"; }
p11 --show-info
p11 --list-slots
p11 --login --pin 1234 --keypairgen --key-type EC:prime256v1 --label demo-ec --id 01
p11 --login --pin 1234 --list-objects

step "Sign a SHA-256 digest with the token's EC key, verify with openssl"
echo "gop11 demo $(date -u)" >"$work/message.txt"
openssl dgst -sha256 -binary "$work/message.txt" >"$work/digest.bin"
p11 --login --pin 1234 --sign --mechanism ECDSA --id 01 --signature-format openssl \
	--input-file "$work/digest.bin" --output-file "$work/sig.der"
p11 --read-object --type pubkey --id 01 --output-file "$work/pub.der"
run openssl pkey -pubin -inform DER -in "$work/pub.der" -out "$work/pub.pem"
run openssl dgst -sha256 -verify "$work/pub.pem" -signature "$work/sig.der" "$work/message.txt"

step "The broker saw the calls (from its debug log)"
grep -o '"call":"C_[A-Za-z]*"' "$work/broker.log" | sort | uniq -c | sort -rn | head -12
echo
echo "demo OK"
