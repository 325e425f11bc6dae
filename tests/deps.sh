#!/usr/bin/env bash
# Installs the Debian packages that the gop11 test suites need.
#
# Idempotent and fast when everything is already there: it asks dpkg which
# packages are missing and only then runs apt-get. Prints one summary line.
#
# Usage: tests/deps.sh            (as root, or with sudo available)
set -euo pipefail

pkgs=(
	# build
	gcc make
	# SoftHSM2 token and the PKCS #11 client tools used by tests/e2e
	softhsm2 opensc gnutls-bin libengine-pkcs11-openssl openssl pkcs11-dump
	# p11-kit: header for include/ checks, remote proxy for comparisons
	p11-kit p11-kit-modules libp11-kit-dev
	# TPM tests: software TPM, tools, resource manager, tpm2-pkcs11
	swtpm swtpm-tools tpm2-tools tpm2-abrmd libtss2-tcti-tabrmd0 dbus
	libtpm2-pkcs11-1 libtpm2-pkcs11-tools
	# tests/robust's connection flooder (run as another user with setpriv),
	# and gdb's gcore for the PIN-in-memory check
	python3 util-linux gdb
	# tests/install: systemd-analyze verify and security on the unit
	systemd
	# the Windows client: cross compiler, and Wine to run it (tests/windows)
	gcc-mingw-w64-x86-64 wine64
)

missing=()
for p in "${pkgs[@]}"; do
	# dpkg-query exits 0 for packages it merely knows about (e.g. removed
	# ones with config files left), so check the status word itself.
	status=$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null || true)
	if [ "$status" != "installed" ]; then
		missing+=("$p")
	fi
done

if [ ${#missing[@]} -eq 0 ]; then
	echo "tests/deps.sh: all ${#pkgs[@]} packages already installed"
	exit 0
fi

sudo=()
if [ "$(id -u)" -ne 0 ]; then
	sudo=(sudo)
fi

export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update -qq >/dev/null
"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive \
	apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "tests/deps.sh: installed ${missing[*]}"
