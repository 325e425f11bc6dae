#!/usr/bin/env bash
# Starts gop11-broker in config mode for the bench: one SoftHSM2 module
# (SOFTHSM2_CONF from the environment) with the given isolation, the token
# "bench" on virtual slot 1.
#
#   gop11-config-broker.sh SOCKET ISOLATION [tls|policy]
#
# tls:    also a tls://127.0.0.1 listener with mutual TLS: certificates
#         (ECDSA P-256) are made with openssl beside SOCKET, and the client's
#         config is written to SOCKET.client.toml (its broker line names the
#         TLS endpoint: clients set GOP11_CONFIG to it).
# policy: a [[client]] for the user running the bench, with an objects
#         filter (the bench keys' labels) and an operations list, so every
#         call goes through the access checks.
set -euo pipefail
sock=$1 isolation=$2 mode=${3:-}
root=$(cd "$(dirname "$0")/../.." && pwd)
cfg=${sock%.sock}.toml
dir=$(dirname "$sock")
cat >"$cfg" <<TOML
listen = ["unix://$sock"$([[ $mode == tls ]] && echo ', "tls://127.0.0.1:@PORT@"')]
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

case $mode in
tls)
	pki=$dir/pki
	mkdir -p "$pki"
	cert() { # name CN ext [CA]
		local name=$1 cn=$2 ext=$3 ca=${4:-}
		if [[ -z $ca ]]; then
			openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
				-subj "/CN=$cn" -keyout "$pki/$name.key" -out "$pki/$name.crt" 2>/dev/null
		else
			openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=$cn" \
				-keyout "$pki/$name.key" -out "$pki/$name.csr" 2>/dev/null
			openssl x509 -req -in "$pki/$name.csr" -CA "$pki/$ca.crt" -CAkey "$pki/$ca.key" -days 2 \
				-extfile <(printf '%b' "$ext") -out "$pki/$name.crt" 2>/dev/null
		fi
		chmod 600 "$pki/$name.key"
	}
	cert ca "gop11 bench CA" ""
	cert broker localhost 'subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth' ca
	cert client bench-client 'subjectAltName=DNS:bench-client\nextendedKeyUsage=clientAuth' ca
	port=$(/usr/bin/python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
	sed -i "s/@PORT@/$port/" "$cfg"
	cat >>"$cfg" <<TOML

[tls]
cert = "$pki/broker.crt"
key = "$pki/broker.key"
client_ca = "$pki/ca.crt"
TOML
	cat >"$sock.client.toml" <<TOML
broker = "tls://127.0.0.1:$port"
[tls]
ca = "$pki/ca.crt"
cert = "$pki/client.crt"
key = "$pki/client.key"
TOML
	;;
policy)
	cat >>"$cfg" <<TOML

[[client]]
name = "bench"
uids = [$(id -u)]
slots = [1]
objects = ["label:bench-*"]
operations = ["sign", "verify", "digest", "encrypt", "decrypt", "find", "read", "random"]
TOML
	;;
esac
exec "$root/build/gop11-broker" --config "$cfg"
