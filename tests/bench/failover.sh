#!/usr/bin/env bash
# tests/bench/failover.sh: the failover benchmark (make bench-failover; part
# of make bench and, shorter, of make bench-quick).
#
# Members model network HSMs: tests/faultmod in front of SoftHSM2 with a
# fixed delay per C_Sign (FAULTMOD_SIGN_DELAY_US, default 2000: a network
# HSM's latency), each served one call at a time (serialize = true), so one
# member's capacity is known and members do not just share this host's
# CPUs. ECDSA P-256 at 4 threads through a [[group]] of 1, 2 and 3 members,
# then through 2 members with the first member's worker killed (SIGKILL)
# 3 s in. Results in build/bench/: failover.csv (one row per run),
# failover-series.csv (signatures per 100 ms in the kill run),
# failover.json and failover.png (gnuplot).
#
#   tests/bench/failover.sh [--quick]
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
OUT=$ROOT/build/bench
SECS=10
if [[ ${1:-} == --quick ]]; then SECS=4; fi
THREADS=4
DELAY_US=${FAULTMOD_SIGN_DELAY_US:-2000}
KILL_AT=3
SOFTHSM=/usr/lib/softhsm/libsofthsm2.so
PIN=1234

log() { printf '%s [failover] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

need=()
for p in softhsm2 opensc gnuplot-nox python3 gcc; do
	dpkg -s "$p" >/dev/null 2>&1 || need+=("$p")
done
if ((${#need[@]})); then
	log "installing ${need[*]}"
	sudo=; [[ $(id -u) == 0 ]] || sudo=sudo
	$sudo apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${need[@]}" >/dev/null
fi
[[ -x $OUT/failover && -x $ROOT/build/gop11-broker && -f $ROOT/build/libgop11.so ]] ||
	{ log "build first: make build build/bench/failover"; exit 2; }

TMP=$(mktemp -d)
BROKER_PID=
cleanup() {
	if [[ -n $BROKER_PID ]]; then kill "$BROKER_PID" 2>/dev/null || true; wait "$BROKER_PID" 2>/dev/null || true; fi
	rm -rf "$TMP"
}
trap cleanup EXIT

gcc -shared -fPIC -O2 -Wall -Werror -I "$ROOT/include" -o "$TMP/libfaultmod.so" "$ROOT/tests/faultmod/faultmod.c" -ldl

# One token with an EC key, copied: members holding the same key.
mkdir -p "$TMP/tok1"
printf 'directories.tokendir = %s\nobjectstore.backend = file\n' "$TMP/tok1" >"$TMP/tok1.conf"
SOFTHSM2_CONF=$TMP/tok1.conf softhsm2-util --init-token --free --label signer --pin $PIN --so-pin 5678 >/dev/null
SOFTHSM2_CONF=$TMP/tok1.conf pkcs11-tool --module $SOFTHSM --token-label signer --login --pin $PIN \
	--keypairgen --key-type EC:prime256v1 --label ec --id 01 >/dev/null
for i in 2 3; do
	cp -a "$TMP/tok1" "$TMP/tok$i"
	printf 'directories.tokendir = %s\nobjectstore.backend = file\n' "$TMP/tok$i" >"$TMP/tok$i.conf"
done

# config N: a group of N members on slot 10.
config() {
	local n=$1 members=() i
	echo "listen = [\"unix://$TMP/b.sock\"]"
	for ((i = 1; i <= n; i++)); do
		cat <<EOF
[[module]]
name = "hsm$i"
path = "$TMP/libfaultmod.so"
isolation = "shared"
serialize = true
[module.env]
SOFTHSM2_CONF = "$TMP/tok$i.conf"
FAULTMOD_SIGN_DELAY_US = "$DELAY_US"
[[token]]
name = "m$i"
module = "hsm$i"
uri = "pkcs11:token=signer"
EOF
		members+=("\"m$i\"")
	done
	local IFS=,
	printf '[[group]]\nname = "signers"\nslot = 10\nmembers = [%s]\n' "${members[*]}"
}

start_broker() {
	config "$1" >"$TMP/b.toml"
	rm -f "$TMP/b.sock"
	"$ROOT/build/gop11-broker" --config "$TMP/b.toml" --log-level info >"$TMP/broker.log" 2>&1 &
	BROKER_PID=$!
	for _ in $(seq 100); do
		grep -q '"message":"serving"' "$TMP/broker.log" && return 0
		sleep 0.1
	done
	log "broker did not start:"; tail -20 "$TMP/broker.log" >&2; exit 1
}

stop_broker() {
	kill "$BROKER_PID"; wait "$BROKER_PID" 2>/dev/null || true; BROKER_PID=
}

# run NAME MEMBERS [kill]: one run; appends its summary to failover.csv.
run() {
	local name=$1 n=$2 args=()
	start_broker "$n"
	if [[ ${3:-} == kill ]]; then
		grep -o '"module":"hsm1","worker":[0-9]*' "$TMP/broker.log" | tail -1 | grep -o '[0-9]*$' >"$TMP/pid"
		args=("$KILL_AT" "$TMP/pid")
	fi
	local rc=0
	GOP11_BROKER=unix://$TMP/b.sock "$OUT/failover" "$ROOT/build/libgop11.so" 10 $PIN "$SECS" $THREADS "${args[@]}" \
		>"$TMP/$name.out" || rc=$?
	stop_broker
	local s
	s=$(grep '^summary' "$TMP/$name.out")
	log "$name ($n members): $s"
	[[ $rc -le 1 ]] || { log "$name: the client failed to set up"; exit 1; }
	printf '%s,%s,%s\n' "$name" "$n" "$(sed 's/^summary //; s/ /,/g; s/[a-z_0-9]*=//g' <<<"$s")" >>"$OUT/failover.csv"
	if [[ ${3:-} == kill ]]; then grep -v '^summary' "$TMP/$name.out" >"$OUT/failover-series.csv"; fi
}

mkdir -p "$OUT"
echo "run,members,ops,failed,ops_per_s,p50_us,p99_us,max_us,loss_p99_us,loss_max_us,kill_ms,first_error" >"$OUT/failover.csv"
log "ECDSA P-256, $THREADS threads, ${SECS}s per run, members with ${DELAY_US}us per C_Sign, one call at a time"
run one 1
run two 2
run three 3
run two-kill 2 kill

python3 - "$OUT" <<'EOF'
import csv, json, subprocess, sys
out = sys.argv[1]
rows = {r["run"]: r for r in csv.DictReader(open(f"{out}/failover.csv"))}
one = float(rows["one"]["ops_per_s"])
k = rows["two-kill"]
res = {
    "two_vs_one": round(float(rows["two"]["ops_per_s"]) / one, 2),
    "three_vs_one": round(float(rows["three"]["ops_per_s"]) / one, 2),
    "kill_run_failed": int(k["failed"]),
    "loss_p99_ms": round(float(k["loss_p99_us"]) / 1000, 1),
    "loss_max_ms": round(float(k["loss_max_us"]) / 1000, 1),
    "kill_run_vs_one": round(float(k["ops_per_s"]) / one, 2),
    "runs": list(rows.values()),
}
json.dump(res, open(f"{out}/failover.json", "w"), indent=1)
print(f"failover: two members {res['two_vs_one']}x one, three {res['three_vs_one']}x "
      f"(targets 1.8x, 2.6x); a member killed: {res['kill_run_failed']} failed calls, "
      f"p99 {res['loss_p99_ms']} ms and longest {res['loss_max_ms']} ms in the 2 s after the kill (target p99 < 200 ms)")
kill_ms = int(k["kill_ms"])
g = f"""set terminal pngcairo size 1200,500 font "sans,11"
set output "{out}/failover.png"
set datafile separator ","
set title "ECDSA P-256 through a two-member group, signatures per 100 ms; member 1's worker killed at {kill_ms} ms"
set xlabel "ms"
set ylabel "signatures per 100 ms"
set yrange [0:*]
set arrow from {kill_ms}, graph 0 to {kill_ms}, graph 1 nohead lc rgb "red" dt 2
set label "SIGKILL" at {kill_ms}, graph 0.95 offset 0.5,0 tc rgb "red"
plot "{out}/failover-series.csv" every ::1 using 2:3 with steps lw 2 title "two members", \\
     {one / 10:.1f} with lines dt 3 title "one member alone (mean)"
"""
open(f"{out}/failover.gp", "w").write(g)
r = subprocess.run(["gnuplot", f"{out}/failover.gp"], capture_output=True, text=True)
if r.returncode != 0:
    print("gnuplot:", r.stderr, file=sys.stderr)
    sys.exit(1)
EOF
log "results: $OUT/failover.csv failover-series.csv failover.json failover.png"
