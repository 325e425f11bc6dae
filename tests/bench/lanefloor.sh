#!/usr/bin/env bash
# make bench-lanefloor: which end of gop11's lanes costs what when client
# processes outnumber the CPUs. floor.c's echo (65 us of server CPU per
# answer, about SoftHSM2's ECDSA signature here) with each end in C or in
# gop11's lane code in Go: client C (write/read) or Go (lanefloor/client
# through cgo, as libgop11), server C (floor server: a thread per
# connection, blocking reads) or Go (lanefloor/server: serving lanes, the
# work a cgo call, as a worker). No PKCS #11, no codec, no module.
#
#   tests/bench/lanefloor.sh [PROCS_LIST [SECONDS]]   default "1,2,8,64" 3
#
# Prints round trips/s per combination and process count, and each
# combination's figure at the most processes as a share of its peak.
set -euo pipefail
cd "$(dirname "$0")/../.."
PROCS=${1:-1,2,8,64} SECS=${2:-3} WORK_US=${LANEFLOOR_WORK_US:-65}
B=build/bench
for f in "$B/floor" "$B/lanefloor" "$B/lanefloor-server" "$B/liblanefloor.so"; do
	[[ -x $f || -f $f ]] || {
		echo "lanefloor.sh: $f missing: make -f tests/bench/bench.mk bench-lanefloor" >&2
		exit 2
	}
done
TMP=$(mktemp -d /tmp/gop11-lanefloor.XXXXXX)
pids=()
trap 'kill "${pids[@]}" 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$TMP"' EXIT
"$B/floor" server "$TMP/c.sock" --work-us "$WORK_US" >"$TMP/c.log" 2>&1 &
pids+=($!)
"$B/lanefloor-server" "$TMP/go.sock" "$WORK_US" >"$TMP/go.log" 2>&1 &
pids+=($!)
for _ in $(seq 100); do
	[[ -S $TMP/c.sock && -S $TMP/go.sock ]] && break
	sleep 0.05
done

declare -A rate
combos=("C C" "Go C" "C Go" "Go Go")
for n in ${PROCS//,/ }; do
	for combo in "${combos[@]}"; do
		read -r client server <<<"$combo"
		sock=$TMP/c.sock lib=()
		[[ $server == Go ]] && sock=$TMP/go.sock
		[[ $client == Go ]] && lib=("$B/liblanefloor.so")
		rate[$combo,$n]=$("$B/lanefloor" "$sock" "$n" "$SECS" "${lib[@]}" | cut -d, -f2)
	done
done

echo "round trips/s, $WORK_US us of server CPU each, ${SECS}s per cell ($(nproc) CPUs)"
printf '%-22s' "client / server"
for n in ${PROCS//,/ }; do printf '%10s' "$n proc"; done
printf '%12s\n' "last/peak"
for combo in "${combos[@]}"; do
	read -r client server <<<"$combo"
	printf '%-22s' "$client / $server"
	peak=0 last=0
	for n in ${PROCS//,/ }; do
		v=${rate[$combo,$n]}
		printf '%10s' "$v"
		((v > peak)) && peak=$v
		last=$v
	done
	printf '%11s%%\n' "$((100 * last / peak))"
done
