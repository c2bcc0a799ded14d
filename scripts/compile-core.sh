#!/usr/bin/env bash
# Compile the sans-IO core (src/pbx/sip, all but __init__.py) with mypyc, in place:
# each module gets an extension module beside its source, which Python imports
# instead of the .py. Needs a C compiler (gcc, installed with apt-get when missing)
# and the Python headers (shipped with the interpreter the venv was made from).
# `make clean-core` removes what this makes; pbx.sip refuses to import a compiled
# module older than its source.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib/apt-missing.sh
need=()
command -v gcc >/dev/null 2>&1 || need+=(gcc)
install_missing compile-core
venv="${VENV:-.venv}"
mypyc="$(cd "$venv/bin" && pwd)/mypyc"
modules=()
for f in src/pbx/sip/*.py; do
    [ "$(basename "$f")" = __init__.py ] || modules+=("${f#src/}")
done
rm -f src/pbx/sip/*.so src/*__mypyc*.so
cd src
# mypyc writes its C files and objects under ./build; they are not needed afterwards.
trap 'rm -rf build .mypy_cache' EXIT
"$mypyc" --config-file ../pyproject.toml "${modules[@]}" >/dev/null
echo "compile-core: ${#modules[@]} modules of pbx.sip compiled"
