"""What the tests of the C twins share (``test_headsplit.py``, ``test_digestparams.py``,
``test_totag.py``, ``test_shapes.py``, ``tests/phones/test_hexrun.py``): the C module
when ``make core`` compiled it, a mark that skips a comparison without it, except
under ``make test``, which demands it (PBX_REQUIRE_COMPILED_CORE=1: CI never skips
them), and a mark for the checks that only ``make test`` runs."""

from __future__ import annotations

import importlib
import os
from typing import Any

import pytest

REQUIRED = os.environ.get("PBX_REQUIRE_COMPILED_CORE") == "1"

under_make_test = pytest.mark.skipif(
    not REQUIRED, reason="make test sets PBX_REQUIRE_COMPILED_CORE=1"
)


def c_module(name: str, package: str = "pbx.sip") -> Any:
    """``<package>.<name>``, or None when it is not compiled (``make clean-core``)."""
    try:
        return importlib.import_module(f"{package}.{name}")
    except ImportError:
        return None


def needs(module: object, name: str) -> pytest.MarkDecorator:
    """Skip when ``module`` (from ``c_module``) is missing, unless make test runs."""
    return pytest.mark.skipif(
        module is None and not REQUIRED, reason=f"{name}.c not compiled (run `make core`)"
    )
