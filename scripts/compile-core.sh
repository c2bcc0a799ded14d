#!/usr/bin/env bash
# Compile the modules listed in scripts/compiled-modules.txt with mypyc, in place:
# each gets an extension module beside its source, which Python imports instead of
# the .py. Needs a C compiler (gcc, installed with apt-get when missing) and the
# Python headers (shipped with the interpreter the venv was made from).
# `make clean-core` removes what this makes; `import pbx` refuses a compiled module
# older than its source (src/pbx/__init__.py).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib/apt-missing.sh
venv="${VENV:-.venv}"
need=()
command -v gcc >/dev/null 2>&1 || need+=(gcc)
# Debian's own python3 ships its headers separately (pyenv's and python.org's do not).
include="$("$venv/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["include"])')"
[ -f "$include/Python.h" ] || need+=(python3-dev)
install_missing compile-core
mypyc="$(cd "$venv/bin" && pwd)/mypyc"
mapfile -t modules < <(grep -v '^\s*\(#\|$\)' scripts/compiled-modules.txt)
find src -name '*.so' -delete
cd src
# mypyc writes its C files and objects under ./build; they are not needed afterwards.
trap 'rm -rf build .mypy_cache' EXIT
"$mypyc" --config-file ../pyproject.toml "${modules[@]}" >/dev/null
echo "compile-core: ${#modules[@]} modules compiled"
