#!/usr/bin/env bash
# Install the Debian packages that the Makefile needs, and only those that are missing,
# so that repeated runs are fast and never touch apt.
#
#   scripts/system-deps.sh postgres      PostgreSQL server binaries (/usr/lib/postgresql/*/bin)
#   scripts/system-deps.sh chromium      /usr/bin/chromium for the browser tests
#   scripts/system-deps.sh python-venv   python3-venv, when `python3 -m venv` does not work
#   scripts/system-deps.sh wrk           the HTTP load generator for `make bench`
#   scripts/system-deps.sh nginx         nginx for `make bench` (the static ceiling; never started as a service)
#
# Runs apt-get when root; otherwise says what to install and fails.
set -euo pipefail

missing=()
for dep in "$@"; do
    case "$dep" in
        postgres)
            compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null || missing+=(postgresql)
            ;;
        chromium)
            [ -x /usr/bin/chromium ] || missing+=(chromium)
            ;;
        python-venv)
            missing+=(python3-venv)
            ;;
        wrk)
            command -v wrk >/dev/null 2>&1 || missing+=(wrk)
            ;;
        nginx)
            command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || missing+=(nginx)
            ;;
        *)
            echo "system-deps: unknown dependency '$dep'" >&2
            exit 2
            ;;
    esac
done

[ "${#missing[@]}" -eq 0 ] && exit 0

if ! command -v apt-get >/dev/null 2>&1; then
    echo "system-deps: missing ${missing[*]} and apt-get is not available;" \
        "install the equivalent packages with your system's package manager" >&2
    exit 1
fi
if [ "$(id -u)" -ne 0 ]; then
    echo "system-deps: missing system packages: ${missing[*]}" >&2
    echo "system-deps: install them as root, then run make again:" >&2
    echo "    apt-get update && apt-get install -y ${missing[*]}" >&2
    exit 1
fi

export DEBIAN_FRONTEND=noninteractive
# Wait for a concurrent apt/dpkg run instead of failing on its lock.
apt_opts=(-o DPkg::Lock::Timeout=600 -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold)
echo "system-deps: installing ${missing[*]} (apt-get)" >&2
# nginx starts its service on install; the benchmark runs its own on loopback, so keep
# dpkg from starting it (the Debian policy-rc.d convention), only for that install.
if [[ " ${missing[*]} " == *" nginx "* ]] && [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
    chmod 755 /usr/sbin/policy-rc.d
    trap 'rm -f /usr/sbin/policy-rc.d' EXIT
fi
apt-get "${apt_opts[@]}" update -qq
apt-get "${apt_opts[@]}" install -y -qq "${missing[@]}"
