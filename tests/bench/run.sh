#!/usr/bin/env bash
# tests/bench/run.sh [--quick]: the gop11 benchmark campaign.
#
# Sets up a SoftHSM2 token with three keys and a data object in a temp dir,
# starts each target's server, then measures every operation x thread count
# with p11bench, interleaving the targets cell by cell, for 3 rounds (1 with
# --quick), then a process sweep, then the RSS scenarios.  Writes
# build/bench/results.csv, results.json and throughput.png and prints a table
# and the issue's targets.
#
# Environment knobs (all optional): BENCH_ROUNDS, BENCH_DURATION (s per cell),
# BENCH_MAX_OPS, BENCH_HOLD (held connections), BENCH_SESSIONS,
# BENCH_HOLD_CONNS (connections from one process, for targets with
# conns=yes; default 10000, quick 1000),
# BENCH_SWEEP_DURATION (s per process-sweep cell; full default >= 0.7),
# BENCH_PROCS ("1,2,4,..."), BENCH_THREADS ("1,2,4,8"),
# BENCH_TARGETS ("direct p11kit" to run a subset), BENCH_OPS ("ecdsa_sign
# getinfo": a subset of the operations), BENCH_BUDGET (s for the
# rounds; default 420, quick 40), BENCH_AB_PAIRS (gop11-worker / gop11-policy
# samples per round; default 8, quick 2),
# BENCH_PRIMARY (the gop11 row the targets are checked on; default gop11).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$ROOT"

QUICK=0
for a in "$@"; do
	case $a in
	--quick) QUICK=1 ;;
	-h | --help) sed -n '2,18p' "$0"; exit 0 ;;
	*) echo "usage: $0 [--quick]" >&2; exit 2 ;;
	esac
done

if ((QUICK)); then
	ROUNDS=${BENCH_ROUNDS:-1} DURATION=${BENCH_DURATION:-0.1} MAX_OPS=${BENCH_MAX_OPS:-20000}
	HOLD=${BENCH_HOLD:-100} MODE=quick PROCS_DEFAULT=1,4,16,64 AB_PAIRS=${BENCH_AB_PAIRS:-2}
else
	ROUNDS=${BENCH_ROUNDS:-3} DURATION=${BENCH_DURATION:-auto} MAX_OPS=${BENCH_MAX_OPS:-100000}
	HOLD=${BENCH_HOLD:-1000} MODE=full PROCS_DEFAULT=1,2,4,8,16,32,64 AB_PAIRS=${BENCH_AB_PAIRS:-8}
fi
SESSIONS=${BENCH_SESSIONS:-10000}
HOLD_CONNS=${BENCH_HOLD_CONNS:-$((QUICK ? 1000 : 10000))}
PROCS=${BENCH_PROCS:-$PROCS_DEFAULT}
read -ra OPS <<<"${BENCH_OPS:-getinfo random32 getattr2 find ecdsa_sign rsa_sign digest_1m aes_gcm_1k open_close}"
THREADS=(1 2 4 8)
PIN=1234 SO_PIN=5678 TOKEN=bench

SOFTHSM=/usr/lib/softhsm/libsofthsm2.so
P11KIT_CLIENT=/usr/lib/x86_64-linux-gnu/pkcs11/p11-kit-client.so
OUT=build/bench
START=$(date +%s)

