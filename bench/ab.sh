#!/usr/bin/env bash
# Interleaved A/B of a throw-away patch against the tree it applies to, per thread:
#
#   bash bench/ab.sh bench/patches/stub-core.diff            # 2 rounds at 4,000/s
#   ROUNDS=3 RATE=3000 bash bench/ab.sh PATCH
#
# Why: runs a few minutes apart differ by 10 to 20% on this shared machine, so a
# change is only judged against the unpatched tree measured in turn with it. The
# patched tree is a git worktree of HEAD in a temporary folder with PATCH applied and
# its per-packet modules compiled (scripts/compile-core.sh, with this venv); each run
# is one `python -m bench.threads` rung (pbx, SQLite, 10,000 users), the patched tree
# put first on the path by PYTHONPATH. Needs `make core` done here first.
# bench/patches/README.md says what each patch measures and what it showed.
set -euo pipefail
patch="$(realpath "${1:?usage: bench/ab.sh PATCH}")"
cd "$(dirname "$0")/.."
rounds="${ROUNDS:-2}"
rate="${RATE:-4000}"
venv="$(realpath "${VENV:-.venv}")"
tree="$(mktemp -d -t pbx-ab-XXXXXX)"
cleanup() { git worktree remove --force "$tree" >/dev/null 2>&1 || rm -rf "$tree"; }
trap cleanup EXIT
git worktree add --detach "$tree" HEAD >/dev/null
git -C "$tree" apply "$patch"
VENV="$venv" bash "$tree/scripts/compile-core.sh"
# The patched side must import the worktree's pbx, not this tree's (editable install).
where="$(PYTHONPATH="$tree/src" "$venv/bin/python" -c 'import pbx; print(pbx.__file__)')"
case "$where" in
  "$tree"/*) ;;
  *) echo "ab.sh: PYTHONPATH=$tree/src still imports $where" >&2; exit 1 ;;
esac
for round in $(seq 1 "$rounds"); do
  for side in patched unpatched; do
    echo "== $side, round $round of $rounds, $rate registrations/s"
    if [ "$side" = patched ]; then
      PYTHONPATH="$tree/src" "$venv/bin/python" -m bench.threads --rate "$rate"
    else
      "$venv/bin/python" -m bench.threads --rate "$rate"
    fi
  done
done
