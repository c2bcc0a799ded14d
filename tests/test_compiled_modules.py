"""The compiled core (``make core``): what runs is what was compiled from the
sources, and under ``make test`` it is the compiled one."""

from __future__ import annotations

import importlib
import os
import pkgutil
from importlib.machinery import EXTENSION_SUFFIXES
from pathlib import Path

import pytest

import pbx.sip
from pbx.sip import stale_extensions

SUFFIX = EXTENSION_SUFFIXES[0]  # e.g. .cpython-311-x86_64-linux-gnu.so


def _touch(path: Path, mtime: float) -> None:
    path.write_bytes(b"")
    os.utime(path, (mtime, mtime))


def test_an_extension_older_than_its_source_is_stale(tmp_path: Path) -> None:
    _touch(tmp_path / "fastlane.py", 2000.0)
    _touch(tmp_path / f"fastlane{SUFFIX}", 1000.0)
    _touch(tmp_path / "grammar.py", 1000.0)
    _touch(tmp_path / f"grammar{SUFFIX}", 2000.0)
    _touch(tmp_path / f"orphan{EXTENSION_SUFFIXES[-1]}", 1000.0)  # no source: not ours to judge
    assert stale_extensions(tmp_path) == [f"fastlane{SUFFIX}"]


def test_sources_without_extensions_are_not_stale(tmp_path: Path) -> None:
    _touch(tmp_path / "fastlane.py", 2000.0)
    assert stale_extensions(tmp_path) == []


def test_the_installed_core_is_not_stale() -> None:
    assert stale_extensions(Path(pbx.sip.__file__).parent) == []


def _core_modules() -> list[str]:
    return sorted(m.name for m in pkgutil.iter_modules(pbx.sip.__path__, "pbx.sip."))


@pytest.mark.skipif(
    os.environ.get("PBX_REQUIRE_COMPILED_CORE") != "1",
    reason="make test sets PBX_REQUIRE_COMPILED_CORE=1; run from source otherwise",
)
def test_make_test_runs_the_compiled_core() -> None:
    modules = _core_modules()
    assert "pbx.sip.fastlane" in modules and "pbx.sip.registrar" in modules
    from_source = [
        name
        for name in modules
        if not str(importlib.import_module(name).__file__).endswith(tuple(EXTENSION_SUFFIXES))
    ]
    assert from_source == [], f"not compiled (run `make core`): {from_source}"