log() { printf '%s [bench] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

# ---- the targets -----------------------------------------------------------
# One line per target: name | files that must exist | client module |
# client environment | server command (none: no server) | cells (none: all).
# @SOCK@ becomes the target's socket in the temp dir and @CONF@ the SoftHSM2
# config; servers get SOFTHSM2_CONF, clients only what their line says.  The
# module "floor" runs the floor client instead of p11bench.  Cells keeps a
# target to some of the campaign's: threads=1,4 and procs=1,8,64 (of those
# the campaign runs), rss=idle (no held connections or sessions); a target
# whose threads or procs are kept does not count in the per-cell time. conns=yes adds the
# hold_conns scenario (BENCH_HOLD_CONNS connections from one process).
TARGET_LINES=(
	"direct||$SOFTHSM|SOFTHSM2_CONF=@CONF@|"
	"p11kit||$P11KIT_CLIENT|P11_KIT_SERVER_ADDRESS=unix:path=@SOCK@|p11-kit server -f --provider $SOFTHSM -n @SOCK@ pkcs11:token=$TOKEN"
	"gop11|build/libgop11.so build/gop11-broker|build/libgop11.so|GOP11_BROKER=unix://@SOCK@|build/gop11-broker --listen unix://@SOCK@ --module $SOFTHSM --log-level warn"
	"gop11-qshared|build/libgop11.so build/gop11-broker|build/libgop11.so|GOP11_BROKER=unix://@SOCK@|build/gop11-broker --listen unix://@SOCK@ --module $SOFTHSM --log-level warn --isolation shared --max-clients 12000|conns=yes"
	"gop11-nospin|build/libgop11.so build/gop11-broker|build/libgop11.so|GOP11_BROKER=unix://@SOCK@ GOP11_LANE_SPIN=0s|build/gop11-broker --listen unix://@SOCK@ --module $SOFTHSM --log-level warn --lane-spin 0s|threads=0 procs=0 rss=none"
	"gop11-nofollow|build/libgop11.so build/gop11-broker|build/libgop11.so|GOP11_BROKER=unix://@SOCK@|build/gop11-broker --listen unix://@SOCK@ --module $SOFTHSM --log-level warn --lane-follow=false|threads=1,4 procs=1,2,64 rss=none"
	"gop11-yamux|build/libgop11.so build/gop11-broker|build/libgop11.so|GOP11_BROKER=unix://@SOCK@|build/gop11-broker --listen unix://@SOCK@ --module $SOFTHSM --log-level warn --no-lanes|rss=idle"
	"gop11-worker|build/libgop11.so build/gop11-broker|build/libgop11.so|GOP11_BROKER=unix://@SOCK@|tests/bench/gop11-config-broker.sh @SOCK@ process"
	"gop11-inproc|build/libgop11.so build/gop11-broker|build/libgop11.so|GOP11_BROKER=unix://@SOCK@|tests/bench/gop11-config-broker.sh @SOCK@ inprocess"
	"gop11-shared|build/libgop11.so build/gop11-broker|build/libgop11.so|GOP11_BROKER=unix://@SOCK@|tests/bench/gop11-config-broker.sh @SOCK@ shared|conns=yes"
	"gop11-handoff|build/libgop11.so build/gop11-broker|build/libgop11.so|GOP11_BROKER=unix://@SOCK@|tests/bench/gop11-config-broker.sh @SOCK@ handoff|conns=yes"
	"gop11-tls|build/libgop11.so build/gop11-broker|build/libgop11.so|GOP11_CONFIG=@SOCK@.client.toml|tests/bench/gop11-config-broker.sh @SOCK@ quick tls|threads=1,4 procs=1,8,64"
	"gop11-tls-cfg|build/libgop11.so build/gop11-broker|build/libgop11.so|GOP11_CONFIG=@SOCK@.client.toml|tests/bench/gop11-config-broker.sh @SOCK@ process tls|threads=1,4 procs=1 rss=idle"
	"gop11-policy|build/libgop11.so build/gop11-broker|build/libgop11.so|GOP11_BROKER=unix://@SOCK@|tests/bench/gop11-config-broker.sh @SOCK@ process policy|threads=1,4 procs=1,8,64 rss=idle"
	"floor|build/bench/floor|floor||build/bench/floor server @SOCK@"
)

# ---- dependencies ------------------------------------------------------------
install_deps() {
	local p need=()
	for p in softhsm2 opensc p11-kit p11-kit-modules gnuplot-nox python3 gcc make; do
		dpkg -s "$p" >/dev/null 2>&1 || need+=("$p")
	done
	((${#need[@]})) || return 0
	log "installing ${need[*]}"
	local sudo=
	[[ $(id -u) == 0 ]] || sudo=sudo
	$sudo apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${need[@]}" >/dev/null
}
install_deps
make -s -f tests/bench/bench.mk build/bench/p11bench build/bench/floor build/bench/holdconns
P11BENCH=$ROOT/build/bench/p11bench
HOLDCONNS=$ROOT/build/bench/holdconns
FLOOR=$ROOT/build/bench/floor

# ---- temp dir, cleanup -------------------------------------------------------
TMP=$(mktemp -d /tmp/gop11-bench.XXXXXX)
declare -A SERVER_PID=()
descendants() { # pids under $1, deepest first
	local c
	for c in $(ps -o pid= --ppid "$1" 2>/dev/null); do
		descendants "$c"
		echo "$c"
	done
}
stop_server() {
	local pid=$1 kids i
	kids=$(descendants "$pid")
	kill "$pid" 2>/dev/null || true
	for i in 1 2 3 4 5 6 7 8 9 10; do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	# shellcheck disable=SC2086 # one word per pid
	kill -9 "$pid" $kids 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
}
cleanup() {
	local rc=$? n
	trap - EXIT INT TERM
	for n in "${!SERVER_PID[@]}"; do
		stop_server "${SERVER_PID[$n]}"
	done
	mkdir -p "$OUT/logs"
	cp "$TMP"/*.log "$OUT/logs/" 2>/dev/null || true
	rm -rf "$TMP"
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

mkdir -p "$OUT"
rm -f "$OUT"/raw.csv "$OUT"/rss.csv "$OUT"/targets.txt "$OUT"/logs/*.log

# ---- token and keys ----------------------------------------------------------
CONF=$TMP/softhsm2.conf
mkdir -p "$TMP/tokens"
cat >"$CONF" <<EOF
directories.tokendir = $TMP/tokens
objectstore.backend = file
log.level = ERROR
EOF
export -n SOFTHSM2_CONF 2>/dev/null || true
unset SOFTHSM2_CONF P11_KIT_SERVER_ADDRESS GOP11_BROKER
SOFTHSM2_CONF=$CONF softhsm2-util --init-token --free --label "$TOKEN" --pin $PIN --so-pin $SO_PIN >/dev/null
p11tool() { SOFTHSM2_CONF=$CONF pkcs11-tool --module "$SOFTHSM" --token-label "$TOKEN" --login --pin $PIN "$@" >>"$TMP/keygen.log" 2>&1; }
p11tool --keypairgen --key-type EC:prime256v1 --label bench-ec --id 01
p11tool --keypairgen --key-type rsa:2048 --label bench-rsa --id 02
p11tool --keygen --key-type AES:32 --label bench-aes --id 03
# An object no benchmark uses, outside gop11-policy's objects filter, for the
# probe that checks the policy is in force.
printf 'not for the bench\n' >"$TMP/other-data.bin"
p11tool --write-object "$TMP/other-data.bin" --type data --label other-data
log "token '$TOKEN' with bench-ec, bench-rsa, bench-aes, other-data in $TMP/tokens"

# ---- start targets -----------------------------------------------------------
declare -A T_MODULE=() T_ENV=() T_CELLS=()
ACTIVE=()
SKIPPED=()
want_target() { [[ -z ${BENCH_TARGETS:-} || " $BENCH_TARGETS " == *" $1 "* ]]; }
subst() { local s=${1//@SOCK@/$TMP/$2.sock}; echo "${s//@CONF@/$CONF}"; }

start_target() {
	local line=$1 name needs module cenv server cells f missing=
	IFS='|' read -r name needs module cenv server cells <<<"$line"
	want_target "$name" || return 0
	for f in $needs; do
		[[ -e $f ]] || missing+="${missing:+ }$f"
	done
	if [[ -n $missing ]]; then
		echo "$name target skipped: $missing missing (run make first)"
		SKIPPED+=("$name: $missing missing")
		return 0
	fi
	T_MODULE[$name]=$(subst "$module" "$name")
	T_ENV[$name]=$(subst "$cenv" "$name")
	T_CELLS[$name]=$cells
	if [[ -n $server ]]; then
		local sock=$TMP/$name.sock cmd i
		read -r -a cmd <<<"$(subst "$server" "$name")"
		env SOFTHSM2_CONF="$CONF" "${cmd[@]}" >"$TMP/$name.log" 2>&1 &
		SERVER_PID[$name]=$!
		for ((i = 0; i < 100; i++)); do
			[[ -S $sock ]] && break
			kill -0 "${SERVER_PID[$name]}" 2>/dev/null || break
			sleep 0.1
		done
		if [[ ! -S $sock ]]; then
			echo "$name target skipped: server did not come up (log: $OUT/logs/$name.log)"
			tail -5 "$TMP/$name.log" >&2 || true
			stop_server "${SERVER_PID[$name]}"
			unset "SERVER_PID[$name]"
			SKIPPED+=("$name: server did not start")
			return 0
		fi
		sleep 0.3
		# idle RSS: before any client has connected
		[[ $module == floor ]] ||
			"$P11BENCH" --target "$name" --rss-pid "${SERVER_PID[$name]}" >>"$OUT/rss.csv"
	fi
	ACTIVE+=("$name")
	echo "$name" >>"$OUT/targets.txt"
}
for line in "${TARGET_LINES[@]}"; do
	start_target "$line"
done
log "targets: ${ACTIVE[*]}"
# runs NAME KEY VALUE: whether target NAME runs cells with KEY=VALUE (its
# line's cells field may keep threads, procs or rss to a list).
runs() {
	local w
	for w in ${T_CELLS[$1]}; do
		if [[ $w == "$2="* ]]; then
			[[ ",${w#*=}," == *",$3,"* ]]
			return
		fi
	done
	return 0
}
n_mod=0
for name in "${ACTIVE[@]}"; do
	[[ ${T_MODULE[$name]} == floor || ${T_CELLS[$name]} == *threads=* || ${T_CELLS[$name]} == *procs=* ]] ||
		n_mod=$((n_mod + 1))
done
if [[ $DURATION == auto ]]; then
	# Full campaign budget: about 85 s per round for each target with a
	# module at 0.7 s per cell; past three such targets, shorten the cells so
	# `make bench` stays under 10 minutes.
	DURATION=$(awk -v n="$n_mod" 'BEGIN{d = n <= 3 ? 0.7 : 2.1 / n; printf "%.2f", d < 0.3 ? 0.3 : d}')
	# The process sweep's cells get at least 0.7 s: with 64 processes on 2
	# CPUs a 0.35 s window held about 20 signatures per process, and the
	# 64-process figure moved by 30% between campaigns. (1 s made a round
	# 140 s, and the time budget then cut the campaign to 2 rounds.)
	SWEEP_DURATION=$(awk -v d="$DURATION" 'BEGIN{printf "%.2f", d < 0.7 ? 0.7 : d}')
fi
SWEEP_DURATION=${BENCH_SWEEP_DURATION:-${SWEEP_DURATION:-$DURATION}}
if ((QUICK && n_mod > 3)) && [[ -z ${BENCH_THREADS:-} ]]; then
	THREADS=(1 4) # the thread counts the targets are checked at; keeps quick < 1 min
fi
[[ -z ${BENCH_THREADS:-} ]] || read -r -a THREADS <<<"${BENCH_THREADS//,/ }"
# CPU busy share over one second before we start (the load average would
# still carry our own previous run): other work on the host skews everything.
cpu_sample() { awk '/^cpu /{print $2+$3+$4+$7+$8+$9, $2+$3+$4+$5+$6+$7+$8+$9; exit}' /proc/stat; }
read -r b0 t0 <<<"$(cpu_sample)"
sleep 1
read -r b1 t1 <<<"$(cpu_sample)"
BUSY0=$(awk -v b=$((b1 - b0)) -v t=$((t1 - t0)) 'BEGIN{printf "%.0f", (t > 0 ? 100 * b / t : 0)}')
if ((BUSY0 > 25)); then
	log "WARNING: the host's CPUs were ${BUSY0}% busy before the campaign: other work on this host skews the figures"
fi

# client helper: run p11bench for target $1 with the remaining arguments
bench() {
	local name=$1 limit
	shift
	# p11bench has its own per-cell watchdog; this is the outer guard.
	limit=$(awk -v d="$DURATION" -v h="$HOLD" 'BEGIN{printf "%d", 600 + 30*d + h/5}')
	# shellcheck disable=SC2086
	env ${T_ENV[$name]} timeout -k 5 "$limit" "$P11BENCH" --module "${T_MODULE[$name]}" \
		--target "$name" --token "$TOKEN" --pin $PIN "$@" || echo "$name p11bench exited $?" >&2
}

# gop11-policy's policy must be in force, or its row measures nothing: its
# clients see the bench-* objects and not other-data (SoftHSM2 directly shows
# all), and an SO login, which its operations list does not allow, is refused.
p11_labels() { # MODULE ENV: the labels pkcs11-tool lists, sorted, on one line
	# shellcheck disable=SC2086
	env $2 pkcs11-tool --module "$1" --token-label "$TOKEN" --login --pin $PIN --list-objects 2>&1 |
		sed -n "s/^ *label: *//p" | tr -d "'" | sort -u | paste -sd' ' -
}
POLICY_PROBE=
policy_probe() {
	local name=gop11-policy seen direct so status=PASS
	seen=$(p11_labels "${T_MODULE[$name]}" "${T_ENV[$name]}")
	direct=$(p11_labels "$SOFTHSM" "SOFTHSM2_CONF=$CONF")
	# shellcheck disable=SC2086
	so=$(env ${T_ENV[$name]} pkcs11-tool --module "${T_MODULE[$name]}" --token-label "$TOKEN" \
		--login --login-type so --so-pin $SO_PIN --show-info 2>&1 | grep -o 'C_Login failed.*' || true)
	case $so in
	*0x1b*) so="refused (CKR_ACTION_PROHIBITED)" ;;
	"") so="allowed" status=MISS ;;
	*) status=MISS ;;
	esac
	[[ $seen == "bench-aes bench-ec bench-rsa" && $direct == *other-data* ]] || status=MISS
	POLICY_PROBE="$status|objects through it: $seen (directly: $direct); SO login $so"
	log "$name policy probe: $POLICY_PROBE"
}
[[ " ${ACTIVE[*]} " != *" gop11-policy "* ]] || policy_probe

# preflight: one C_GetInfo per target, so a broken target shows up front
for name in "${ACTIVE[@]}"; do
	[[ $name == floor ]] && continue
	row=$(bench "$name" --ops getinfo --threads 1 --duration 0.05 --timeout 30)
	errs=$(cut -d, -f8 <<<"$row")
	[[ $errs == 0 ]] || log "WARNING: $name preflight: $row"
done

# The policy check wants gop11-policy within 5% of gop11-worker, but one
# connection's ECDSA throughput through a worker moves by tens of percent
# with where its processes run (5.5k to 8.6k/s at 4 threads, the same
# target a second apart), so one cell per round cannot tell. Each round
# therefore also measures the two alternately, AB_PAIRS times each, every
# sample a new connection: rows "ecdsa_sign_ab", whose median the report
# takes over all rounds.
ab_samples() {
	local r=$1 i name pair
	for ((i = 0; i < AB_PAIRS; i++)); do
		pair="gop11-worker gop11-policy"
		(((i + r) % 2)) || pair="gop11-policy gop11-worker"
		for name in $pair; do
			bench "$name" --ops ecdsa_sign --threads 4 --duration "$DURATION" --max-ops "$MAX_OPS" |
				sed "s/^/$r,/; s/,ecdsa_sign,/,ecdsa_sign_ab,/" >>"$RAW"
		done
	done
}

# ---- rounds: op x threads, targets interleaved -----------------------------
RAW=$OUT/raw.csv
echo "round,target,op,threads,procs,ops_per_s,p50_us,p99_us,errors,first_error_rv,ctxsw_per_op" >"$RAW"
n_active=${#ACTIVE[@]}
# Time budget for the rounds, so the whole campaign stays under 10 min (1 min
# quick) even when other work slows the host: a round that would end past it
# is not started, and the medians are over the rounds done.
BUDGET=${BENCH_BUDGET:-$( ((QUICK)) && echo 40 || echo 420)}
ROUNDS_DONE=0
for ((r = 1; r <= ROUNDS; r++)); do
	if ((r > 1)); then
		spent=$(($(date +%s) - START))
		if ((spent + spent / (r - 1) > BUDGET)); then
			log "time budget (${BUDGET}s for the rounds): stopping after round $((r - 1)) of $ROUNDS"
			break
		fi
	fi
	log "round $r/$ROUNDS: ops x threads (${DURATION}s per cell)"
	for op in "${OPS[@]}"; do
		for t in "${THREADS[@]}"; do
			for ((k = 0; k < n_active; k++)); do
				name=${ACTIVE[$(((k + r - 1) % n_active))]}
				runs "$name" threads "$t" || continue
				if [[ ${T_MODULE[$name]} == floor ]]; then
					[[ $op == getinfo ]] || continue
					timeout -k 5 120 "$FLOOR" client "$TMP/$name.sock" --target "$name" \
						--threads "$t" --duration "$DURATION" --max-ops "$MAX_OPS" |
						sed "s/^/$r,/" >>"$RAW" || true
				else
					bench "$name" --ops "$op" --threads "$t" --duration "$DURATION" \
						--max-ops "$MAX_OPS" | sed "s/^/$r,/" >>"$RAW"
				fi
			done
		done
	done
	if ((AB_PAIRS)) && [[ " ${ACTIVE[*]} " == *" gop11-worker "* && " ${ACTIVE[*]} " == *" gop11-policy "* ]]; then
		log "round $r/$ROUNDS: $AB_PAIRS x gop11-worker / gop11-policy, ecdsa_sign at 4 threads"
		ab_samples "$r"
	fi
	log "round $r/$ROUNDS: process sweep $PROCS (ecdsa_sign, ${SWEEP_DURATION}s per cell)"
	for n in ${PROCS//,/ }; do
		for ((k = 0; k < n_active; k++)); do
			name=${ACTIVE[$(((k + r - 1) % n_active))]}
			[[ ${T_MODULE[$name]} == floor ]] && continue
			runs "$name" procs "$n" || continue
			bench "$name" --procs "$n" --duration "$SWEEP_DURATION" --max-ops "$MAX_OPS" |
				sed "s/^/$r,/" >>"$RAW"
		done
	done
	ROUNDS_DONE=$r
done

# ---- busy host: the application's own work between calls ---------------------
# Eight threads sign (ECDSA and RSA in turn) and do BENCH_BUSY_WORK_US of
# their own work after each signature, so the host's two CPUs are saturated
# and what the proxy spends per call comes out of the application's share.
# CPU per operation is the whole host's (client, broker, workers, p11-kit
# server: /proc/stat) over the run, setup included, divided by the
# operations made.
BUSY_WORK_US=${BENCH_BUSY_WORK_US:-50}
BUSY_DURATION=$( ((QUICK)) && echo 2 || echo 5)
echo "target,ops_per_s,cpu_us_per_op,host_busy_pct" >"$OUT/busy.csv"
# busy_row CSV_ROW BUSY_TICKS TOTAL_TICKS: appends the row's line to busy.csv
busy_row() {
	awk -F, -v b="$2" -v t="$3" -v d="$BUSY_DURATION" -v hz="$(getconf CLK_TCK)" \
		'{ops = $5 * d; printf "%s,%.1f,%.1f,%.0f\n", $1, $5, (ops > 0 ? b / hz * 1e6 / ops : 0), (t > 0 ? 100 * b / t : 0)}' \
		<<<"$1" >>"$OUT/busy.csv"
}
log "busy host: 8 threads, ECDSA and RSA in turn with ${BUSY_WORK_US}us of application work after each, ${BUSY_DURATION}s per target"
for name in ${BENCH_BUSY_TARGETS:-direct gop11 gop11-nospin gop11-qshared p11kit}; do
	[[ " ${ACTIVE[*]} " == *" $name "* ]] || continue
	read -r b0 t0 <<<"$(cpu_sample)"
	row=$(bench "$name" --ops busy_sign --threads 8 --duration "$BUSY_DURATION" --max-ops 100000000 \
		--work-us "$BUSY_WORK_US" | grep ",busy_sign," | tail -1)
	read -r b1 t1 <<<"$(cpu_sample)"
	busy_row "$row" $((b1 - b0)) $((t1 - t0))
done
# The floor of any out-of-process design here: the same 8 threads, each op
# the direct op's CPU of plain computation and the two round trips a
# signature takes (C_SignInit, C_Sign) to a C echo server, over a unix
# socket and over futexes in shared memory; against no round trips.
DIRECT_CPU=$(awk -F, '$1 == "direct" {printf "%d", $3}' "$OUT/busy.csv")
if [[ -n $DIRECT_CPU ]]; then
	"$FLOOR" server "$TMP/floor-busy.sock" 2>>"$TMP/floor-busy.log" &
	FLOOR_PID=$!
	sleep 0.2
	for f in "floor-none --trips 0" "floor-socket --trips 2" "floor-futex --trips 2 --futex"; do
		read -r b0 t0 <<<"$(cpu_sample)"
		# shellcheck disable=SC2086 # $f: a name, then options
		row=$("$FLOOR" client "$TMP/floor-busy.sock" --threads 8 --duration "$BUSY_DURATION" \
			--max-ops 100000000 --work-us "$DIRECT_CPU" --target ${f%% *} ${f#* } | tail -1)
		read -r b1 t1 <<<"$(cpu_sample)"
		busy_row "$row" $((b1 - b0)) $((t1 - t0))
	done
	kill "$FLOOR_PID" 2>/dev/null || true
	wait "$FLOOR_PID" 2>/dev/null || true
fi
awk -F, 'NR == 1 {next} $1 == "direct" {d = $2; dc = $3} $1 == "floor-none" {fd = $2; fc = $3} {r[NR] = $0}
	END {print "busy host (ops/s, vs direct; CPU us per operation, over direct):";
		for (i = 2; i <= NR; i++) {split(r[i], f, ",")
			if (f[1] ~ /^floor-/) {b = fd; bc = fc} else {b = d; bc = dc}
			printf "  %-14s %8.1f ops/s  %5.2fx   %6.1f us/op  %+6.1f us\n", f[1], f[2], (b > 0 ? f[2] / b : 0), f[3], f[3] - bc}
		print "  (floor rows: against floor-none, plain computation costing what a direct op does)"}' \
	"$OUT/busy.csv" >&2

# ---- RSS: held connections and sessions --------------------------------------
for name in "${ACTIVE[@]}"; do
	[[ -n ${SERVER_PID[$name]:-} && ${T_MODULE[$name]} != floor ]] || continue
	runs "$name" rss hold || continue
	log "$name: RSS with $HOLD client processes, then $SESSIONS sessions"
	bench "$name" --hold-procs "$HOLD" --rss-pid "${SERVER_PID[$name]}" >>"$OUT/rss.csv"
	sleep 0.5 # let per-connection server processes go away
	bench "$name" --sessions "$SESSIONS" --rss-pid "${SERVER_PID[$name]}" >>"$OUT/rss.csv"
	if [[ ${T_CELLS[$name]} == *conns=yes* ]]; then
		# Many connections from one process (holdconns), each with a
		# session: the shared modules' scale.
		log "$name: RSS with $HOLD_CONNS connections from one process"
		coproc HC { "$HOLDCONNS" --socket "$TMP/$name.sock" --n "$HOLD_CONNS"; }
		held=
		read -r -t 600 word held <&"${HC[0]}" || true
		if [[ -n $held ]]; then
			"$P11BENCH" --target "$name" --rss-pid "${SERVER_PID[$name]}" --held "hold_conns $held" >>"$OUT/rss.csv"
		else
			log "WARNING: $name: holdconns said nothing"
		fi
		eval "exec ${HC[1]}>&-"
		wait "$HC_PID" || true
	fi
	kill -0 "${SERVER_PID[$name]}" 2>/dev/null || log "WARNING: $name server died (log: $OUT/logs/$name.log)"
	# Done with it: its threads and memory must not weigh on the next
	# target's 1,000 processes (the host has 32,768 thread IDs).
	stop_server "${SERVER_PID[$name]}"
	unset "SERVER_PID[$name]"
done

# ---- report ------------------------------------------------------------------
ELAPSED=$(($(date +%s) - START))
{
	printf 'mode=%s\nrounds=%s\nduration=%s\nmax_ops=%s\nhold=%s\nsessions=%s\nprocs=%s\n' \
		"$MODE" "$ROUNDS_DONE" "$DURATION" "$MAX_OPS" "$HOLD" "$SESSIONS" "$PROCS"
	printf 'elapsed_s=%s\ncommit=%s\nhost_cpus=%s\nkernel=%s\n' "$ELAPSED" \
		"$(git rev-parse --short HEAD 2>/dev/null || echo none)" "$(nproc)" "$(uname -r)"
	printf 'threads=%s\ncpu_busy_before_pct=%s\n' "${THREADS[*]}" "$BUSY0"
	printf 'softhsm2=%s\np11kit=%s\nprimary=%s\n' \
		"$(dpkg-query -W -f '${Version}' softhsm2)" "$(dpkg-query -W -f '${Version}' p11-kit)" \
		"${BENCH_PRIMARY:-gop11}"
	for s in "${SKIPPED[@]}"; do printf 'skipped=%s\n' "$s"; done
	[[ -z $POLICY_PROBE ]] || printf 'policy_probe=%s\n' "$POLICY_PROBE"
} >"$OUT/meta.txt"
/usr/bin/python3 tests/bench/report.py "$OUT"
log "campaign took ${ELAPSED}s (report: $OUT/results.csv, results.json, throughput.png)"
