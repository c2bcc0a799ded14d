"""The compiled modules (``make core``): what runs is what was compiled from the
sources, and under ``make test`` it is the compiled code."""

from __future__ import annotations

import importlib
import os
from importlib.machinery import EXTENSION_SUFFIXES
from pathlib import Path

import pytest

import pbx
from pbx import stale_extensions

SUFFIX = EXTENSION_SUFFIXES[0]  # e.g. .cpython-311-x86_64-linux-gnu.so


def _touch(path: Path, mtime: float) -> None:
    path.write_bytes(b"")
    os.utime(path, (mtime, mtime))


def test_an_extension_older_than_its_source_is_stale(tmp_path: Path) -> None:
    (tmp_path / "sip").mkdir()
    _touch(tmp_path / "sip" / "fastlane.py", 2000.0)
    _touch(tmp_path / "sip" / f"fastlane{SUFFIX}", 1000.0)
    _touch(tmp_path / "grammar.py", 1000.0)
    _touch(tmp_path / f"grammar{SUFFIX}", 2000.0)
    _touch(tmp_path / "sip" / "_headsplit.c", 2000.0)  # a module written in C
    _touch(tmp_path / "sip" / f"_headsplit{SUFFIX}", 1000.0)
    _touch(tmp_path / f"orphan{EXTENSION_SUFFIXES[-1]}", 1000.0)  # no source: not ours to judge
    assert stale_extensions(tmp_path) == [f"sip/_headsplit{SUFFIX}", f"sip/fastlane{SUFFIX}"]


def test_sources_without_extensions_are_not_stale(tmp_path: Path) -> None:
    _touch(tmp_path / "fastlane.py", 2000.0)
    assert stale_extensions(tmp_path) == []


def test_the_installed_modules_are_not_stale() -> None:
    assert stale_extensions(Path(pbx.__file__).parent) == []


def _listed_modules() -> list[str]:
    """scripts/compiled-modules.txt as module names (a .py compiled by mypyc, or a
    module written in C)."""
    listing = Path(__file__).parents[1] / "scripts" / "compiled-modules.txt"
    lines = [line.strip() for line in listing.read_text().splitlines()]
    return [
        line.removesuffix(".py").removesuffix(".c").replace("/", ".")
        for line in lines
        if line and not line.startswith("#")
    ]


@pytest.mark.skipif(
    os.environ.get("PBX_REQUIRE_COMPILED_CORE") != "1",
    reason="make test sets PBX_REQUIRE_COMPILED_CORE=1; run from source otherwise",
)
def test_make_test_runs_the_compiled_modules() -> None:
    modules = _listed_modules()
    assert "pbx.sip.fastlane" in modules and "pbx.transport.udp" in modules
    assert "pbx.sip._headsplit" in modules
    from_source = [
        name
        for name in modules
        if not str(importlib.import_module(name).__file__).endswith(tuple(EXTENSION_SUFFIXES))
    ]
    assert from_source == [], f"not compiled (run `make core`): {from_source}"
