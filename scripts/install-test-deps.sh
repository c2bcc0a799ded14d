#!/usr/bin/env bash
# Install the real components the test suite drives, with apt-get, when missing:
# sipp (sip-tester), baresip (baresip-core) and PostgreSQL 15 server binaries.
set -euo pipefail
. "$(dirname "$0")/lib/apt-missing.sh"
need=()
command -v sipp >/dev/null 2>&1 || need+=(sip-tester)
command -v baresip >/dev/null 2>&1 || need+=(baresip-core)
[ -x /usr/lib/postgresql/15/bin/initdb ] || need+=(postgresql)
command -v chromium >/dev/null 2>&1 || need+=(chromium)
install_missing install-test-deps
