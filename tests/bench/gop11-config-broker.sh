#!/usr/bin/env bash
# Starts gop11-broker in config mode for the bench: one SoftHSM2 module
# (SOFTHSM2_CONF from the environment) with the given isolation, the token
# "bench" on virtual slot 1; or, with ISOLATION "quick", in quick mode
# (--module) with a config file for what follows.
#
#   gop11-config-broker.sh SOCKET ISOLATION|handoff|quick [tls|policy]
#
# tls:    also a tls://127.0.0.1 listener with mutual TLS, on a free port
#         outside the kernel's ephemeral range, opened before the unix
#         socket: the socket file appearing means both are up, and a port
#         that cannot be bound stops the broker before it. Certificates (an
#         ECDSA P-256 CA, the broker's for 127.0.0.1 and localhost, a
#         client's named bench-client) are made with openssl in pki/ beside
#         SOCKET, once; the client's config is written to SOCKET.client.toml
#         (its broker line names the TLS endpoint: clients set GOP11_CONFIG
#         to it).
# policy: a [[client]] for the user running the bench, with an objects
#         filter (the bench keys' labels) and an operations list, so every
#         call goes through the access checks.
set -euo pipefail
sock=$1 isolation=$2 mode=${3:-}
root=$(cd "$(dirname "$0")/../.." && pwd)
cfg=${sock%.sock}.toml
dir=$(dirname "$sock")
listen="\"unix://$sock\""
extra=

# make_pki DIR: a CA, the broker's certificate and a client's, unless made.
make_pki() {
	local d=$1
	[[ -s $d/client.crt ]] && return 0
	mkdir -p "$d"
	(
		cd "$d"
		umask 077 # the broker refuses a key that others may read
		ec=(-newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes)
		openssl req -x509 "${ec[@]}" -days 7 -subj "/CN=gop11 bench CA" -keyout ca.key -out ca.crt \
			-addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign
		leaf() { # NAME CN EXTENSIONS
			openssl req -new "${ec[@]}" -subj "/CN=$2" -keyout "$1.key" -out "$1.csr"
			printf '%b\n' "$3" >"$1.ext"
			openssl x509 -req -in "$1.csr" -CA ca.crt -CAkey ca.key -CAcreateserial -days 7 \
				-extfile "$1.ext" -out "$1.crt"
		}
		leaf broker localhost 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\nkeyUsage=critical,digitalSignature'
		leaf client bench-client 'subjectAltName=DNS:bench-client\nextendedKeyUsage=clientAuth\nkeyUsage=critical,digitalSignature'
	) >"$d/openssl.log" 2>&1 || {
		echo "gop11-config-broker.sh: openssl failed:" >&2
		cat "$d/openssl.log" >&2
		exit 1
	}
}

# free_port: a loopback port that binds now, outside the ephemeral range so
# that no outgoing connection takes it before the broker does.
free_port() {
	/usr/bin/python3 - <<'PY'
import random, socket
lo, hi = map(int, open("/proc/sys/net/ipv4/ip_local_port_range").read().split())
pool = range(20000, lo) if lo > 21000 else range(hi + 1, 65536)
for port in random.sample(pool, min(200, len(pool))):
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            continue
    print(port)
    break
else:
    raise SystemExit("gop11-config-broker.sh: no free loopback port")
PY
}

case $mode in
"") ;;
tls)
	pki=$dir/pki
	make_pki "$pki"
	port=$(free_port)
	listen="\"tls://127.0.0.1:$port\", $listen"
	extra="
[tls]
cert = \"$pki/broker.crt\"
key = \"$pki/broker.key\"
client_ca = \"$pki/ca.crt\""
	# dial_timeout: the memory scenario starts 1,000 clients at once, each
	# a TLS handshake and (quick mode) a worker starting its module on 2
	# CPUs; 5 s, the default, let a tenth of them time out (2026-12-04).
	cat >"$sock.client.toml" <<TOML
broker = "tls://127.0.0.1:$port"
dial_timeout = "60s"
[tls]
ca = "$pki/ca.crt"
cert = "$pki/client.crt"
key = "$pki/client.key"
TOML
	;;
policy)
	extra="
[[client]]
name = \"bench\"
uids = [$(id -u)]
slots = [1]
objects = [\"label:bench-*\"]
operations = [\"sign\", \"verify\", \"digest\", \"encrypt\", \"decrypt\", \"find\", \"read\", \"random\"]"
	;;
*)
	echo "usage: $0 SOCKET ISOLATION [tls|policy]" >&2
	exit 2
	;;
esac

if [[ $isolation == quick ]]; then
	# Quick mode (--module): a worker per connection, [tls] and the
	# policies from the config file.
	printf 'listen = [%s]\nlog_level = "%s"\n%s\n' "$listen" "${BENCH_BROKER_LOG_LEVEL:-warn}" "$extra" >"$cfg"
	exec "$root/build/gop11-broker" --module /usr/lib/softhsm/libsofthsm2.so --config "$cfg"
fi

# "handoff": isolation "shared" with handoff = true.
keys=
if [[ $isolation == handoff ]]; then
	isolation=shared keys="handoff = true"
fi
cat >"$cfg" <<TOML
listen = [$listen]
log_level = "${BENCH_BROKER_LOG_LEVEL:-warn}"
$extra

[[module]]
name = "softhsm"
path = "/usr/lib/softhsm/libsofthsm2.so"
isolation = "$isolation"
$keys
[module.env]
SOFTHSM2_CONF = "$SOFTHSM2_CONF"

[[token]]
module = "softhsm"
uri = "pkcs11:token=${BENCH_TOKEN:-bench}"
slot = 1
TOML
# A shared module's connections cost no process each: hold_conns opens
# 10,000 of them.
max=4096
[[ $isolation == shared || $isolation == inprocess ]] && max=12000
exec "$root/build/gop11-broker" --config "$cfg" --max-clients "$max"
