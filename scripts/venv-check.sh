#!/usr/bin/env bash
# Remove the venv when it was made from another interpreter than $PYTHON (for
# instance after scripts/pick-python.sh started choosing the distribution's Python):
# `make` then builds it again, with the compiled modules, from the right one.
set -euo pipefail
venv="${VENV:-.venv}"
python="${PYTHON:?PYTHON is not set}"
[ -x "$venv/bin/python" ] || exit 0
identity='import sys; print(sys.base_prefix, sys.version)'
want="$("$python" -c "$identity")"
have="$("$venv/bin/python" -c "$identity" 2>/dev/null || true)"
if [ "$want" != "$have" ]; then
    echo "venv-check: $venv was made from another Python ($have); rebuilding it from $python ($want)"
    rm -rf "$venv"
fi
