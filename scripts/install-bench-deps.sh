#!/usr/bin/env bash
# Install what `make bench` drives, with apt-get, when missing: Kamailio 5.6 with its
# SQLite modules (the peer registrar) and sipp (sip-tester, the load generator).
set -euo pipefail
need=()
command -v kamailio >/dev/null 2>&1 || need+=(kamailio)
[ -e /usr/lib/x86_64-linux-gnu/kamailio/modules/db_sqlite.so ] \
  || ls /usr/lib/*/kamailio/modules/db_sqlite.so >/dev/null 2>&1 \
  || need+=(kamailio-sqlite-modules)
command -v sipp >/dev/null 2>&1 || need+=(sip-tester)
if [ ${#need[@]} -eq 0 ]; then
  exit 0
fi
if [ "$(id -u)" != 0 ]; then
  echo "install-bench-deps: need root to apt-get install ${need[*]}" >&2
  exit 1
fi
echo "install-bench-deps: apt-get install ${need[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
