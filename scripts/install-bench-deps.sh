#!/usr/bin/env bash
# Install what `make bench` drives, with apt-get, when missing: Kamailio 5.6 with its
# SQLite modules (the peer registrar) and PostgreSQL modules (the peer writing through
# to PostgreSQL), and sipp (sip-tester, the load generator).
set -euo pipefail
. "$(dirname "$0")/lib/apt-missing.sh"
need=()
command -v kamailio >/dev/null 2>&1 || need+=(kamailio)
[ -e /usr/lib/x86_64-linux-gnu/kamailio/modules/db_sqlite.so ] \
  || ls /usr/lib/*/kamailio/modules/db_sqlite.so >/dev/null 2>&1 \
  || need+=(kamailio-sqlite-modules)
ls /usr/lib/*/kamailio/modules/db_postgres.so >/dev/null 2>&1 \
  || need+=(kamailio-postgres-modules)
command -v sipp >/dev/null 2>&1 || need+=(sip-tester)
install_missing install-bench-deps
