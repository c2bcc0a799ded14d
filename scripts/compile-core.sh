#!/usr/bin/env bash
# Compile the modules listed in scripts/compiled-modules.txt in place: each .py with
# mypyc, each .c (a module written in C against CPython's API) with setuptools; each
# gets an extension module beside its source, which Python imports instead of the .py
# (a C module's .py twin, the reference, lives in the module that imports it). Needs a C compiler (gcc, installed with apt-get when missing) and the
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
python="$(cd "$venv/bin" && pwd)/python"
mapfile -t listed < <(grep -v '^\s*\(#\|$\)' scripts/compiled-modules.txt)
modules=() c_sources=()
for path in "${listed[@]}"; do
  case "$path" in
    *.c) c_sources+=("$path") ;;
    *) modules+=("$path") ;;
  esac
done
find src -name '*.so' -delete
cd src
# mypyc writes its C files and objects under ./build; they are not needed afterwards.
# mypyc is chatty (every compiler line): its output is shown only when it fails.
log="$(mktemp)"
trap 'rm -rf build .mypy_cache "$log"' EXIT
if ! "$mypyc" --config-file ../pyproject.toml "${modules[@]}" >"$log" 2>&1; then
  grep -v '^\(x86_64\|gcc\|copying\|running\|building\|creating\)' "$log" >&2 || true
  echo "compile-core: mypyc failed (the errors above; \`make lint\` shows type errors too)" >&2
  exit 1
fi
# setuptools names each C module after its path: pbx/sip/_headsplit.c -> pbx.sip._headsplit
"$python" - "${c_sources[@]}" <<'PY' >/dev/null
import sys
from setuptools import Extension, setup

extensions = [
    Extension(path.removesuffix(".c").replace("/", "."), [path], extra_compile_args=["-O2"])
    for path in sys.argv[1:]
]
setup(name="pbx-core", ext_modules=extensions, script_args=["build_ext", "--inplace", "-q"])
PY
# setuptools copies a C module out of ./build with its time cut to the second, which
# can be older than a .c saved in that same second (import pbx would call it stale).
find pbx -name '*.so' -exec touch {} +
echo "compile-core: ${#modules[@]} modules compiled with mypyc, ${#c_sources[@]} in C"
