"""The throw-away patches ``bench/ab.sh`` measures (``bench/patches/``) still apply to
the tree: the figures in bench/README.md say how to rerun them, and a patch that no
longer applies makes that advice wrong without anyone noticing."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[1]
PATCHES = sorted((ROOT / "bench" / "patches").glob("*.diff"))


def test_there_are_patches() -> None:
    assert PATCHES, "bench/patches/*.diff not found"


@pytest.mark.parametrize("patch", PATCHES, ids=[p.name for p in PATCHES])
def test_patch_applies_to_the_tree(patch: Path) -> None:
    done = subprocess.run(
        ["git", "apply", "--check", str(patch)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
