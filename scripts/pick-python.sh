#!/usr/bin/env bash
# Print the Python interpreter `make` builds the venv from: $PYTHON when given, else
# the distribution's /usr/bin/python3 when it is 3.11 or newer and can make a venv,
# else python3 from PATH.
#
# Why the distribution's first: Debian (and Ubuntu, Fedora) build their CPython with
# profile-guided optimisation and link-time optimisation. On a pyenv or source build
# made without --enable-optimizations, the sans-IO core needs 20 to 30% more CPU per
# registration and the whole service 10 to 15% more (bench/README.md, "Session of
# 2026-11-28 from 01:10 UTC: the interpreter"); such a build comes first on PATH on
# many developer machines, this one included.
set -euo pipefail
usable() {
    "$1" -c 'import sys, ensurepip, venv; sys.exit(sys.version_info < (3, 11))' \
        >/dev/null 2>&1
}
if [ -n "${PYTHON:-}" ]; then
    echo "$PYTHON"
    exit 0
fi
for candidate in /usr/bin/python3 python3; do
    if command -v "$candidate" >/dev/null 2>&1 && usable "$candidate"; then
        echo "$candidate"
        exit 0
    fi
done
echo "pick-python: no Python 3.11 or newer with the venv module found" >&2
echo python3
